/**
 * A leaf device written for the Greengrass IoT Analytics connector, publishing unchanged to the edge
 * module's MQTT listener with MQTT.js. Its readings rotate through the connector's three inputs:
 * `put` with an id (JSON request), `binary/put` (raw bytes, no id correlation) and a custom topic
 * (raw, to the default channel).
 */
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import type { Reading } from './telemetry.js';
import { encodeBinary, encodeJson } from './telemetry.js';

export const STATUS_TOPIC = 'iotanalytics/messages/put/status';

export type GreengrassInput = 'put' | 'binary' | 'custom';

/** Which input a reading uses: mostly `put` (the connector's main path), some binary and custom-topic. */
export function inputForSeq(seq: number): GreengrassInput {
  const slot = seq % 4;
  return slot === 2 ? 'binary' : slot === 3 ? 'custom' : 'put';
}

export interface GreengrassPublication {
  readonly topic: string;
  readonly payload: Buffer;
  /** The request id carried in the status message, for `put` only. */
  readonly requestId?: string;
}

/** Topic and payload for one reading, pure. */
export function greengrassPublication(
  reading: Reading,
  channel: string,
  input: GreengrassInput,
): GreengrassPublication {
  switch (input) {
    case 'put':
      return {
        topic: `iotanalytics/channels/${channel}/messages/put`,
        payload: Buffer.from(
          JSON.stringify({ request: { message: encodeJson(reading).toString('utf8') }, id: reading.readingId }),
        ),
        requestId: reading.readingId,
      };
    case 'binary':
      return { topic: `iotanalytics/channels/${channel}/messages/binary/put`, payload: encodeBinary(reading) };
    case 'custom':
      return { topic: `sensors/${reading.deviceId}/telemetry`, payload: encodeJson(reading) };
  }
}

export interface GreengrassDevice {
  /** Resolves once the edge module acknowledged the publish (QoS 1 PUBACK). */
  send(reading: Reading): Promise<GreengrassPublication>;
  close(): Promise<void>;
}

export async function openGreengrassDevice(options: {
  mqttUrl: string;
  deviceId: string;
  channel: string;
  /** Which input each reading uses; default the put/put/binary/custom rotation. */
  inputFor?: (seq: number) => GreengrassInput;
}): Promise<GreengrassDevice> {
  const inputFor = options.inputFor ?? inputForSeq;
  const client: MqttClient = await mqtt.connectAsync(options.mqttUrl, {
    clientId: options.deviceId,
    reconnectPeriod: 500,
    connectTimeout: 10_000,
  });
  client.on('error', () => undefined);
  return {
    async send(reading) {
      const publication = greengrassPublication(reading, options.channel, inputFor(reading.seq));
      await client.publishAsync(publication.topic, publication.payload, { qos: 1 });
      return publication;
    },
    async close() {
      await client.endAsync(true).catch(() => undefined);
    },
  };
}

/** Status message as the connector publishes it (contract §7). */
export interface ConnectorStatus {
  readonly response: { readonly status: 'success' | 'fail'; readonly error?: string; readonly error_message?: string };
  readonly id?: string;
}

/** One subscriber for the shared status topic (every device would otherwise see every status). */
export async function openStatusMonitor(
  mqttUrl: string,
  clientId: string,
  onStatus: (status: ConnectorStatus) => void,
): Promise<{ close(): Promise<void> }> {
  const client = await mqtt.connectAsync(mqttUrl, { clientId, reconnectPeriod: 500, clean: true });
  client.on('error', () => undefined);
  client.on('message', (_topic, payload) => {
    try {
      onStatus(JSON.parse(payload.toString('utf8')) as ConnectorStatus);
    } catch {
      onStatus({ response: { status: 'fail', error: 'UnparsableStatus' } });
    }
  });
  // Resubscribe after reconnects (clean sessions lose subscriptions).
  client.on('connect', () => void client.subscribeAsync(STATUS_TOPIC, { qos: 1 }).catch(() => undefined));
  await client.subscribeAsync(STATUS_TOPIC, { qos: 1 });
  return {
    async close() {
      await client.endAsync(true).catch(() => undefined);
    },
  };
}
