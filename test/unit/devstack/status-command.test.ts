import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchStatus, formatStatus, locateStatus } from '../../../cli/commands/status.js';
import { startStatusServer } from '../../../devstack/orchestrator/status-server.js';
import type { StatusServer } from '../../../devstack/orchestrator/status-server.js';
import { summarize } from '../../../devstack/orchestrator/status.js';

describe('iot-ingest status', () => {
  let dir: string;
  let server: StatusServer;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-status-'));
    const components = { simulator: { sentDirect: 3, sentGreengrass: 2 }, cosmos: { documents: 4 } };
    server = await startStatusServer({
      sample: async () => ({
        at: '2026-11-23T00:00:00.000Z',
        uptimeMs: 5000,
        summary: summarize(components),
        components,
      }),
    });
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the counters from the status endpoint named in a ready connections.json', async () => {
    await writeFile(
      path.join(dir, 'connections.json'),
      JSON.stringify({
        devstack: { statusUrl: server.statusUrl },
        edgeModule: { metricsUrl: 'http://127.0.0.1:1/metrics' },
        ready: true,
      }),
    );
    const located = locateStatus({}, { IOT_INGEST_DEVSTACK_DIR: dir });
    expect(located).toEqual({ statusUrl: server.statusUrl, metricsUrl: 'http://127.0.0.1:1/metrics' });
    const status = await fetchStatus(located.statusUrl);
    expect(status.summary.readingsSent).toBe(5);
    const text = formatStatus(status, located);
    expect(text).toContain('readings sent          5');
    expect(text).toContain('Cosmos documents       4');
    expect(text).toContain('edge metrics http://127.0.0.1:1/metrics');
  });

  it('says in one line that the stack is not running when connections.json is missing or not ready', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-status-none-'));
    expect(() => locateStatus({}, { IOT_INGEST_DEVSTACK_DIR: empty })).toThrow(
      /^the devstack is not running \(no .*connections.json\); start it with npm start$/,
    );
    await writeFile(
      path.join(empty, 'connections.json'),
      JSON.stringify({ devstack: { statusUrl: server.statusUrl } }),
    );
    expect(() => locateStatus({}, { IOT_INGEST_DEVSTACK_DIR: empty })).toThrow(/is not marked ready/);
    await rm(empty, { recursive: true, force: true });
  });

  it('says the stack is not running when the endpoint refuses the connection', async () => {
    const stopped = await startStatusServer({ sample: () => Promise.reject(new Error('x')) });
    await stopped.close();
    await expect(fetchStatus(stopped.statusUrl)).rejects.toThrow(
      /^the devstack is not running \(status endpoint .* did not answer: ECONNREFUSED\)$/,
    );
  });

  it('takes the endpoint from the flag before the environment', () => {
    expect(locateStatus({ statusUrl: 'http://a/status' }, { IOT_INGEST_STATUS_URL: 'http://b/status' }).statusUrl).toBe(
      'http://a/status',
    );
    expect(locateStatus({}, { IOT_INGEST_STATUS_URL: 'http://b/status' }).statusUrl).toBe('http://b/status');
  });
});
