/**
 * The broker's dispatcher: each packet kind aedes lets us decide on goes to its own handler, as aedes
 * itself dispatches in lib/handlers/index.js. CONNECT → connect.ts, PUBLISH → publish.ts (then by
 * topic: telemetry.ts, twin.ts), SUBSCRIBE and forwarding → subscribe.ts.
 */
import type { Aedes, AedesOptions } from 'aedes';
import type { BrokerContext } from '../context.js';
import { handleClientDisconnect, handleClientReady, handleConnect } from './connect.js';
import { handlePublish } from './publish.js';
import { handleForward, handleSubscribe } from './subscribe.js';

export function brokerHandlers(
  context: BrokerContext,
): Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'> {
  return {
    authenticate: (client, username, password, done) => handleConnect(context, client, username, password, done),
    authorizePublish: (client, packet, done) => handlePublish(context, client, packet, done),
    authorizeSubscribe: (client, subscription, done) => handleSubscribe(context, client, subscription, done),
    authorizeForward: (client, packet) => handleForward(context, client, packet),
  };
}

export function onBrokerEvents(broker: Aedes, context: BrokerContext): void {
  broker.on('clientReady', (client) => handleClientReady(context, client));
  broker.on('clientDisconnect', (client) => handleClientDisconnect(context, client));
  broker.on('clientError', (client, err) =>
    context.logger.debug({ clientId: client.id, err: err.message }, 'client error'),
  );
}
