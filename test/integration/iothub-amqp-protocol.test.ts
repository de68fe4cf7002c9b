/**
 * Wire-level rules of the emulator's Event Hubs endpoint that the SDK hides or checks on its own side:
 * driven with a raw rhea client (the same AMQP library the SDK uses) against the real endpoint.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import rhea from 'rhea';
import { EventHubConsumerClient, latestEventPosition } from '@azure/event-hubs';
import { openPartitionedLog } from '../../devstack/iothub/log/index.js';
import { startEventHubsEndpoint, type EventHubsEndpoint } from '../../devstack/iothub/amqp/index.js';
import { createSasToken } from '../../devstack/iothub/amqp/sas.js';
import type { PartitionedLog } from '../../devstack/iothub/log-types.js';

const HUB = 'protocol-hub';
const KEY_NAME = 'service';
const KEY = 'protocol-test-key';
const MAX_MESSAGE_BYTES = 4096;
const quiet = pino({ level: 'silent' });

type Outcome = { kind: 'open' } | { kind: 'closed'; condition: string | undefined; description: string | undefined };

/** A raw AMQP client connection with the few operations these tests need. */
class RawClient {
  readonly connection: rhea.Connection;
  private cbsSender: rhea.Sender | undefined;
  private cbsReceiver: rhea.Receiver | undefined;
  private readonly replies = new Map<string, (message: rhea.Message) => void>();

  constructor(port: number, options: Partial<rhea.ConnectionOptions> = {}) {
    const container = rhea.create_container();
    this.connection = container.connect({ host: '127.0.0.1', port, reconnect: false, ...options } as rhea.ConnectionOptions);
    this.connection.on('error', () => undefined);
    this.connection.on('connection_error', () => undefined);
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.connection.once('connection_open', () => resolve());
      this.connection.once('disconnected', (context: rhea.EventContext) => reject(context.error ?? new Error('disconnected')));
    });
  }

  /** Resolves when the server closes the link, with its error. */
  closed(link: rhea.Sender | rhea.Receiver): Promise<Outcome> {
    const prefix = link.is_sender() ? 'sender' : 'receiver';
    return new Promise((resolve) => {
      link.once(`${prefix}_error`, () => undefined);
      link.once(`${prefix}_close`, () => {
        const error = link.error as { condition?: string; description?: string } | undefined;
        resolve({ kind: 'closed', condition: error?.condition, description: error?.description });
      });
    });
  }

  /** Resolves when the server answers the attach: open, or closed with its error. */
  private outcome(link: rhea.Sender | rhea.Receiver): Promise<Outcome> {
    return new Promise((resolve) => {
      const prefix = link.is_sender() ? 'sender' : 'receiver';
      link.once(`${prefix}_open`, () => {
        // A refusal arrives as an attach immediately followed by a detach with the error.
        setTimeout(() => {
          if (link.is_open()) resolve({ kind: 'open' });
        }, 100);
      });
      link.once(`${prefix}_error`, () => undefined);
      link.once(`${prefix}_close`, () => {
        const error = link.error as { condition?: string; description?: string } | undefined;
        resolve({ kind: 'closed', condition: error?.condition, description: error?.description });
      });
    });
  }

  async putToken(audience: string, token: string): Promise<rhea.Message> {
    if (!this.cbsSender || !this.cbsReceiver) {
      this.cbsSender = this.connection.open_sender({ target: { address: '$cbs' } });
      this.cbsReceiver = this.connection.open_receiver({ source: { address: '$cbs' }, name: 'cbs-reply' });
      this.cbsReceiver.on('message', (context: rhea.EventContext) => {
        const message = context.message as rhea.Message;
        this.replies.get(String(message.correlation_id))?.(message);
      });
      await Promise.all([this.outcome(this.cbsSender), this.outcome(this.cbsReceiver)]);
    }
    const messageId = `put-${this.replies.size}`;
    const reply = new Promise<rhea.Message>((resolve) => this.replies.set(messageId, resolve));
    this.cbsSender.send({
      message_id: messageId,
      reply_to: 'cbs-reply',
      to: '$cbs',
      application_properties: { operation: 'put-token', name: audience, type: 'servicebus.windows.net:sastoken' },
      body: token,
    } as rhea.Message);
    return reply;
  }

  openReceiver(address: string, filter?: string): Promise<Outcome> {
    return this.openReceiverLink(address, filter).outcome;
  }

  openReceiverLink(address: string, filter?: string): { receiver: rhea.Receiver; outcome: Promise<Outcome> } {
    const source: Record<string, unknown> = { address };
    if (filter !== undefined) {
      source.filter = { 'apache.org:selector-filter:string': rhea.types.wrap_described(filter, 0x468c00000004) };
    }
    const receiver = this.connection.open_receiver({ source, credit_window: 0 } as unknown as rhea.ReceiverOptions);
    return { receiver, outcome: this.outcome(receiver) };
  }

  async openSender(address: string): Promise<{ outcome: Outcome; sender: rhea.Sender }> {
    const sender = this.connection.open_sender({ target: { address } });
    return { outcome: await this.outcome(sender), sender };
  }

  close(): void {
    this.connection.close();
  }
}

