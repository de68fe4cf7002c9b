/**
 * The listener's events, each with its log line and its metric together (like edge-module/events.ts).
 * Labels are bounded: `rule` is a ListenerRule, `reason` an UndeliveredReason, `code` an errno code.
 * Refusals are logged at warn, at most once a minute per client and rule, so a misbehaving device cannot
 * flood the log; the metric counts every one.
 */
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from '../../log.js';

/** Which rule refused a connection, a packet or an input (README "MQTT listener"). */
export type ListenerRule =
  | 'tls' // TLS handshake failed (no client certificate, one from another CA, timeout)
  | 'auth' // bad certificate binding, bad or missing password
  | 'client_id' // client id too long, or not the authenticated identity
  | 'will' // a will on a topic clients may not publish to
  | 'connections' // MQTT_MAX_CONNECTIONS reached
  | 'connect_timeout' // no CONNECT within MQTT_CONNECT_TIMEOUT_SECONDS
  | 'keepalive_timeout' // silent for 1.5 × the (clamped) keepalive
  | 'packet_size' // over MQTT_MAX_PACKET_BYTES
  | 'qos2_backlog' // over MQTT_MAX_INFLIGHT_QOS2
  | 'sys_topic' // publish to $SYS/… (moscajs/aedes#597)
  | 'status_topic' // publish on the status topic
  | 'retain' // retained publish
  | 'topic' // a custom topic no MQTT_DEFAULT_CHANNEL_TOPICS filter matches
  | 'subscribe' // any subscription but the status topic
  | 'pending_writes' // MQTT_MAX_PENDING_WRITES inputs already waiting for the disk
  | 'client_channels' // MQTT_CLIENT_MAX_CHANNELS
  | 'client_memory' // MQTT_CLIENT_MEMORY_PERCENT of MemorySize
  | 'client_disk'; // MQTT_CLIENT_DISK_PERCENT of PERSISTENCE_MAX_BYTES

/** Why a status could not be handed to its client. */
export type UndeliveredReason =
  | 'not_connected' // the client is gone and its session was clean
  | 'not_subscribed' // connected, but not subscribed to the status topic
  | 'queue_full' // MQTT_MAX_QUEUED_STATUSES waiting already: the oldest is dropped
  | 'session_expired' // a persistent session offline longer than MQTT_OFFLINE_SESSION_SECONDS
  | 'session_ended'; // the client disconnected (clean session) or reconnected with a clean session

const LOG_EVERY_MS = 60_000;
const MAX_LOG_KEYS = 10_000;

export class ListenerEvents {
  private readonly refusals: Counter<'rule'>;
  private readonly undelivered: Counter<'reason'>;
  private readonly serverErrors: Counter<'code'>;
  private readonly lastLogged = new Map<string, { at: number; suppressed: number }>();

  constructor(
    readonly log: Logger,
    registry: Registry,
    connections: () => number,
    private readonly now: () => number = Date.now,
  ) {
    this.refusals = new Counter({ name: 'iot_ingest_edge_mqtt_refused_total', help: 'MQTT connections, packets and inputs refused by a listener rule', labelNames: ['rule'] as const, registers: [registry] });
    this.undelivered = new Counter({ name: 'iot_ingest_edge_mqtt_statuses_undelivered_total', help: 'Statuses that could not be handed to their MQTT client, by reason', labelNames: ['reason'] as const, registers: [registry] });
    this.serverErrors = new Counter({ name: 'iot_ingest_edge_mqtt_server_errors_total', help: 'Errors of the MQTT server socket (e.g. EMFILE), survived', labelNames: ['code'] as const, registers: [registry] });
    new Gauge({ name: 'iot_ingest_edge_mqtt_connections', help: 'Open MQTT connections', registers: [registry], collect() { this.set(connections()); } });
  }

  /** A rule refused something; `clientId` may be undefined before CONNECT. */
  refused(rule: ListenerRule, clientId: string | undefined, detail: Readonly<Record<string, unknown>>, reason: string): void {
    this.refusals.inc({ rule });
    const key = `${rule}\u0000${clientId ?? ''}`;
    const now = this.now();
    const last = this.lastLogged.get(key);
    if (last && now - last.at < LOG_EVERY_MS) {
      last.suppressed += 1;
      return;
    }
    if (this.lastLogged.size >= MAX_LOG_KEYS) this.lastLogged.clear();
    this.lastLogged.set(key, { at: now, suppressed: 0 });
    this.log.warn({ rule, clientId, ...detail, ...(last?.suppressed ? { suppressedSinceLast: last.suppressed } : {}), reason }, 'mqtt refused');
  }

  undeliveredStatus(reason: UndeliveredReason, count = 1): void {
    if (count > 0) this.undelivered.inc({ reason }, count);
  }

  /** An error on the listening socket (EMFILE when out of file descriptors...): logged, counted, survived. */
  serverError(err: NodeJS.ErrnoException): void {
    const code = err.code ?? 'unknown';
    this.serverErrors.inc({ code });
    const key = `server\u0000${code}`;
    const now = this.now();
    const last = this.lastLogged.get(key);
    if (last && now - last.at < 1000) {
      last.suppressed += 1;
      return;
    }
    this.lastLogged.set(key, { at: now, suppressed: 0 });
    this.log.error({ code, error: err.message, ...(last?.suppressed ? { suppressedSinceLast: last.suppressed } : {}) }, 'mqtt server error (the listener keeps serving)');
  }
}
