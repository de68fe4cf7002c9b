/**
 * What the edge benches share: an in-process stand-in for edgeHub (it acknowledges, or stalls, each
 * upstream message and counts readings and 4 KB units) and module start-up on free ports, silent.
 */
import { pino } from 'pino';
import { startEdgeModule } from '../edge-module/app.js';
import type { EdgeModule, EdgeModuleClient } from '../edge-module/app.js';
import { parseEdgeConfig } from '../edge-module/config.js';

export interface Upstream {
  messages: number;
  readings: number;
  units: number;
  bytes: number;
}

/** An in-process stand-in for edgeHub: acknowledges (or stalls) each output message and counts it. */
export function fakeModuleClient(stats: Upstream, stallMs = 0): EdgeModuleClient {
  return {
    async sendOutputEvent(output: string, message: { data: unknown; properties: { propertyList: { key: string; value: string }[] }; contentType?: string; contentEncoding?: string }) {
      if (output !== 'upstream') return {};
      if (stallMs > 0) await new Promise((r) => setTimeout(r, stallMs));
      const body = message.data as Buffer;
      let props = Buffer.byteLength(output) + Buffer.byteLength(message.contentType ?? '') + Buffer.byteLength(message.contentEncoding ?? '');
      for (const p of message.properties.propertyList) props += Buffer.byteLength(p.key) + Buffer.byteLength(p.value);
      const size = body.length + props;
      stats.messages += 1;
      stats.bytes += size;
      stats.units += Math.max(1, Math.ceil(size / 4096));
      stats.readings += (JSON.parse(body.toString('utf8')) as { messages: unknown[] }).messages.length;
      return {};
    },
    on() {
      return this;
    },
    async complete() {
      return {};
    },
    async getTwin() {
      return { on: () => undefined, properties: { reported: { update: (_p: unknown, done: (e?: Error) => void) => done() } } };
    },
  } as unknown as EdgeModuleClient;
}

export async function startModule(env: Record<string, string>, client: EdgeModuleClient): Promise<EdgeModule> {
  const parsed = parseEdgeConfig({ MQTT_PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'silent', SHUTDOWN_DEADLINE_SECONDS: '1', ...env });
  if (!parsed.ok) throw new Error(parsed.issues.map((i) => i.message).join('; '));
  return startEdgeModule({ config: parsed.config, log: pino({ level: 'silent' }), moduleClient: client, useTwin: false });
}

/** The heap limit the module runs with (README, Dockerfile): 2 × MemorySize + 32 MB, at least 64 MB. */
export function heapLimitMb(memoryKb: number): number {
  return Math.max(64, Math.ceil((2 * memoryKb) / 1024) + 32);
}
