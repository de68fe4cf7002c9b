/**
 * Statuses go to the client whose input they answer, not to every subscriber of the status topic: a
 * broadcast would show every device everyone's statuses and costs deliveries growing with the square of
 * the fleet. The router keeps one session per client id (the identity, auth.ts) and writes each status
 * straight to that client's connection, plus to the configured observers (MQTT_STATUS_OBSERVERS).
 *
 * Bounds, per session:
 * - in flight: at most MQTT_MAX_INFLIGHT_STATUSES QoS 1 statuses of a persistent session (clean=false)
 *   not yet acknowledged (aedes keeps those for redelivery), and at most MQTT_MAX_OUTGOING_BYTES written
 *   to the connection and not yet taken by the network (a client that stops reading);
 * - waiting: at most MQTT_MAX_QUEUED_STATUSES behind those, or while a persistent session is offline;
 *   beyond it the oldest is dropped and counted;
 * - an offline persistent session lives MQTT_OFFLINE_SESSION_SECONDS, and at most as many are kept as
 *   MQTT_MAX_CONNECTIONS; then its subscription, its waiting and its unacknowledged statuses are dropped.
 * A status that cannot be handed over (client gone with a clean session, not subscribed) is counted.
 */
import type { Aedes, Client } from 'aedes';
import type { MqttLimits } from '../../config.js';
import { STATUS_TOPIC } from '../parse.js';
import type { ListenerEvents } from './events.js';

interface Waiting {
  readonly payload: Buffer;
  readonly qos: 0 | 1;
}

class Session {
  client: Client | undefined = undefined;
  clean = true;
  /** QoS granted on the status topic; undefined = not subscribed. */
  statusQos: 0 | 1 | undefined = undefined;
  unacked = 0;
  awaitingDrain = false;
  waiting: Waiting[] = [];
  head = 0;
  offlineSince = 0;

  constructor(readonly clientId: string) {}

  get waitingCount(): number {
    return this.waiting.length - this.head;
  }

  shift(): Waiting | undefined {
    if (this.head >= this.waiting.length) return undefined;
    const next = this.waiting[this.head++];
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
    return next;
  }

  dropWaiting(): number {
    const n = this.waitingCount;
    this.waiting = [];
    this.head = 0;
    return n;
  }
}

interface OutgoingStore {
  cleanSubscriptions(client: { id: string }): Promise<void>;
  outgoingStream(client: { id: string }): AsyncIterable<{ messageId?: number }>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<unknown>;
}

