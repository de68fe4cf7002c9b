/**
 * The live page `npm start` serves at the root of its status URL (`/`; `/status` stays the JSON that
 * `iot-ingest status` reads): the flow per hop with rates, drops and errors, end-to-end latency, each
 * device's latest readings as small time-series charts (uPlot, served from the package: no CDN, works
 * offline) and the open alerts. Updates are server-sent events on `/events`, one per second.
 *
 * Routes: `/` (page), `/live.js`, `/live.css`, `/assets/uPlot.iife.min.js`, `/assets/uPlot.min.css`,
 * `/events` (text/event-stream: `update` events, JSON). Loopback only, like the status server; nothing
 * secret is on the page (the webhook's URL is not).
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PipelineStatus } from '../orchestrator/status.js';
import type { AlertsReader, AlertsSnapshot } from './alerts-reader.js';
import { flowOf } from './flow.js';
import type { Flow } from './flow.js';
import { LatencyWindow } from './readings-tap.js';
import type { LatencySummary, ReadingPoint, ReadingsTap } from './readings-tap.js';

export { startAlertsReader } from './alerts-reader.js';
export { startReadingsTap } from './readings-tap.js';

const UPDATE_INTERVAL_MS = 1000;
const PAGE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'page');
const require = createRequire(import.meta.url);

export interface LiveUpdate {
  readonly flow: Flow;
  readonly latency: {
    readonly deviceToHub: LatencySummary;
    readonly deviceToConsumer: LatencySummary;
    readonly alertToWebhook: LatencySummary;
  };
  readonly readings: { readonly devices: Record<string, ReadingPoint[]>; readonly fields: Record<string, string[]> };
  readonly alerts: AlertsSnapshot;
}

export interface LivePageOptions {
  readonly sample: () => Promise<PipelineStatus>;
  readonly tap?: ReadingsTap;
  readonly alerts?: AlertsReader;
  /** Notifications the webhook receiver got: each one's delay after its alert's `at`. */
  readonly onWebhookAlert?: (listener: (alert: { receivedAtMs: number; body: { at: string } }) => void) => () => void;
}

export interface LivePage {
  /** Serves the request when it is one of the page's routes; false otherwise. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  close(): void;
}

interface Asset {
  readonly file: string;
  readonly type: string;
}

const ASSETS: Readonly<Record<string, Asset>> = {
  '/': { file: path.join(PAGE_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
  '/live.js': { file: path.join(PAGE_DIR, 'live.js'), type: 'text/javascript; charset=utf-8' },
  '/live.css': { file: path.join(PAGE_DIR, 'live.css'), type: 'text/css; charset=utf-8' },
  '/assets/uPlot.iife.min.js': {
    file: require.resolve('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/assets/uPlot.min.css': { file: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

export function createLivePage(options: LivePageOptions): LivePage {
  const cache = new Map<string, Buffer>();
  const clients = new Set<{ res: http.ServerResponse; cursor: number }>();
  const alertLatency = new LatencyWindow();
  const unsubscribe = options.onWebhookAlert?.((alert) =>
    alertLatency.add(alert.receivedAtMs, alert.receivedAtMs - Date.parse(alert.body.at)),
  );
  let previous: PipelineStatus | undefined;
  let ticking = false;

  const tick = async (): Promise<void> => {
    if (ticking || clients.size === 0) return;
    ticking = true;
    try {
      const status = await options.sample();
      const flow = flowOf(status, previous);
      previous = status;
      const nowMs = Date.now();
      const latency = {
        ...(options.tap?.latency(nowMs) ?? { deviceToHub: empty(), deviceToConsumer: empty() }),
        alertToWebhook: alertLatency.summary(nowMs),
      };
      const alerts = options.alerts?.read() ?? { open: [], recent: [] };
      for (const client of clients) {
        const readings = options.tap?.since(client.cursor) ?? { devices: {}, fields: {}, cursor: 0 };
        client.cursor = readings.cursor;
        const update: LiveUpdate = {
          flow,
          latency,
          readings: { devices: readings.devices, fields: readings.fields },
          alerts,
        };
        client.res.write(`event: update\ndata: ${JSON.stringify(update)}\n\n`);
      }
    } catch {
      // A failed sample (a component stopping) skips one update; the next tick tries again.
    } finally {
      ticking = false;
    }
  };
  const timer = setInterval(() => void tick(), UPDATE_INTERVAL_MS);
  timer.unref();

  return {
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://live');
      if (req.method !== 'GET') return false;
      if (url.pathname === '/events') {
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-store',
          connection: 'keep-alive',
        });
        res.write('retry: 2000\n\n');
        const client = { res, cursor: 0 };
        clients.add(client);
        req.on('close', () => clients.delete(client));
        void tick();
        return true;
      }
      const asset = ASSETS[url.pathname];
      if (!asset) return false;
      let body = cache.get(asset.file);
      if (!body) cache.set(asset.file, (body = readFileSync(asset.file)));
      res
        .writeHead(200, {
          'content-type': asset.type,
          'cache-control': 'no-cache',
          'x-content-type-options': 'nosniff',
        })
        .end(body);
      return true;
    },
    close() {
      clearInterval(timer);
      unsubscribe?.();
      for (const client of clients) client.res.end();
      clients.clear();
    },
  };
}

function empty(): LatencySummary {
  return { samples: 0, p50Ms: null, p99Ms: null };
}
