/**
 * The live page's pipeline picture from two status samples (orchestrator/status.ts): per hop — devices →
 * edge → hub → warm / cold / analytics / hot — its total, its rate since the previous sample, its drops
 * and errors. Pure.
 */
import type { PipelineStatus } from '../orchestrator/status.js';

export type HopId = 'devices' | 'edge' | 'hub' | 'warm' | 'cold' | 'analytics' | 'hot';

export interface Hop {
  readonly id: HopId;
  readonly label: string;
  /** What the hop counts (readings sent, events delivered, …) since the stack started. */
  readonly total: number;
  readonly unit: string;
  readonly perSecond: number;
  readonly drops: number;
  readonly errors: number;
  /** One more figure worth seeing (documents stored, alerts raised). */
  readonly detail: string;
  /** False when the component is not running in this stack. */
  readonly running: boolean;
}

export interface Flow {
  readonly at: string;
  readonly uptimeMs: number;
  readonly hops: readonly Hop[];
  /** Failed function invocations (every path) and dead letters: the host counts them together. */
  readonly functionErrors: number;
  readonly deadLetters: number;
}

type Counters = Readonly<Record<string, number>>;

const n = (counters: Counters | undefined, key: string): number => {
  const value = counters?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
};

interface HopSpec {
  readonly id: HopId;
  readonly label: string;
  readonly component: string;
  readonly unit: string;
  total(c: Readonly<Record<string, Counters>>): number;
  drops(c: Readonly<Record<string, Counters>>): number;
  errors(c: Readonly<Record<string, Counters>>): number;
  detail(c: Readonly<Record<string, Counters>>): string;
}

const HOPS: readonly HopSpec[] = [
  {
    id: 'devices',
    label: 'devices',
    component: 'simulator',
    unit: 'readings',
    total: (c) => n(c.simulator, 'sentDirect') + n(c.simulator, 'sentGreengrass'),
    drops: (c) => n(c.simulator, 'statusFail'),
    errors: (c) => n(c.simulator, 'sendErrors'),
    detail: (c) =>
      `${n(c.simulator, 'devicesDirect') + n(c.simulator, 'devicesGreengrass')} devices, ${n(c.simulator, 'anomalies')} anomalies injected`,
  },
  {
    id: 'edge',
    label: 'edge module',
    component: 'edge',
    unit: 'readings',
    total: (c) => n(c.edge, 'accepted'),
    drops: (c) => n(c.edge, 'dropped'),
    errors: (c) => n(c.edge, 'errors'),
    detail: (c) => `${n(c.edge, 'upstreamMessages')} upstream messages, ${n(c.edge, 'queued')} queued`,
  },
  {
    id: 'hub',
    label: 'IoT Hub',
    component: 'iotHub',
    unit: 'messages',
    total: (c) => n(c.iotHub, 'messagesAccepted'),
    drops: (c) => n(c.iotHub, 'messagesRefused') + n(c.iotHub, 'oversizeMessages'),
    errors: (c) => n(c.iotHub, 'connectsRefused'),
    detail: (c) => `${n(c.iotHub, 'connections')} connections`,
  },
  {
    id: 'warm',
    label: 'warm (Cosmos DB)',
    component: 'functions',
    unit: 'events',
    total: (c) => n(c.functions, 'warmEvents'),
    drops: () => 0,
    errors: () => 0,
    detail: (c) => `${n(c.cosmos, 'documents')} documents`,
  },
  {
    id: 'cold',
    label: 'cold (Blob)',
    component: 'functions',
    unit: 'events',
    total: (c) => n(c.functions, 'coldEvents'),
    drops: () => 0,
    errors: () => 0,
    detail: (c) => `${n(c.storage, 'blobs')} blobs`,
  },
  {
    id: 'analytics',
    label: 'analytics (IoT Analytics)',
    component: 'functions',
    unit: 'events',
    total: (c) => n(c.functions, 'analyticsEvents'),
    drops: () => 0,
    errors: (c) => n(c.iotAnalytics, 'entryErrors'),
    detail: (c) => `${n(c.iotAnalytics, 'messages')} messages stored`,
  },
  {
    id: 'hot',
    label: 'hot (rules → alerts)',
    component: 'functions',
    unit: 'events',
    total: (c) => n(c.functions, 'hotEvents'),
    drops: (c) => n(c.functions, 'lateReadings'),
    errors: (c) => n(c.functions, 'webhookFailed'),
    detail: (c) =>
      `${n(c.functions, 'alertsRaised')} raised, ${n(c.functions, 'alertsResolved')} resolved, ${n(c.functions, 'webhookDelivered')} notified`,
  },
];

export function flowOf(current: PipelineStatus, previous: PipelineStatus | undefined): Flow {
  const c = current.components;
  const p = previous?.components;
  const seconds = previous ? (Date.parse(current.at) - Date.parse(previous.at)) / 1000 : 0;
  const hops = HOPS.map((spec): Hop => {
    const total = spec.total(c);
    const before = p ? spec.total(p) : total;
    return {
      id: spec.id,
      label: spec.label,
      total,
      unit: spec.unit,
      perSecond: seconds > 0 ? Math.max(0, (total - before) / seconds) : 0,
      drops: spec.drops(c),
      errors: spec.errors(c),
      detail: spec.detail(c),
      running: c[spec.component] !== undefined,
    };
  });
  return {
    at: current.at,
    uptimeMs: current.uptimeMs,
    hops,
    functionErrors: n(c.functions, 'errors'),
    deadLetters: n(c.functions, 'deadLetters'),
  };
}
