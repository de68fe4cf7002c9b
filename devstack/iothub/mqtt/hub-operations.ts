/**
 * What the hub itself does to devices over MQTT (the service side, called by the emulator's handle and
 * the devstack): deliver module inputs, push desired-property patches, read twins, and close the
 * connections of identities that left the registry.
 */
import type { Aedes, Client } from 'aedes';
import { findIdentity } from '@iot-ingest/contracts';
import type { HubSystemProperties } from '../log-types.js';
import type { TwinDocument, TwinProperties } from '../twins.js';
import { twinDocument, twinKey } from '../twins.js';
import type { BrokerContext } from './context.js';
import { sendToClient } from './context.js';
import { encodePropertyBag } from './property-bag.js';
import { desiredPatchTopic, isTopicSafeName, moduleInputTopic } from './topics.js';

const DESIRED_FILTER = '$iothub/twin/PATCH/properties/desired/#';

export interface HubOperations {
  /** Publishes at QoS 1 on `devices/{d}/modules/{m}/inputs/{input}/{bag}`; resolves once routed. */
  sendToModuleInput(
    deviceId: string,
    moduleId: string,
    inputName: string,
    body: Buffer | string,
    properties?: Readonly<Record<string, string>>,
    systemProperties?: HubSystemProperties,
  ): Promise<void>;
  /** Merges a desired patch, bumps `$version`, and notifies the identity if it listens for desired updates. */
  updateDesired(deviceId: string, moduleId: string | undefined, patch: TwinProperties): Promise<TwinDocument>;
  getTwin(deviceId: string, moduleId?: string): TwinDocument;
  /** Closes connections whose identity was removed or re-created; returns how many. */
  revokeStaleConnections(): number;
}

/** aedes keeps a client's subscriptions (restored ones included) on the client object; not in its types. */
function clientSubscriptions(client: Client): Record<string, unknown> {
  return (client as unknown as { subscriptions: Record<string, unknown> }).subscriptions;
}

export function hubOperations(broker: Aedes, context: BrokerContext): HubOperations {
  const { registry, twins, logger } = context;

  function identityOrThrow(deviceId: string, moduleId: string | undefined) {
    const identity = findIdentity(registry.current(), deviceId, moduleId);
    if (!identity) {
      throw new Error(
        moduleId === undefined
          ? `device '${deviceId}' is not in the registry`
          : `module '${moduleId}' of device '${deviceId}' is not in the registry`,
      );
    }
    return identity;
  }

  return {
    async sendToModuleInput(deviceId, moduleId, inputName, body, properties = {}, systemProperties = {}) {
      identityOrThrow(deviceId, moduleId);
      if (!isTopicSafeName(inputName)) {
        throw new Error(`input name '${inputName}' must be non-empty without '/', '#', '+'`);
      }
      const topic = moduleInputTopic(deviceId, moduleId, inputName, encodePropertyBag(systemProperties, properties));
      const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      await new Promise<void>((resolve, reject) => {
        broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, (err) =>
          err ? reject(err) : resolve(),
        );
      });
    },

    async updateDesired(deviceId, moduleId, patch) {
      const identity = identityOrThrow(deviceId, moduleId);
      const key = twinKey(deviceId, moduleId);
      const record = await twins.patchDesired(key, identity.generationId, patch);
      const client = context.live.get(key);
      if (client && !client.closed && Object.hasOwn(clientSubscriptions(client), DESIRED_FILTER)) {
        sendToClient(context, client, {
          topic: desiredPatchTopic(record.desiredVersion),
          payload: Buffer.from(JSON.stringify({ ...patch, $version: record.desiredVersion })),
        });
      }
      return twinDocument(record);
    },

    getTwin(deviceId, moduleId) {
      const identity = identityOrThrow(deviceId, moduleId);
      return twinDocument(twins.get(twinKey(deviceId, moduleId), identity.generationId));
    },

    revokeStaleConnections() {
      const data = registry.current();
      let revoked = 0;
      for (const client of context.live.values()) {
        const session = context.sessions.get(client);
        if (!session) continue;
        const identity = findIdentity(data, session.identity.deviceId, session.identity.moduleId);
        if (identity?.generationId !== session.generationId) {
          revoked++;
          logger.info({ clientId: client.id }, 'identity removed from the registry; closing its connection');
          client.close();
        }
      }
      context.counters.connectionsRevoked += revoked;
      return revoked;
    },
  };
}