function token(port: number, entity: string, key = KEY, expiresInSeconds = 600): string {
  return createSasToken(`sb://localhost:${port}/${entity}`, KEY_NAME, key, Math.floor(Date.now() / 1000) + expiresInSeconds);
}

describe('iothub amqp endpoint on the wire', () => {
  let dir: string;
  let log: PartitionedLog;
  let endpoint: EventHubsEndpoint;
  let port: number;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iothub-amqp-protocol-'));
    log = await openPartitionedLog({ dir: path.join(dir, 'log'), partitionCount: 2, logger: quiet });
    endpoint = await startEventHubsEndpoint({
      log,
      host: '127.0.0.1',
      port: 0,
      eventHubName: HUB,
      consumerGroups: ['$Default'],
      sasKeyName: KEY_NAME,
      sasKey: KEY,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      tokenCheckIntervalMs: 200,
      logger: quiet,
    });
    port = endpoint.port;
  });

  afterAll(async () => {
    await endpoint?.stop();
    await log?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts connections without SASL, with ANONYMOUS, PLAIN and the .NET client\'s MSSBCBS', async () => {
    const plainTcp = new RawClient(port);
    const anonymous = new RawClient(port, { username: 'anyone' } as Partial<rhea.ConnectionOptions>);
    const plain = new RawClient(port, { username: 'user', password: 'secret' } as Partial<rhea.ConnectionOptions>);
    // MSSBCBS carries no credentials (the token follows on $cbs), like EXTERNAL.
    const empty = { start: (callback: (error: undefined, response: string) => void) => callback(undefined, '') };
    const mssbcbs = new RawClient(port, { sasl_mechanisms: { MSSBCBS: () => empty } } as unknown as Partial<rhea.ConnectionOptions>);
    await Promise.all([plainTcp.opened(), anonymous.opened(), plain.opened(), mssbcbs.opened()]);
    for (const client of [plainTcp, anonymous, plain, mssbcbs]) client.close();
  });

  it('refuses entity links until a valid token for them was put on $cbs', async () => {
    const client = new RawClient(port);
    await client.opened();
    const receiverAddress = `${HUB}/ConsumerGroups/$Default/Partitions/0`;
    expect(await client.openReceiver(receiverAddress)).toMatchObject({ kind: 'closed', condition: 'amqp:unauthorized-access' });
    expect((await client.openSender(HUB)).outcome).toMatchObject({ kind: 'closed', condition: 'amqp:unauthorized-access' });

    const wrongKey = await client.putToken(`sb://localhost:${port}/${HUB}`, token(port, HUB, 'not-the-key'));
    expect(wrongKey.application_properties?.['status-code']).toBe(401);
    const expired = await client.putToken(`sb://localhost:${port}/${HUB}`, token(port, HUB, KEY, -10));
    expect(expired.application_properties?.['status-code']).toBe(401);
    const otherHub = await client.putToken(`sb://localhost:${port}/other-hub`, token(port, 'other-hub'));
    expect(otherHub.application_properties).toMatchObject({ 'status-code': 404, 'error-condition': 'amqp:not-found' });
    // A token for one partition's receiver does not open the hub for sending.
    const narrow = await client.putToken(`sb://localhost:${port}/${receiverAddress}`, token(port, receiverAddress));
    expect(narrow.application_properties?.['status-code']).toBe(202);
    expect(await client.openReceiver(receiverAddress)).toEqual({ kind: 'open' });
    expect((await client.openSender(HUB)).outcome).toMatchObject({ kind: 'closed', condition: 'amqp:unauthorized-access' });
    const hubWide = await client.putToken(`sb://localhost:${port}/${HUB}`, token(port, HUB));
    expect(hubWide.correlation_id).toBeDefined();
    expect(hubWide.application_properties?.['status-code']).toBe(202);
    expect((await client.openSender(HUB)).outcome).toEqual({ kind: 'open' });
    client.close();
  });

  it('refuses unknown partitions, unknown entities and unsupported filters with the service conditions', async () => {
    const client = new RawClient(port);
    await client.opened();
    await client.putToken(`sb://localhost:${port}/${HUB}`, token(port, HUB));
    expect(await client.openReceiver(`${HUB}/ConsumerGroups/$Default/Partitions/7`)).toMatchObject({
      kind: 'closed',
      condition: 'com.microsoft:argument-out-of-range',
    });
    expect((await client.openSender(`${HUB}/Partitions/x`)).outcome).toMatchObject({
      kind: 'closed',
      condition: 'com.microsoft:argument-out-of-range',
    });
    expect(await client.openReceiver(`not-${HUB}/ConsumerGroups/$Default/Partitions/0`)).toMatchObject({
      kind: 'closed',
      condition: 'amqp:not-found',
    });
    expect(await client.openReceiver(`${HUB}/ConsumerGroups/$Default/Partitions/0`, "amqp.annotation.x-opt-offset = 'x'")).toMatchObject({
      kind: 'closed',
      condition: 'com.microsoft:argument-error',
    });
    expect(
      await client.openReceiver(`${HUB}/ConsumerGroups/$Default/Partitions/0`, "amqp.annotation.x-opt-sequence-number > '1000'"),
    ).toMatchObject({ kind: 'closed', condition: 'com.microsoft:argument-out-of-range' });
    client.close();
  });

  it('detaches links once the token they were attached with expires', async () => {
    const client = new RawClient(port);
    await client.opened();
    const shortLived = createSasToken(`sb://localhost:${port}/${HUB}`, KEY_NAME, KEY, Math.floor(Date.now() / 1000) + 2);
    expect((await client.putToken(`sb://localhost:${port}/${HUB}`, shortLived)).application_properties?.['status-code']).toBe(202);
    const { receiver, outcome } = client.openReceiverLink(`${HUB}/ConsumerGroups/$Default/Partitions/0`);
    const receiverClosed = client.closed(receiver);
    expect(await outcome).toEqual({ kind: 'open' });
    const { outcome: senderOutcome, sender } = await client.openSender(HUB);
    expect(senderOutcome).toEqual({ kind: 'open' });
    const senderClosed = client.closed(sender);
    expect(await receiverClosed).toMatchObject({ condition: 'amqp:unauthorized-access', description: expect.stringMatching(/expired/) });
    expect(await senderClosed).toMatchObject({ condition: 'amqp:unauthorized-access' });
    client.close();
  });

  it('announces max_message_size on producer links and rejects a larger transfer without storing it', async () => {
    const client = new RawClient(port);
    await client.opened();
    await client.putToken(`sb://localhost:${port}/${HUB}`, token(port, HUB));
    const { outcome, sender } = await client.openSender(`${HUB}/Partitions/1`);
    expect(outcome).toEqual({ kind: 'open' });
    expect(sender.max_message_size).toBe(MAX_MESSAGE_BYTES);
    const before = log.info(1).lastSequenceNumber;
    const settle = (body: Buffer): Promise<{ outcome: string; context: rhea.EventContext }> =>
      new Promise((resolve) => {
        const delivery = sender.send({ body: rhea.message.data_section(body) } as rhea.Message);
        const listeners = ['accepted', 'rejected'].map((outcome) => {
          const listener = (context: rhea.EventContext): void => {
            if (context.delivery !== delivery) return;
            for (const [name, l] of listeners) sender.off(name, l);
            resolve({ outcome, context });
          };
          sender.on(outcome, listener);
          return [outcome, listener] as const;
        });
      });
    const rejected = await settle(Buffer.alloc(MAX_MESSAGE_BYTES + 1, 7));
    expect(rejected.outcome).toBe('rejected');
    expect(rejected.context.delivery?.remote_state).toMatchObject({ error: { condition: 'amqp:link:message-size-exceeded' } });
    expect(log.info(1).lastSequenceNumber).toBe(before);
    const accepted = await settle(Buffer.from('small'));
    expect(accepted.outcome).toBe('accepted');
    expect(log.info(1).lastSequenceNumber).toBe(before + 1);
    expect(log.read(1, before + 1, 1)[0]?.body.toString()).toBe('small');
    client.close();
  });

  it('survives garbage on the socket and keeps serving other clients', async () => {
    await new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      });
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 2000);
    });
    await new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(Buffer.concat([Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'), Buffer.from([0, 0, 0, 12, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])]));
      });
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 2000);
    });
    const consumer = new EventHubConsumerClient('$Default', endpoint.connectionString, { retryOptions: { maxRetries: 0, timeoutInMs: 5000 } });
    expect(await consumer.getPartitionIds()).toEqual(['0', '1']);
    await consumer.close();
  });

  it('reports last-enqueued runtime metrics when the receiver asks for them', async () => {
    const consumer = new EventHubConsumerClient('$Default', endpoint.connectionString, { retryOptions: { maxRetries: 0, timeoutInMs: 5000 } });
    let lastEnqueuedSequenceNumber: number | undefined;
    let attached!: () => void;
    const linked = new Promise<void>((resolve) => (attached = resolve));
    let received!: () => void;
    const gotEvent = new Promise<void>((resolve) => (received = resolve));
    const subscription = consumer.subscribe(
      '0',
      {
        // The first (empty) call comes once the link is attached and idle for maxWaitTimeInSeconds.
        processEvents: async (events, context) => {
          attached();
          if (events.length > 0) {
            lastEnqueuedSequenceNumber = context.lastEnqueuedEventProperties?.sequenceNumber;
            received();
          }
        },
        processError: async () => undefined,
      },
      { startPosition: latestEventPosition, trackLastEnqueuedEventProperties: true, maxWaitTimeInSeconds: 1 },
    );
    await linked;
    const stored = await log.append({ deviceId: 'metrics', body: Buffer.from('m'), systemProperties: {}, applicationProperties: {} }, 0);
    await gotEvent;
    await subscription.close();
    await consumer.close();
    expect(lastEnqueuedSequenceNumber).toBe(stored.sequenceNumber);
  });

  it('stop() disconnects clients and frees the port', async () => {
    const ownLog = await openPartitionedLog({ dir: path.join(dir, 'stop-log'), partitionCount: 1, logger: quiet });
    const own = await startEventHubsEndpoint({
      log: ownLog,
      host: '127.0.0.1',
      port: 0,
      eventHubName: HUB,
      consumerGroups: ['$Default'],
      sasKeyName: KEY_NAME,
      sasKey: KEY,
      logger: quiet,
    });
    const client = new RawClient(own.port);
    await client.opened();
    const disconnected = new Promise<void>((resolve) => {
      client.connection.once('disconnected', () => resolve());
      client.connection.once('connection_close', () => resolve());
    });
    await own.stop();
    await disconnected;
    const again = net.createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(own.port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => again.close(() => resolve()));
    await ownLog.close();
  });
});
