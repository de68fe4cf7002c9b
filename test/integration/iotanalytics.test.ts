import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  BatchPutMessageCommand,
  CreateChannelCommand,
  DeleteChannelCommand,
  DescribeChannelCommand,
  IoTAnalyticsClient,
  ListChannelsCommand,
  SampleChannelDataCommand,
} from '@aws-sdk/client-iotanalytics';
import { faultsFromEnv, startIotAnalyticsEmulator } from '../../devstack/iotanalytics/index.js';
import type { IotAnalyticsEmulator } from '../../devstack/iotanalytics/index.js';

interface StoredLine {
  messageId: string;
  payload: string;
  receivedAt: string;
}

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

async function stored(emulator: IotAnalyticsEmulator, channel: string): Promise<StoredLine[]> {
  const res = await fetch(`${emulator.connection.endpoint}/_emulator/channels/${channel}/messages`);
  expect(res.status).toBe(200);
  return (await res.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as StoredLine);
}

async function rejection(promise: Promise<unknown>): Promise<Error & { $metadata: { attempts?: number } }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { $metadata: { attempts?: number } };
  }
  throw new Error('expected the call to fail');
}

describe('IoT Analytics emulator with the real @aws-sdk/client-iotanalytics', () => {
  let dir = '';
  let emulator: IotAnalyticsEmulator;
  let client: IoTAnalyticsClient;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-iota-'));
    emulator = await startIotAnalyticsEmulator({ dir, port: 0, channels: ['ch_1'], faultSeed: 3 });
    client = new IoTAnalyticsClient({ endpoint: emulator.connection.endpoint, region: 'us-east-1', credentials });
  });

  afterAll(async () => {
    client?.destroy();
    await emulator?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stores an accepted batch as JSON Lines and answers with no error entries', async () => {
    expect(emulator.connection).toEqual({
      endpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      region: 'us-east-1',
    });
    const out = await client.send(
      new BatchPutMessageCommand({
        channelName: 'ch_1',
        messages: [
          { messageId: '1', payload: utf8('{"a":1}') },
          { messageId: '2', payload: Uint8Array.from([0, 255, 7]) },
        ],
      }),
    );
    expect(out.batchPutMessageErrorEntries).toEqual([]);
    expect(out.$metadata.httpStatusCode).toBe(200);
    expect(out.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const lines = await stored(emulator, 'ch_1');
    expect(lines.map((l) => [l.messageId, Buffer.from(l.payload, 'base64').toString('hex')])).toEqual([
      ['1', Buffer.from('{"a":1}').toString('hex')],
      ['2', '00ff07'],
    ]);
    expect(Date.parse(lines[0]!.receivedAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('a repeated or out-of-range messageId is a per-entry error in a 200 answer; the rest is stored', async () => {
    const out = await client.send(
      new BatchPutMessageCommand({
        channelName: 'ch_1',
        messages: [
          { messageId: 'x', payload: utf8('first') },
          { messageId: 'x', payload: utf8('second') },
          { messageId: 'i'.repeat(129), payload: utf8('long id') },
          { messageId: 'y', payload: utf8('ok') },
        ],
      }),
    );
    expect(out.$metadata.httpStatusCode).toBe(200);
    expect(out.batchPutMessageErrorEntries?.map((e) => [e.messageId, e.errorCode])).toEqual([
      ['x', 'InvalidRequestException'],
      ['i'.repeat(129), 'InvalidRequestException'],
    ]);
    const lines = await stored(emulator, 'ch_1');
    expect(lines.slice(2).map((l) => Buffer.from(l.payload, 'base64').toString())).toEqual(['first', 'ok']);
  });

  it('more than 100 messages fails the whole call with InvalidRequestException (400), not retried', async () => {
    emulator.resetStats();
    const messages = Array.from({ length: 101 }, (_, i) => ({ messageId: String(i), payload: utf8('{}') }));
    const err = await rejection(client.send(new BatchPutMessageCommand({ channelName: 'ch_1', messages })));
    expect(err.name).toBe('InvalidRequestException');
    expect(err.message).toMatch(/101/);
    expect(err.$metadata.attempts).toBe(1);
    expect(emulator.stats().byStatus).toEqual({ '400': 1 });
    // exactly 100 is fine
    const ok = await client.send(new BatchPutMessageCommand({ channelName: 'ch_1', messages: messages.slice(0, 100) }));
    expect(ok.batchPutMessageErrorEntries).toEqual([]);
  });

  it('the 128 KB limit applies to the decoded payload: 131072 bytes pass, 131073 fail the call', async () => {
    const ok = await client.send(
      new BatchPutMessageCommand({
        channelName: 'ch_1',
        messages: [{ messageId: 'big', payload: new Uint8Array(128 * 1024).fill(65) }],
      }),
    );
    expect(ok.batchPutMessageErrorEntries).toEqual([]);
    const before = (await stored(emulator, 'ch_1')).length;
    const err = await rejection(
      client.send(
        new BatchPutMessageCommand({
          channelName: 'ch_1',
          messages: [
            { messageId: 'small', payload: utf8('{}') },
            { messageId: 'too_big', payload: new Uint8Array(128 * 1024 + 1) },
          ],
        }),
      ),
    );
    expect(err.name).toBe('InvalidRequestException');
    expect(err.message).toMatch(/too_big.*131073 bytes/);
    expect((await stored(emulator, 'ch_1')).length).toBe(before);
  });

  it('a bad channel name is InvalidRequestException and an unknown channel ResourceNotFoundException (404)', async () => {
    for (const bad of ['__reserved', 'has-dash', 'x'.repeat(129)]) {
      const err = await rejection(
        client.send(
          new BatchPutMessageCommand({ channelName: bad, messages: [{ messageId: '1', payload: utf8('1') }] }),
        ),
      );
      expect(err.name).toBe('InvalidRequestException');
    }
    emulator.resetStats();
    const err = await rejection(
      client.send(
        new BatchPutMessageCommand({ channelName: 'nope', messages: [{ messageId: '1', payload: utf8('1') }] }),
      ),
    );
    expect(err.name).toBe('ResourceNotFoundException');
    expect(err.message).toBe('A resource with the specified name could not be found.');
    expect(err.$metadata.attempts).toBe(1);
    expect(emulator.stats().byStatus).toEqual({ '404': 1 });
  });

  it('raw HTTP: malformed JSON and empty batches are 400, a non-base64 payload a per-entry error, unknown routes 404', async () => {
    const post = (body: string) =>
      fetch(`${emulator.connection.endpoint}/messages/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const malformed = await post('{"channelName":');
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('x-amzn-errortype')).toBe('InvalidRequestException');
    expect(malformed.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await malformed.json()).toEqual({ message: 'The request body is not valid JSON.' });
    expect((await post('{"channelName":"ch_1","messages":[]}')).status).toBe(400);

    const entries = await post(
      JSON.stringify({
        channelName: 'ch_1',
        messages: [{ messageId: 'nb', payload: 'not base64!' }, { messageId: 'np' }],
      }),
    );
    expect(entries.status).toBe(200);
    expect(
      (
        (await entries.json()) as { batchPutMessageErrorEntries: { messageId: string }[] }
      ).batchPutMessageErrorEntries.map((e) => e.messageId),
    ).toEqual(['nb', 'np']);

    const unknown = await fetch(`${emulator.connection.endpoint}/datastores`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    const noChannel = await fetch(`${emulator.connection.endpoint}/_emulator/channels/nope/messages`);
    expect(noChannel.status).toBe(404);
    expect(noChannel.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
  });

  it('channel APIs: create, duplicate create, describe with statistics, list, sample, delete', async () => {
    const created = await client.send(new CreateChannelCommand({ channelName: 'ch_2' }));
    expect(created.channelArn).toBe('arn:aws:iotanalytics:us-east-1:000000000000:channel/ch_2');
    const dup = await rejection(client.send(new CreateChannelCommand({ channelName: 'ch_2' })));
    expect(dup.name).toBe('ResourceAlreadyExistsException');

    const t0 = new Date(Date.now() - 1000);
    await client.send(
      new BatchPutMessageCommand({
        channelName: 'ch_2',
        messages: Array.from({ length: 12 }, (_, i) => ({ messageId: `m${i}`, payload: utf8(`{"n":${i}}`) })),
      }),
    );
    const described = await client.send(new DescribeChannelCommand({ channelName: 'ch_2', includeStatistics: true }));
    expect(described.channel?.name).toBe('ch_2');
    expect(described.channel?.status).toBe('ACTIVE');
    expect(described.channel?.creationTime).toBeInstanceOf(Date);
    expect(described.channel?.lastMessageArrivalTime?.getTime()).toBeGreaterThanOrEqual(t0.getTime());
    expect(described.statistics?.size?.estimatedSizeInBytes).toBeGreaterThan(0);

    const listed = await client.send(new ListChannelsCommand({}));
    expect(listed.channelSummaries?.map((c) => c.channelName)).toEqual(['ch_1', 'ch_2']);
    const page = await client.send(new ListChannelsCommand({ maxResults: 1 }));
    expect(page.channelSummaries).toHaveLength(1);
    const next = await client.send(new ListChannelsCommand({ maxResults: 1, nextToken: page.nextToken }));
    expect(next.channelSummaries?.map((c) => c.channelName)).toEqual(['ch_2']);

    const sample = await client.send(
      new SampleChannelDataCommand({
        channelName: 'ch_2',
        maxMessages: 3,
        startTime: t0,
        endTime: new Date(Date.now() + 60_000),
      }),
    );
    expect(sample.payloads?.map((p) => Buffer.from(p).toString())).toEqual(['{"n":9}', '{"n":10}', '{"n":11}']);
    const none = await client.send(
      new SampleChannelDataCommand({ channelName: 'ch_2', startTime: new Date(0), endTime: new Date(1000) }),
    );
    expect(none.payloads).toEqual([]);

    await client.send(new DeleteChannelCommand({ channelName: 'ch_2' }));
    const gone = await rejection(client.send(new DescribeChannelCommand({ channelName: 'ch_2' })));
    expect(gone.name).toBe('ResourceNotFoundException');
  });

  it.each([
    [{ throttleRate: 1 }, 'ThrottlingException', '429'],
    [{ serverErrorRate: 1 }, 'InternalFailureException', '500'],
    [{ serverErrorRate: 1, serverErrorStatus: 503 as const }, 'ServiceUnavailableException', '503'],
  ])('fault %o: the SDK retries to 3 attempts, then fails with %s; nothing is stored', async (faults, name, status) => {
    emulator.setFaults(faults);
    emulator.resetStats();
    const before = (await stored(emulator, 'ch_1')).length;
    try {
      const err = await rejection(
        client.send(
          new BatchPutMessageCommand({ channelName: 'ch_1', messages: [{ messageId: 'f', payload: utf8('1') }] }),
        ),
      );
      expect(err.name).toBe(name);
      expect(err.$metadata.attempts).toBe(3);
      const s = emulator.stats();
      expect(s.byStatus).toEqual({ [status]: 3 });
      expect(s.byAttempt).toEqual({ '1': 1, '2': 1, '3': 1 });
      expect(s.batchPutCallsByChannel).toEqual({ ch_1: 3 });
      expect((await stored(emulator, 'ch_1')).length).toBe(before);
    } finally {
      emulator.setFaults({});
    }
  });

  it('fault missingChannels: an existing channel answers ResourceNotFoundException', async () => {
    emulator.setFaults({ missingChannels: ['ch_1'] });
    try {
      const err = await rejection(
        client.send(
          new BatchPutMessageCommand({ channelName: 'ch_1', messages: [{ messageId: 'm', payload: utf8('1') }] }),
        ),
      );
      expect(err.name).toBe('ResourceNotFoundException');
    } finally {
      emulator.setFaults({});
    }
  });

  it('fault latencyMs delays each answer', async () => {
    emulator.setFaults({ latencyMs: 300 });
    try {
      const started = performance.now();
      await client.send(
        new BatchPutMessageCommand({ channelName: 'ch_1', messages: [{ messageId: 'l', payload: utf8('1') }] }),
      );
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    } finally {
      emulator.setFaults({});
    }
  });

  // faultSeed 3 makes the dice deterministic: this run throttles 3 of the 13 calls.
  it('30 % throttling set through POST /_emulator/faults: every message is delivered exactly once with retries', async () => {
    const res = await fetch(`${emulator.connection.endpoint}/_emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ throttleRate: 0.3 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ throttleRate: 0.3 });
    await client.send(new CreateChannelCommand({ channelName: 'ch_3' }));
    emulator.resetStats();
    const patient = new IoTAnalyticsClient({
      endpoint: emulator.connection.endpoint,
      region: 'us-east-1',
      credentials,
      maxAttempts: 12,
    });
    try {
      await Promise.all(
        Array.from({ length: 10 }, (_, b) =>
          patient.send(
            new BatchPutMessageCommand({
              channelName: 'ch_3',
              messages: Array.from({ length: 10 }, (_, i) => ({
                messageId: `${b}-${i}`,
                payload: utf8(`{"b":${b},"i":${i}}`),
              })),
            }),
          ),
        ),
      );
    } finally {
      patient.destroy();
      emulator.setFaults({});
    }
    const lines = await stored(emulator, 'ch_3');
    expect(lines).toHaveLength(100);
    expect(new Set(lines.map((l) => l.messageId)).size).toBe(100);
    const s = emulator.stats();
    expect(s.byStatus['200']).toBe(10);
    expect(s.byStatus['429']).toBe(3);
    expect(s.requests).toBe(10 + (s.byStatus['429'] ?? 0));
    const statsRes = await fetch(`${emulator.connection.endpoint}/_emulator/stats`);
    expect(
      ((await statsRes.json()) as { messagesStoredByChannel: Record<string, number> }).messagesStoredByChannel,
    ).toEqual({
      ch_3: 100,
    });
  });

  it('a bad fault setting is refused, naming the field or the environment variable', async () => {
    const res = await fetch(`${emulator.connection.endpoint}/_emulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ throttleRate: 2 }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('InvalidRequestException');
    expect(((await res.json()) as { message: string }).message).toMatch(/throttleRate: '2'/);
    expect(() => faultsFromEnv({ IOTANALYTICS_FAULT_5XX_RATE: 'lots' })).toThrow(/IOTANALYTICS_FAULT_5XX_RATE: 'lots'/);
    expect(
      faultsFromEnv({
        IOTANALYTICS_FAULT_THROTTLE_RATE: '0.3',
        IOTANALYTICS_FAULT_LATENCY_MS: '5',
        IOTANALYTICS_FAULT_MISSING_CHANNELS: 'a, b',
      }),
    ).toEqual({ throttleRate: 0.3, latencyMs: 5, missingChannels: ['a', 'b'] });
  });

  it('a restart on the same directory keeps channels and messages', async () => {
    const before = await stored(emulator, 'ch_1');
    await emulator.stop();
    client.destroy();
    emulator = await startIotAnalyticsEmulator({ dir, port: 0, channels: ['ch_1'] });
    client = new IoTAnalyticsClient({ endpoint: emulator.connection.endpoint, region: 'us-east-1', credentials });
    expect(await stored(emulator, 'ch_1')).toEqual(before);
    const listed = await client.send(new ListChannelsCommand({}));
    expect(listed.channelSummaries?.map((c) => c.channelName)).toEqual(['ch_1', 'ch_3']);
    const described = await client.send(new DescribeChannelCommand({ channelName: 'ch_1' }));
    expect(described.channel?.lastMessageArrivalTime).toBeInstanceOf(Date);
  });
});
