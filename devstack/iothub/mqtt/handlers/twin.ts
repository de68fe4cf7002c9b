/**
 * Twin requests a client publishes on `$iothub/twin/…` (PROTOCOLS.md §1.8): GET and reported PATCH.
 * Released to aedes at once (QoS 0, never forwarded); the answer (../twin-requests.ts) is published
 * back to that client only.
 */
import type { Client, PublishPacket } from 'aedes';
import type { BrokerContext, Session } from '../context.js';
import { sendToClient } from '../context.js';
import { twinGetReply, twinReportedReply } from '../twin-requests.js';

type Done = (error?: Error | null) => void;

export function handleTwinGet(
  context: BrokerContext,
  client: Client,
  session: Session,
  requestId: string,
  done: Done,
): void {
  done(null);
  sendToClient(context, client, twinGetReply(context.twins, session.twinKey, session.generationId, requestId));
}

export function handleTwinReported(
  context: BrokerContext,
  client: Client,
  session: Session,
  packet: PublishPacket,
  requestId: string,
  done: Done,
): void {
  const body = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
  done(null);
  twinReportedReply(context.twins, session.twinKey, session.generationId, requestId, body).then(
    (answer) => sendToClient(context, client, answer),
    (err: Error) => context.logger.error({ clientId: client.id, err: err.message }, 'reported patch not stored'),
  );
}
