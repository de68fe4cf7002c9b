/**
 * The connector manual's input rules (issue 14 items 4, 6, 7), one test per rule, through the module's
 * real MQTT listener with a Greengrass-style device (MQTT.js) and a local BatchPutMessage endpoint that
 * records exactly what the module sends — and, for what reaches the cloud, through the real envelope
 * packer and the Functions' record reader.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeModule } from '../../edge-module/app.js';
import type { MessageMeta } from '../../edge-module/ingest.js';
import { parsePutRequest } from '../../edge-module/inputs/parse.js';
import { packBatch } from '../../edge-module/sinks/iothub/pack.js';
import { toReadings } from '../../functions/record.js';
import { connectDevice, startBatchPutEndpoint, startModule } from './edge-helpers.js';
import type { BatchPutEndpoint } from './edge-helpers.js';

let endpoint: BatchPutEndpoint;
let module: EdgeModule;

beforeAll(async () => {
  endpoint = await startBatchPutEndpoint();
  module = await startModule({ SINK: 'iotanalytics', AWS_REGION: 'us-east-1', MemorySize: '65535', PublishInterval: '0' }, { iotAnalytics: endpoint.client() });
});

afterAll(async () => {
  await module?.stop();
  await endpoint?.close();
});

const TOPIC = 'iotanalytics/channels/rules/messages/put';
const request = (message: unknown, id?: unknown) => JSON.stringify({ request: { message }, ...(id === undefined ? {} : { id }) });
const sentPayload = (messageId: string): string | undefined =>
  endpoint.calls.flatMap((c) => c.messages).find((m) => m.messageId === messageId)?.payload.toString('utf8');

async function publishAndWait(device: Awaited<ReturnType<typeof connectDevice>>, payload: string): Promise<Record<string, unknown>> {
  const before = device.statuses.length;
  await device.client.publishAsync(TOPIC, payload, { qos: 1 });
  const statuses = await device.waitFor(before + 1);
  return JSON.parse(statuses[before] as string) as Record<string, unknown>;
}

describe('the connector manual, rule by rule', () => {
  it('id: any string matching .* is accepted, "" included, and its status carries it exactly', async () => {
    for (const id of ['', ' ', 'x'.repeat(300), 'ünïcødé/#?', '\u0000', 'req123']) {
      expect(parsePutRequest(Buffer.from(request('{"temp":1}', id)))).toMatchObject({ ok: true, id });
    }
    const device = await connectDevice(module.mqtt.url);
    try {
      for (const id of ['', ' ', 'x'.repeat(300), 'ünïcødé/#?']) {
        expect(await publishAndWait(device, request('{"temp":1}', id))).toEqual({ response: { status: 'success' }, id });
      }
    } finally {
      device.client.end(true);
    }
  });

  it('every fail status for an input that had an id carries it (a non-string id is echoed as text)', async () => {
    const device = await connectDevice(module.mqtt.url);
    try {
      const cases: Array<[string, unknown]> = [
        [request('neither JSON nor base64!', 'bad-message'), 'bad-message'],
        [JSON.stringify({ id: 'no-request' }), 'no-request'],
        [JSON.stringify({ request: { message: 5 }, id: 'not-a-string' }), 'not-a-string'],
        [request('{"a":1}', 42), '42'],
        [request('{"a":1}', true), 'true'],
      ];
      for (const [payload, id] of cases) {
        const status = await publishAndWait(device, payload);
        expect(status).toMatchObject({ response: { status: 'fail', error: 'InvalidRequestException' }, id });
      }
    } finally {
      device.client.end(true);
    }
  });

  it('JSON stays JSON: a JSON message lands in the cloud as body whatever its spacing, and its exact bytes reach the forwarder', () => {
    for (const message of ['{"temp": 23.33}', '{\n  "temp": 23.33\n}', '{"temp":23.33}', '{"b":1,"a":2}', '[1, 2.50, 3e2]']) {
      const parsed = parsePutRequest(Buffer.from(request(message, 'j')));
      if (!parsed.ok) throw new Error(parsed.message);
      const meta: MessageMeta = { source: 'mqtt', qos: 1, seq: 1, ordinal: 1, deviceId: 'py-device', form: parsed.form };
      const { envelopes } = packBatch('rules', [{ messageId: 'j', statusId: 'j', channel: 'rules', payload: parsed.payload, acceptedAt: 1, meta }], {
        targetBytes: 65536,
        maxBytes: 262144,
        deferTail: false,
        origin: '0123456789abcdef',
      });
      const { readings, malformed } = toReadings(
        {
          body: envelopes[0]!.body,
          properties: { 'iot-ingest-schema': 'batch/v2', channel: 'rules' },
          systemProperties: { 'iothub-connection-device-id': 'edge', 'iothub-connection-module-id': 'iotIngest' },
          partition: '0',
          sequenceNumber: 1,
          offset: '0',
          enqueuedTimeUtc: '2026-11-23T10:00:00.000Z',
        },
        { defaultChannel: undefined, trustedModules: new Set(['iotIngest']) },
      );
      expect(malformed).toEqual([]);
      expect(readings[0]?.record.body).toEqual(JSON.parse(message));
      expect(readings[0]?.record).not.toHaveProperty('bodyBase64');
      expect(Buffer.from(readings[0]!.payload).toString('utf8')).toBe(message);
    }
  });

  it('base64 as the connector does it: BatchPutMessage gets the message string itself, for a base64 message as for a JSON one', async () => {
    const device = await connectDevice(module.mqtt.url);
    try {
      await publishAndWait(device, request('aGVsbG8gd29ybGQ=', 'b64'));
      await publishAndWait(device, request('{"temp": 23.33}', 'json'));
      expect(sentPayload('b64')).toBe('aGVsbG8gd29ybGQ=');
      expect(sentPayload('json')).toBe('{"temp": 23.33}');
    } finally {
      device.client.end(true);
    }
  });

  it("base64 variants a device's standard library writes are accepted: padded, unpadded, URL-safe, newline-wrapped (LF and CRLF)", async () => {
    const data = Buffer.from(Array.from({ length: 120 }, (_, i) => (i * 37) % 256));
    const standard = data.toString('base64');
    const wrapped = (eol: string) => standard.match(/.{1,76}/g)!.join(eol) + eol; // Python encodebytes, Java MIME
    const variants: Record<string, string> = {
      padded: Buffer.from('hi!?').toString('base64'), // b64encode / btoa / Buffer
      unpadded: Buffer.from('hi!?').toString('base64').replace(/=+$/, ''), // Go RawStdEncoding
      urlSafe: Buffer.from([0xfb, 0xff, 0xfe]).toString('base64url'), // urlsafe_b64encode, without padding
      lf: wrapped('\n'),
      crlf: wrapped('\r\n'),
    };
    const device = await connectDevice(module.mqtt.url);
    try {
      for (const [name, message] of Object.entries(variants)) {
        const status = await publishAndWait(device, request(message, name));
        expect(status, name).toEqual({ response: { status: 'success' }, id: name });
        // One spelling of the same data goes out: standard alphabet, padded, one line.
        const sent = sentPayload(name) as string;
        expect(sent).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
        expect(Buffer.from(sent, 'base64')).toEqual(Buffer.from(message.replace(/\r?\n/g, '').replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
      }
    } finally {
      device.client.end(true);
    }
  });

  it('a string that is neither valid base64 nor JSON is an InvalidRequestException with a status, never silently decoded', async () => {
    const device = await connectDevice(module.mqtt.url);
    try {
      for (const message of ['hello', 'idle!', 'temp=23.5', 'ok', 'aGk=aGk=', 'mixed-_+/chars==', '{"temp": 23']) {
        const status = await publishAndWait(device, request(message, `w-${message}`));
        expect(status, message).toMatchObject({ response: { status: 'fail', error: 'InvalidRequestException' }, id: `w-${message}` });
        expect(sentPayload(`w-${message}`)).toBeUndefined();
      }
      // A word that IS valid base64 is carried as the string it is — not decoded into other bytes.
      await publishAndWait(device, request('idle', 'w-idle'));
      expect(sentPayload('w-idle')).toBe('idle');
    } finally {
      device.client.end(true);
    }
  });
});
