/**
 * What the MQTT handlers share: the hub's stores, the authenticated sessions, and the counters behind
 * `metrics()`. One context per endpoint; the handlers (handlers/*.ts) hold no state of their own.
 */
import type { Client, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import type { PartitionedLog } from '../log-types.js';
import type { LiveRegistry } from '../registry.js';
import type { TwinStore } from '../twins.js';
import type { AuthRefusal } from './auth.js';
import type { TelemetryRefusal } from './telemetry.js';
import type { HubIdentity } from './topics.js';
import type { TwinReply } from './twin-requests.js';

export type PublishRefusal =
  TelemetryRefusal | 'foreign-topic' | 'unknown-topic' | 'qos2' | 'not-authenticated' | 'log-append-failed';

export type ConnectRefusal = AuthRefusal | 'registry-unreadable';

export interface MqttMetrics {
  /** Connections currently open (authenticated). */
  readonly connections: number;
  readonly connectsAccepted: number;
  readonly connectsRefused: Readonly<Partial<Record<ConnectRefusal, number>>>;
  /** Telemetry messages appended to the log (and acknowledged). */
  readonly messagesAccepted: number;
  readonly messagesRefused: Readonly<Partial<Record<PublishRefusal, number>>>;
  readonly oversizeMessages: number;
  readonly subscriptionsRefused: number;
  /** Connections closed because their identity left the registry. */
  readonly connectionsRevoked: number;
  /** Connections closed because their SAS token expired. */
  readonly connectionsExpired: number;
}

/** An authenticated connection: made at CONNECT, read by every later handler of that client. */
export interface Session {
  /** Telemetry appends not yet resolved (acknowledged). */
  inflight: number;
  readonly expiresAtMs: number;
  expiryTimer?: NodeJS.Timeout;
  readonly identity: HubIdentity;
  readonly generationId: string;
  readonly twinKey: string;
  /** The log partition of the connection's device (telemetry may only be its own). */
  readonly partition: number;
  readonly annotations: Readonly<Record<string, unknown>>;
}

export interface Counters {
  connectsAccepted: number;
  readonly connectsRefused: Partial<Record<ConnectRefusal, number>>;
  messagesAccepted: number;
  readonly messagesRefused: Partial<Record<PublishRefusal, number>>;
  subscriptionsRefused: number;
  connectionsRevoked: number;
  connectionsExpired: number;
}

export interface BrokerContext {
  readonly registry: LiveRegistry;
  readonly twins: TwinStore;
  readonly log: PartitionedLog;
  readonly logger: Logger;
  readonly nowMs: () => number;
  readonly sessions: WeakMap<Client, Session>;
  /** The connected client of each clientId (the newest, after a takeover). */
  readonly live: Map<string, Client>;
  readonly counters: Counters;
}

export function increment<K extends string>(counts: Partial<Record<K, number>>, key: K): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

export function emptyCounters(): Counters {
  return {
    connectsAccepted: 0,
    connectsRefused: {},
    messagesAccepted: 0,
    messagesRefused: {},
    subscriptionsRefused: 0,
    connectionsRevoked: 0,
    connectionsExpired: 0,
  };
}

/** Counts and logs a refused publish; the error, given to aedes, closes the connection. */
export function refusePublish(
  context: BrokerContext,
  client: Client,
  reason: PublishRefusal,
  topic: string,
  detail?: string,
): Error {
  increment(context.counters.messagesRefused, reason);
  context.logger.warn({ clientId: client.id, topic, reason, detail }, 'publish refused; closing the connection');
  return new Error(`publish refused (${reason})${detail ? `: ${detail}` : ''}`);
}

/** Publishes a hub reply (twin answers, desired patches) to one client at QoS 0. */
export function sendToClient(context: BrokerContext, client: Client, answer: TwinReply): void {
  const packet: PublishPacket = {
    cmd: 'publish',
    topic: answer.topic,
    payload: answer.payload,
    qos: 0,
    retain: false,
    dup: false,
  };
  client.publish(packet, (err) => {
    if (err) context.logger.debug({ clientId: client.id, err: err.message }, 'twin reply not delivered');
  });
}
