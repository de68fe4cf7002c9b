/**
 * The live page in a real browser: the stack started as `npm start` starts it (startStack, random ports),
 * headless Chromium from Debian's `chromium` package driven by playwright-core. The page must load with
 * nothing from outside the stack, its numbers must move, and an injected anomaly must show as an open alert —
 * the same alert `iot-ingest alerts` lists from Cosmos. Chromium missing is a failure, never a skip
 * (`.ci/run` installs it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { startStack } from '../../devstack/orchestrator/stack.js';
import type { Stack } from '../../devstack/orchestrator/stack.js';
import { tempDir } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
// As /work/.library/env/machines/node.md says: without the background-networking flags Chromium keeps
// trying hosts this loopback-only machine cannot reach.
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('the live page in headless Chromium', () => {
  let dir = '';
  let profile = '';
  let stack: Stack;
  let context: BrowserContext;
  let page: Page;
  let origin = '';
  const requested: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium; .ci/run does it)`,
      );
    }
    dir = await tempDir('live');
    const rules = path.join(dir, 'hot-rules.json');
    await writeFile(rules, JSON.stringify({ rules: [{ id: 'too-hot', field: 'temperatureC', op: '>', value: 30 }] }));
    stack = await startStack({
      dir,
      components: ['storage', 'cosmos', 'hub', 'iotanalytics', 'webhook', 'functions', 'simulator'],
      devices: 2,
      ratePerSecond: 200,
      hotRulesFile: rules,
      simulator: { anomalyRate: 0.01 },
    });
    expect(stack.unavailable).toEqual([]);
    origin = new URL(stack.connections.devstack?.statusUrl as string).origin;
    profile = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
    });
    page = await context.newPage();
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(`${origin}/`);
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await stack?.stop();
    for (const d of [dir, profile]) if (d) await rm(d, { recursive: true, force: true });
  }, 30_000);

  it('loads the flow of every hop, with nothing fetched from outside the stack', async () => {
    await page.waitForSelector('#flow li[data-hop="hot"]', { timeout: 15_000 });
    const hops = await page.$$eval('#flow li', (items) => items.map((i) => i.getAttribute('data-hop')));
    expect(hops).toEqual(['devices', 'edge', 'hub', 'warm', 'cold', 'analytics', 'hot']);
    expect(await page.title()).toBe('iot-ingest · live');
    expect(requested.length).toBeGreaterThanOrEqual(4);
    expect(requested.filter((url) => !url.startsWith(origin))).toEqual([]);
  });

  it("its numbers move: readings sent, hub messages, and the devices' charts", async () => {
    const read = async () => ({
      sent: Number(await page.getAttribute('[data-hop="devices"] .total', 'data-value')),
      hub: Number(await page.getAttribute('[data-hop="hub"] .total', 'data-value')),
      // The newest reading charted per device (epoch ms of its ts), summed over the devices.
      newest: await page.$$eval('#devices .device', (boxes) =>
        boxes.reduce((n, b) => n + Number(b.getAttribute('data-last') ?? 0), 0),
      ),
      charts: await page.locator('#devices .device canvas').count(),
    });
    await page.waitForFunction("document.querySelectorAll('#devices .device canvas').length >= 2", undefined, {
      timeout: 30_000,
    });
    const before = await read();
    await page.waitForTimeout(3000);
    const after = await read();
    expect(after.sent).toBeGreaterThan(before.sent);
    expect(after.hub).toBeGreaterThan(before.hub);
    expect(after.newest).toBeGreaterThan(before.newest);
    expect(after.charts).toBeGreaterThanOrEqual(2);
  });

  it('an injected anomaly shows as an open alert, the same one iot-ingest alerts lists', async () => {
    const row = await page.waitForSelector('#open-alerts tbody tr[data-rule="too-hot"]', { timeout: 75_000 });
    const deviceId = await row.getAttribute('data-device');
    expect(deviceId).toMatch(/^sim-direct-00[12]$/);
    const listed = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [path.resolve('cli/bin/iot-ingest.js'), 'alerts', '--format', 'jsonl'],
        { env: { PATH: process.env.PATH ?? '', IOT_INGEST_DEVSTACK_DIR: dir } },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)),
      ),
    );
    const alerts = listed
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { rule: string; deviceId: string });
    expect(alerts.some((a) => a.rule === 'too-hot' && a.deviceId === deviceId)).toBe(true);
    // And the webhook receiver got it, in the Logic Apps body.
    const receiver = (
      stack.components.get('webhook') as unknown as {
        receiver: { received(): Array<{ body: { rule: string; deviceId: string; state: string } }> };
      }
    ).receiver;
    expect(
      receiver
        .received()
        .some((r) => r.body.rule === 'too-hot' && r.body.deviceId === deviceId && r.body.state === 'raised'),
    ).toBe(true);
  });

  it('/status still answers the JSON iot-ingest status reads', async () => {
    const status = (await (await fetch(`${origin}/status`)).json()) as {
      summary: { readingsSent: number; eventsByConsumerGroup: Record<string, number> };
    };
    expect(status.summary.readingsSent).toBeGreaterThan(0);
    expect(Object.keys(status.summary.eventsByConsumerGroup)).toEqual(['warm', 'cold', 'analytics', 'hot']);
  });
});