export class StatusRouter {
  private readonly sessions = new Map<string, Session>();
  private offline = 0;
  private readonly observers: readonly string[];
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly broker: Aedes,
    private readonly limits: MqttLimits,
    observers: readonly string[],
    private readonly events: ListenerEvents,
    private readonly now: () => number = Date.now,
  ) {
    this.observers = observers;
    broker.on('clientReady', (client) => this.attach(client));
    broker.on('clientDisconnect', (client) => this.detach(client));
    broker.on('subscribe', (subs, client) => {
      // Refused subscriptions come with qos 128 (SUBACK failure).
      const sub = subs.find((s) => s.topic === STATUS_TOPIC && (s.qos as number) !== 128);
      if (sub) this.subscribed(client, sub.qos >= 1 ? 1 : 0);
    });
    broker.on('unsubscribe', (topics, client) => {
      if (topics.includes(STATUS_TOPIC)) {
        const session = this.sessions.get(client.id);
        if (session?.client === client) session.statusQos = undefined;
      }
    });
    broker.on('ack', (packet, client) => {
      const session = this.sessions.get(client.id);
      // A PUBACK that matched a stored status (persistent sessions); clean sessions store none.
      if (packet && session?.client === client && session.unacked > 0) {
        session.unacked -= 1;
        this.flush(session);
      }
    });
    this.sweeper = setInterval(() => this.expireOffline(), Math.min(60_000, Math.max(1000, limits.offlineSessionMs / 4)));
    this.sweeper.unref();
  }

  /** A final status for the input `clientId` published (and for every observer). */
  publish(clientId: string | undefined, json: string, qos: 0 | 1): void {
    if (clientId === undefined && this.observers.length === 0) return;
    const payload = Buffer.from(json, 'utf8');
    if (clientId !== undefined) this.deliver(this.sessions.get(clientId), payload, qos);
    for (const observer of this.observers) {
      if (observer !== clientId) this.deliver(this.sessions.get(observer), payload, qos);
    }
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  /** For tests and metrics: what waits for one client. */
  stats(clientId: string): { waiting: number; unacked: number } | undefined {
    const s = this.sessions.get(clientId);
    return s && { waiting: s.waitingCount, unacked: s.unacked };
  }

  private attach(client: Client): void {
    let session = this.sessions.get(client.id);
    if (!session) {
      session = new Session(client.id);
      this.sessions.set(client.id, session);
    }
    if (client.clean) {
      // [MQTT-3.1.2-6] a clean session discards what the previous one left.
      this.events.undeliveredStatus('session_ended', session.dropWaiting());
      session.unacked = 0;
    }
    if (session.client === undefined && session.offlineSince > 0) this.offline -= 1;
    session.client = client;
    session.clean = client.clean;
    session.awaitingDrain = false;
    session.offlineSince = 0;
    // A persistent session's subscription is restored before clientReady.
    const sub = (client as unknown as { subscriptions: Record<string, { qos: number } | undefined> }).subscriptions[STATUS_TOPIC];
    session.statusQos = sub ? (sub.qos >= 1 ? 1 : 0) : undefined;
    this.flush(session);
  }

  private detach(client: Client): void {
    const session = this.sessions.get(client.id);
    if (!session || session.client !== client) return;
    session.client = undefined;
    if (session.clean) {
      this.events.undeliveredStatus('session_ended', session.dropWaiting());
      this.sessions.delete(client.id);
      return;
    }
    session.offlineSince = this.now();
    this.offline += 1;
    if (this.offline > this.limits.maxConnections) this.expireOldestOffline();
  }

  private subscribed(client: Client, qos: 0 | 1): void {
    const session = this.sessions.get(client.id);
    if (!session || session.client !== client) return;
    session.statusQos = qos;
    this.flush(session);
  }

  private deliver(session: Session | undefined, payload: Buffer, qos: 0 | 1): void {
    if (!session) return this.events.undeliveredStatus('not_connected');
    if (session.client === undefined) {
      // Offline: only a persistent, subscribed session keeps QoS 1 statuses for later ([MQTT-3.1.2-5]).
      if (session.clean || session.statusQos !== 1 || qos !== 1) return this.events.undeliveredStatus('not_connected');
      return this.enqueue(session, payload, qos);
    }
    if (session.statusQos === undefined) return this.events.undeliveredStatus('not_subscribed');
    if (session.waitingCount > 0 || !this.hasRoom(session, session.client)) return this.enqueue(session, payload, qos);
    this.send(session, session.client, payload, qos);
  }

  private hasRoom(session: Session, client: Client): boolean {
    if (session.unacked >= this.limits.maxInflightStatuses) return false;
    if (client.conn.writableLength < this.limits.maxOutgoingBytes) return true;
    // The client does not read: wait for the socket to drain before writing more.
    if (!session.awaitingDrain) {
      session.awaitingDrain = true;
      client.conn.once('drain', () => {
        session.awaitingDrain = false;
        if (session.client === client) this.flush(session);
      });
    }
    return false;
  }

  private enqueue(session: Session, payload: Buffer, qos: 0 | 1): void {
    if (session.waitingCount >= this.limits.maxQueuedStatuses) {
      if (this.limits.maxQueuedStatuses === 0) return this.events.undeliveredStatus('queue_full');
      session.shift();
      this.events.undeliveredStatus('queue_full');
    }
    session.waiting.push({ payload, qos });
  }

  private flush(session: Session): void {
    const client = session.client;
    if (!client || session.statusQos === undefined) return;
    while (session.waitingCount > 0 && this.hasRoom(session, client)) {
      const next = session.shift() as Waiting;
      this.send(session, client, next.payload, next.qos);
    }
  }

  private send(session: Session, client: Client, payload: Buffer, requested: 0 | 1): void {
    // [MQTT-3.8.4-6] delivered at the lower of the request's QoS and the subscription's.
    const qos = Math.min(requested, session.statusQos ?? 0) as 0 | 1;
    // Counted now, not in the write callback: a burst must see the window it fills.
    if (qos === 1 && !session.clean) session.unacked += 1;
    client.publish({ cmd: 'publish', topic: STATUS_TOPIC, payload, qos, retain: false, dup: false }, () => undefined);
  }

  private expireOffline(): void {
    const limit = this.now() - this.limits.offlineSessionMs;
    for (const session of this.sessions.values()) {
      if (session.client === undefined && session.offlineSince <= limit) this.expire(session);
    }
  }

  private expireOldestOffline(): void {
    // Map order is insertion order: the first offline session found is the oldest.
    for (const s of this.sessions.values()) {
      if (s.client === undefined) return this.expire(s);
    }
  }

  private expire(session: Session): void {
    this.sessions.delete(session.clientId);
    this.offline -= 1;
    this.events.undeliveredStatus('session_expired', session.dropWaiting() + session.unacked);
    const store = (this.broker as unknown as { persistence?: OutgoingStore }).persistence;
    if (!store) return;
    const id = { id: session.clientId };
    void (async () => {
      await store.cleanSubscriptions(id);
      for await (const packet of store.outgoingStream(id)) await store.outgoingClearMessageId(id, packet);
    })().catch((err: unknown) => this.events.log.debug({ clientId: session.clientId, error: (err as Error).message }, 'expiring an offline session failed'));
  }
}
