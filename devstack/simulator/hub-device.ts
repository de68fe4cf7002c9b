/**
 * A device that publishes straight to the IoT Hub (emulator) with the real `azure-iot-device` MQTT client,
 * trusting the devstack CA for this client only.
 */
import iotDevice from 'azure-iot-device';
import iotMqtt from 'azure-iot-device-mqtt';
import type { Reading } from './telemetry.js';
import { encodeJson } from './telemetry.js';

export interface HubDeviceOptions {
  readonly connectionString: string;
  /** PEM text or path of the CA that signed the hub's server certificate. */
  readonly ca: string;
}

export interface HubDevice {
  /** Resolves once the hub acknowledged (PUBACK) the message. */
  send(reading: Reading): Promise<void>;
  close(): Promise<void>;
}

export async function openHubDevice(options: HubDeviceOptions): Promise<HubDevice> {
  const client = iotDevice.Client.fromConnectionString(options.connectionString, iotMqtt.Mqtt);
  // setOptions is async (it may read the CA file first); open() must wait for it.
  await client.setOptions({ ca: options.ca });
  await client.open();
  // The SDK emits 'error' on transport loss; without a listener Node would throw.
  client.on('error', () => undefined);
  return {
    async send(reading) {
      const message = new iotDevice.Message(encodeJson(reading));
      message.contentType = 'application/json';
      message.contentEncoding = 'utf-8';
      message.messageId = reading.readingId;
      await client.sendEvent(message);
    },
    async close() {
      await client.close().catch(() => undefined);
    },
  };
}
