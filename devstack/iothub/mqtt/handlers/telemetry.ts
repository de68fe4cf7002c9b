/**
 * A telemetry PUBLISH on the client's own `…/messages/events/{bag}` (PROTOCOLS.md §1.6): shaped into a
 * log event (../telemetry.ts), appended, and acknowledged only once the append is durable. Never
 * forwarded to MQTT subscribers. Oversize or a bad property bag closes the connection without PUBACK.
 */
import type { Client, PublishPacket } from 'aedes';
import type { HubEventInput } from '../../log-types.js';
import type { BrokerContext, Session } from '../context.js';
import { refusePublish } from '../context.js';
import { telemetryEvent } from '../telemetry.js';
import type { InboundTopic } from '../topics.js';
import { isOwnTelemetry } from '../topics.js';

/** Pending appends per connection before its socket stops being read (back-pressure). */
const MAX_INFLIGHT_APPENDS = 1000;

type Done = (error?: Error | null) => void;

/**
 * One group commit resolves hundreds of appends in one tick: cork the socket for that tick so their
 * PUBACKs leave as one TLS record and one syscall instead of one each.
 */
function writeCoalesced(conn: Client['conn'], bytes: Buffer): void {
  const socket = conn as Client['conn'] & { writableCorked?: number };
  if (!socket.writableCorked) {
    socket.cork();
    process.nextTick(() => socket.uncork());
  }
  socket.write(bytes);
}

/** MQTT 3.1.1 PUBACK (§3.4): fixed header 0x40, remaining length 2, packet identifier. */
function pubackBytes(messageId: number): Buffer {
  return Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]);
}

export function handleTelemetry(
  context: BrokerContext,
  client: Client,
  session: Session,
  packet: PublishPacket,
  topic: Extract<InboundTopic, { kind: 'telemetry' }>,
  done: Done,
): void {
  if (!isOwnTelemetry(topic, session.identity))
    return done(refusePublish(context, client, 'foreign-topic', packet.topic));
  const verdict = telemetryEvent({
    deviceId: topic.deviceId,
    ...(topic.moduleId === undefined ? {} : { moduleId: topic.moduleId }),
    bag: topic.bag,
    body: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
    retain: packet.retain,
    annotations: session.annotations,
  });
  if (!verdict.ok) return done(refusePublish(context, client, verdict.reason, packet.topic, verdict.detail));
  // The hub keeps RETAIN as a property (done above) and never retains: keep aedes from storing it.
  packet.retain = false;
  appendTelemetry(context, client, session, packet, verdict.event, done);
}

/**
 * Appends a telemetry event and acknowledges it only once the append resolved (durable).
 *
 * aedes would send the PUBACK itself after `done`, but it also stops reading the client's socket until
 * `done`, so one client could only have one socket read's worth of messages per fsync batch in flight.
 * Instead the publish is downgraded to QoS 0 inside the broker (it is never forwarded anyway) and
 * released at once, and the PUBACK is written here when the append resolves. Appends are issued in
 * arrival order and a device's events share one partition, so the log resolves them, and PUBACKs go
 * out, in PUBLISH order [MQTT-4.6.0-2]. A client with more than MAX_INFLIGHT_APPENDS pending appends
 * is held back (its socket is not read) until this one resolves.
 */
function appendTelemetry(
  context: BrokerContext,
  client: Client,
  session: Session,
  packet: PublishPacket,
  event: HubEventInput,
  done: Done,
): void {
  const messageId = packet.messageId;
  const needsAck = packet.qos === 1 && messageId !== undefined;
  const holdReading = session.inflight >= MAX_INFLIGHT_APPENDS;
  session.inflight++;
  if (needsAck) packet.qos = 0;
  context.log.append(event, session.partition).then(
    () => {
      session.inflight--;
      context.counters.messagesAccepted++;
      if (needsAck && !client.closed && !client.conn.destroyed) writeCoalesced(client.conn, pubackBytes(messageId));
      if (holdReading) done(null);
    },
    (err: Error) => {
      session.inflight--;
      const error = refusePublish(context, client, 'log-append-failed', packet.topic, err.message);
      if (holdReading) done(error);
      else client.close();
    },
  );
  if (!holdReading) done(null);
}
