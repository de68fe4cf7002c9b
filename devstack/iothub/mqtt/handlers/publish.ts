/**
 * PUBLISH from a client (aedes' `authorizePublish`), dispatched by topic kind (PROTOCOLS.md §1.6–§1.8).
 * A client may publish only to its own telemetry topics and `$iothub/twin/…` (and a stray method
 * response, ignored: direct methods are not emulated); anything else, or QoS 2, closes the connection
 * without PUBACK, as IoT Hub does.
 */
import type { Client, PublishPacket } from 'aedes';
import type { BrokerContext } from '../context.js';
import { refusePublish } from '../context.js';
import { classifyInboundTopic } from '../topics.js';
import { handleTelemetry } from './telemetry.js';
import { handleTwinGet, handleTwinReported } from './twin.js';

export function handlePublish(
  context: BrokerContext,
  client: Client | null,
  packet: PublishPacket,
  done: (error?: Error | null) => void,
): void {
  // Publishes made by the emulator itself (module inputs) have no client.
  if (!client) return done(null);
  const session = context.sessions.get(client);
  if (!session) return done(refusePublish(context, client, 'not-authenticated', packet.topic));
  if (packet.qos === 2) return done(refusePublish(context, client, 'qos2', packet.topic));
  const topic = classifyInboundTopic(packet.topic);
  switch (topic.kind) {
    case 'telemetry':
      return handleTelemetry(context, client, session, packet, topic, done);
    case 'twin-get':
      return handleTwinGet(context, client, session, topic.requestId, done);
    case 'twin-reported':
      return handleTwinReported(context, client, session, packet, topic.requestId, done);
    case 'method-response':
      return done(null);
    case 'unknown':
      return done(refusePublish(context, client, 'unknown-topic', packet.topic));
  }
}
