/**
 * SUBSCRIBE (aedes' `authorizeSubscribe`) and the delivery of hub publishes (`authorizeForward`).
 * A client may subscribe only to the filters the SDK sends for its own identity (../topics.ts
 * `allowedSubscriptions`), granted at most QoS 1 as the hub does; others get a failure SUBACK.
 * A hub-to-client message reaches only the identity it is for.
 */
import type { AedesPublishPacket, Client, Subscription } from 'aedes';
import type { BrokerContext } from '../context.js';
import { allowedSubscriptions, moduleInputPrefix } from '../topics.js';

export function handleSubscribe(
  context: BrokerContext,
  client: Client,
  subscription: Subscription,
  done: (error: Error | null, subscription?: Subscription | null) => void,
): void {
  const session = context.sessions.get(client);
  if (session && allowedSubscriptions(session.identity).includes(subscription.topic)) {
    // The hub never grants QoS 2.
    return done(null, { ...subscription, qos: subscription.qos > 1 ? 1 : subscription.qos });
  }
  context.counters.subscriptionsRefused++;
  context.logger.warn({ clientId: client.id, topic: subscription.topic }, 'subscription refused');
  done(null, null);
}

export function handleForward(
  context: BrokerContext,
  client: Client,
  packet: AedesPublishPacket,
): AedesPublishPacket | null {
  const session = context.sessions.get(client);
  if (!session) return null;
  const { deviceId, moduleId } = session.identity;
  if (moduleId !== undefined && packet.topic.startsWith(moduleInputPrefix(deviceId, moduleId))) return packet;
  if (moduleId === undefined && packet.topic.startsWith(`devices/${deviceId}/messages/devicebound/`)) return packet;
  // `$iothub/…` is only ever written to one client directly (twin replies and patches).
  if (packet.topic.startsWith('$iothub/')) return packet;
  return null;
}
