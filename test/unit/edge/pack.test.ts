import { describe, expect, it } from 'vitest';
import type { QueuedMessage } from '../../../batching/types.js';
import type { MessageMeta } from '../../../edge-module/ingest.js';
import { BILLING_UNIT_BYTES, messageFragment, packBatch, propertiesBytes } from '../../../edge-module/sinks/iothub/pack.js';

const ORIGIN = '0123456789abcdef';
let ordinal = 0;
const msg = (id: string, payload: string | Buffer, correlate = true, meta: Partial<MessageMeta> = {}): QueuedMessage => ({
  messageId: id,
  statusId: correlate ? id : undefined,
  channel: 'ch',
  payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  acceptedAt: 1700000000000,
  meta: { source: 'mqtt', qos: 1, seq: undefined, ordinal: ++ordinal, ...meta } satisfies MessageMeta,
});
const options = (targetBytes: number, deferTail: boolean) => ({ targetBytes, maxBytes: 262144, deferTail, origin: ORIGIN });

describe('batch envelope v2 (contracts §4)', () => {
  it('entries carry n, the leaf or source module, and the payload as json, jsonText, base64Message or base64', () => {
    const { envelopes } = packBatch(
      'ch',
      [
        msg('r1', '{"temp":23.33}', true, { ordinal: 7, deviceId: 'sensor-17' }),
        msg('g1', '{"temp": 23.33}', false, { ordinal: 8, deviceId: 'sensor-17' }),
        msg('g2', Buffer.from([0xff, 0]), false, { ordinal: 9, source: 'edgehub', sourceModule: 'opcua' }),
        msg('r2', 'aGk=', true, { ordinal: 10, form: 'base64' }),
      ],
      options(65536, false),
    );
    expect(envelopes).toHaveLength(1);
    expect(envelopes[0]?.body.toString()).toBe(
      `{"v":2,"channel":"ch","origin":"${ORIGIN}","devices":["sensor-17"],"messages":[` +
        '{"n":7,"id":"r1","requestId":"r1","acceptedAt":1700000000000,"d":0,"json":{"temp":23.33}},' +
        '{"n":8,"id":"g1","acceptedAt":1700000000000,"d":0,"jsonText":"{\\"temp\\": 23.33}"},' +
        '{"n":9,"id":"g2","acceptedAt":1700000000000,"sourceModule":"opcua","base64":"/wA="},' +
        '{"n":10,"id":"r2","requestId":"r2","acceptedAt":1700000000000,"base64Message":"aGk="}]}',
    );
    const env = envelopes[0]!;
    expect(env.sizeBytes).toBe(env.body.byteLength + propertiesBytes('ch'));
    const body = JSON.parse(env.body.toString());
    expect(body.messages[0].json).toEqual({ temp: 23.33 });
    expect(body.messages[1].jsonText).toBe('{"temp": 23.33}');
  });

  it('canonical JSON costs only the entry head: the payload bytes appear once, unescaped', () => {
    const payload = '{"deviceId":"d1","temp":21.5,"ts":1700000000000}';
    const fragment = messageFragment(msg('x', payload, false, { ordinal: 1 }));
    expect(fragment).toBe(`{"n":1,"id":"x","acceptedAt":1700000000000,"json":${payload}}`);
  });

  it('a message without an ordinal cannot be packed (it would lose its id upstream)', () => {
    const bad: QueuedMessage = { ...msg('x', '1'), meta: { source: 'mqtt', qos: 0, seq: undefined } };
    expect(() => messageFragment(bad)).toThrow(/no ordinal/);
  });

  it('the same messages cut into different batches keep the same (origin, n) ids', () => {
    const messages = Array.from({ length: 20 }, (_, i) => msg(`m${i}`, `{"i":${i}}`, true, { ordinal: 100 + i }));
    const ids = (parts: QueuedMessage[][]) =>
      parts.flatMap((part) =>
        packBatch('ch', part, options(65536, false)).envelopes.flatMap((e) =>
          (JSON.parse(e.body.toString()) as { origin: string; messages: { n: number; id: string }[] }).messages.map((m) => `${e.channel}/${m.n}/${m.id}`),
        ),
      );
    expect(ids([messages.slice(0, 7), messages.slice(7)])).toEqual(ids([messages.slice(0, 13), messages.slice(13)]));
  });

  it('envelopes never exceed the target unless one message alone does, and never the hard cap', () => {
    const messages = Array.from({ length: 100 }, (_, i) => msg(`m${i}`, `{"v":"${'x'.repeat(900)}","i":${i}}`));
    const { envelopes, deferred } = packBatch('ch', messages, options(8192, false));
    expect(deferred).toEqual([]);
    expect(envelopes.flatMap((e) => e.messageIds)).toEqual(messages.map((m) => m.messageId));
    for (const e of envelopes) expect(e.sizeBytes).toBeLessThanOrEqual(8192);
    const huge = msg('h', Buffer.alloc(131072, 7));
    const one = packBatch('ch', [huge], options(4096, false));
    expect(one.envelopes[0]!.sizeBytes).toBeLessThanOrEqual(262144);
  });

  it('with deferTail, messages spilling a little into a new 4 KB unit are handed back, and what is sent fills whole units', () => {
    const messages = Array.from({ length: 30 }, (_, i) => msg(`m${i}`, `{"reading":"${'y'.repeat(100)}","i":${i}}`));
    const full = packBatch('ch', messages, options(65536, false));
    const packed = packBatch('ch', messages, options(65536, true));
    expect(full.envelopes[0]!.sizeBytes % BILLING_UNIT_BYTES).not.toBe(0);
    expect(packed.deferred.length).toBeGreaterThan(0);
    const sent = packed.envelopes[0]!;
    expect(sent.units).toBe(Math.floor(full.envelopes[0]!.sizeBytes / BILLING_UNIT_BYTES));
    expect([...sent.messageIds, ...packed.deferred.map((m) => m.messageId)]).toEqual(messages.map((m) => m.messageId));
  });

  it('deferTail never holds back a batch smaller than one unit', () => {
    const { envelopes, deferred } = packBatch('ch', [msg('a', '{"x":1}')], options(65536, true));
    expect(deferred).toEqual([]);
    expect(envelopes).toHaveLength(1);
  });

  it('a message fragment is valid JSON for ids that need escaping', () => {
    expect(JSON.parse(messageFragment(msg('a"b\\c', '1', true, { ordinal: 3, sourceModule: 'm"/' })))).toEqual({
      n: 3,
      id: 'a"b\\c',
      requestId: 'a"b\\c',
      acceptedAt: 1700000000000,
      sourceModule: 'm"/',
      json: 1,
    });
  });

  it('each leaf is spelled once per envelope, entries name it by position, and sizes stay exact', () => {
    const leaves = ['x"/\\y', 'b', 'x"/\\y', 'c', 'b'];
    const messages = leaves.map((deviceId, i) => msg(`m${i}`, `{"i":${i}}`, false, { deviceId }));
    const { envelopes } = packBatch('ch', messages, options(65536, false));
    const body = JSON.parse(envelopes[0]!.body.toString()) as { devices: string[]; messages: { d: number }[] };
    expect(body.devices).toEqual(['x"/\\y', 'b', 'c']);
    expect(body.messages.map((m) => body.devices[m.d])).toEqual(leaves);
    expect(envelopes[0]!.sizeBytes).toBe(envelopes[0]!.body.byteLength + propertiesBytes('ch'));
    // Trimming a deferred tail drops the leaves only it introduced, and the kept sizes still add up.
    const many = Array.from({ length: 60 }, (_, i) => msg(`t${i}`, `{"reading":"${'y'.repeat(100)}","i":${i}}`, false, { deviceId: `leaf-${i}` }));
    const packed = packBatch('ch', many, options(65536, true));
    const sent = packed.envelopes[0]!;
    expect(packed.deferred.length).toBeGreaterThan(0);
    expect(sent.sizeBytes).toBe(sent.body.byteLength + propertiesBytes('ch'));
    expect(sent.sizeBytes % BILLING_UNIT_BYTES).toBeLessThan(BILLING_UNIT_BYTES);
    expect((JSON.parse(sent.body.toString()) as { devices: string[] }).devices).toHaveLength(sent.messageIds.length);
  });
});
