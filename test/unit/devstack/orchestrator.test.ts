import { describe, expect, it } from 'vitest';
import type { ComponentSpec, LifecycleEvent, RunningComponent } from '../../../devstack/orchestrator/lifecycle.js';
import { ComponentStartError, startAll, startWaves, stopAll } from '../../../devstack/orchestrator/lifecycle.js';
import { DEFAULT_PORTS, parseComponents, parseStartOptions } from '../../../devstack/orchestrator/options.js';
import { formatStatusLine, summarize } from '../../../devstack/orchestrator/status.js';

function spec(name: string, dependsOn: string[], log: string[], fail?: string): ComponentSpec {
  return {
    name,
    dependsOn,
    async start(started: ReadonlyMap<string, RunningComponent>) {
      for (const dep of dependsOn) if (!started.has(dep)) throw new Error(`${dep} not running before ${name}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (fail) throw new Error(fail);
      log.push(`start ${name}`);
      return {
        stop: async () => {
          log.push(`stop ${name}`);
        },
      };
    },
  };
}

describe('component lifecycle', () => {
  it('starts components in dependency waves, independent ones together', () => {
    const waves = startWaves([spec('functions', ['hub', 'storage'], []), spec('hub', [], []), spec('storage', [], [])]);
    expect(waves.map((w) => w.map((s) => s.name))).toEqual([['hub', 'storage'], ['functions']]);
  });

  it('ignores dependencies that are not selected', () => {
    const waves = startWaves([spec('simulator', ['hub', 'edge'], []), spec('hub', [], [])]);
    expect(waves.map((w) => w.map((s) => s.name))).toEqual([['hub'], ['simulator']]);
  });

  it('refuses a dependency cycle, naming the components', () => {
    expect(() => startWaves([spec('a', ['b'], []), spec('b', ['a'], [])])).toThrow(/cycle: a, b/);
  });

  it('stops everything newest first', async () => {
    const log: string[] = [];
    const started = await startAll([spec('hub', [], log), spec('edge', ['hub'], log), spec('sim', ['edge'], log)]);
    await stopAll(started);
    expect(log).toEqual(['start hub', 'start edge', 'start sim', 'stop sim', 'stop edge', 'stop hub']);
  });

  it('names each component that failed with its reason and stops the ones already started', async () => {
    const log: string[] = [];
    const events: LifecycleEvent[] = [];
    const error = await startAll(
      [
        spec('hub', [], log),
        spec('cosmos', [], log, 'port 18081 in use\nstack'),
        spec('functions', ['hub', 'cosmos'], log),
      ],
      (e) => events.push(e),
    ).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ComponentStartError);
    expect((error as ComponentStartError).failures).toEqual([{ component: 'cosmos', reason: 'port 18081 in use' }]);
    expect((error as Error).message).toBe('cosmos failed to start: port 18081 in use');
    expect(log).toEqual(['start hub', 'stop hub']);
    expect(events.some((e) => e.kind === 'started' && e.component === 'functions')).toBe(false);
  });

  it('reports a component that does not stop within the budget and still stops the others', async () => {
    const log: string[] = [];
    const started = new Map<string, RunningComponent>([
      ['hub', { stop: async () => void log.push('stop hub') }],
      ['stuck', { stop: () => new Promise<void>(() => undefined) }],
    ]);
    const events: LifecycleEvent[] = [];
    const t0 = Date.now();
    await stopAll(started, (e) => events.push(e), 300);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(events).toContainEqual({
      kind: 'stop-failed',
      component: 'stuck',
      reason: expect.stringMatching(/^did not stop within \d+ ms$/),
    });
    expect(log).toEqual(['stop hub']);
  });
});

describe('npm start options', () => {
  it('defaults to every component on fixed ports under .devstack', () => {
    const options = parseStartOptions([], {}, '/repo');
    expect(options).toMatchObject({ dir: '/repo/.devstack', reset: false, devices: 4, ratePerSecond: 20 });
    expect(options !== 'help' && options.components).toEqual([
      'storage',
      'cosmos',
      'hub',
      'iotanalytics',
      'webhook',
      'functions',
      'edge',
      'simulator',
    ]);
    expect(options !== 'help' && options.ports).toEqual(DEFAULT_PORTS);
  });

  it('loads hot-rules.json from the working directory when present, or the --hot-rules file, and takes --anomaly', () => {
    const withFile = parseStartOptions([], {}, process.cwd());
    expect(withFile !== 'help' && withFile.hotRulesFile).toBe(`${process.cwd()}/hot-rules.json`);
    expect(withFile !== 'help' && withFile.anomalyRate).toBe(0.002);
    const none = parseStartOptions(['--anomaly', '0'], {}, '/nowhere');
    expect(none !== 'help' && [none.hotRulesFile, none.anomalyRate]).toEqual([undefined, 0]);
    const given = parseStartOptions(['--hot-rules', 'hot-rules.json'], { IOT_INGEST_ANOMALY: '0.5' }, process.cwd());
    expect(given !== 'help' && [given.hotRulesFile, given.anomalyRate]).toEqual([`${process.cwd()}/hot-rules.json`, 0.5]);
    expect(() => parseStartOptions(['--hot-rules', 'missing.json'], {}, '/')).toThrow("--hot-rules: 'missing.json' does not exist");
    expect(() => parseStartOptions(['--anomaly', '2'], {}, '/')).toThrow("--anomaly: '2' must be a probability");
  });

  it('takes flags over environment', () => {
    const options = parseStartOptions(
      ['--devices', '0', '--rate', '2.5', '--reset', '--hub-mqtt-port', '0', '--dir', 'x'],
      { IOT_INGEST_DEVICES: '9', IOT_INGEST_RATE: '7', IOT_INGEST_COSMOS_PORT: '1234' },
      '/repo',
    );
    expect(options).toMatchObject({ dir: '/repo/x', reset: true, devices: 0, ratePerSecond: 2.5 });
    expect(options !== 'help' && options.ports.hubMqtt).toBe(0);
    expect(options !== 'help' && options.ports.cosmos).toBe(1234);
  });

  it('refuses bad values naming the flag and the value', () => {
    expect(() => parseStartOptions(['--devices', '-1'], {}, '/')).toThrow(/--devices/);
    expect(() => parseStartOptions(['--rate', 'fast'], {}, '/')).toThrow("--rate: 'fast'");
    expect(() => parseStartOptions(['--storage-port', '70000'], {}, '/')).toThrow("--storage-port: '70000'");
    expect(() => parseStartOptions(['--bogus'], {}, '/')).toThrow(/bogus/);
  });

  it('selects components in start order and requires their dependencies', () => {
    expect(parseComponents('hub, storage')).toEqual(['storage', 'hub']);
    expect(parseComponents('hub,simulator')).toEqual(['hub', 'simulator']);
    expect(() => parseComponents('functions,hub')).toThrow("'functions' needs storage, cosmos, iotanalytics");
    expect(() => parseComponents('hub,blob')).toThrow("unknown component 'blob'");
  });
});

describe('status line', () => {
  it('sums the counters the line shows and counts probe failures as errors', () => {
    const summary = summarize({
      simulator: { sentDirect: 10, sentGreengrass: 5, sendErrors: 1, statusFail: 2 },
      edge: { accepted: 5, upstreamMessages: 2, dropped: 3, errors: 0 },
      functions: { warmEvents: 7, coldEvents: 7, analyticsEvents: 6, errors: 1 },
      cosmos: { documents: 14 },
      storage: { blobs: 3 },
      iotAnalytics: { probeErrors: 1 },
    });
    expect(summary).toEqual({
      readingsSent: 15,
      edgeAccepted: 5,
      upstreamMessages: 2,
      eventsByConsumerGroup: { warm: 7, cold: 7, analytics: 6, hot: 0 },
      alerts: { raised: 0, resolved: 0, open: 0, notified: 0 },
      cosmosDocuments: 14,
      blobs: 3,
      iotAnalyticsMessages: 0,
      drops: 5,
      errors: 3,
    });
    expect(formatStatusLine(summary, 12_300)).toBe(
      '[12s] sent 15 drops 5 errors 3 | edge 5 accepted, 2 upstream | events warm/cold/analytics 7/7/6 | cosmos 14 docs | blobs 3 | iotanalytics 0 msgs | hot 0 events, alerts 0 open (0 raised, 0 resolved)',
    );
  });

  it('the hot path shows its events and alerts, open = raised − resolved, and a refused webhook counts as an error', () => {
    const summary = summarize({ functions: { hotEvents: 40, alertsRaised: 5, alertsResolved: 3, webhookDelivered: 8, webhookFailed: 1 } });
    expect(summary.alerts).toEqual({ raised: 5, resolved: 3, open: 2, notified: 8 });
    expect(summary.errors).toBe(1);
    expect(formatStatusLine(summary)).toMatch(/\| hot 40 events, alerts 2 open \(5 raised, 3 resolved\)$/);
  });
});
