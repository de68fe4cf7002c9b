import { describe, expect, it } from 'vitest';
import type { QueuedMessage } from '../../../batching/types.js';
import { BILLING_UNIT_BYTES, messageFragment, packBatch, propertiesBytes } from '../../../edge-module/sinks/iothub/pack.js';

const msg = (id: string, payload: string | Buffer, correlate = true): QueuedMessage => ({
  messageId: id,
  statusId: correlate ? id : undefined,
  channel: 'ch',
  payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  acceptedAt: 1700000000000,
  meta: {},
});

describe('batch envelope (contracts §4)', () => {
  it('canonical JSON payloads are embedded verbatim, anything else as base64; requestId only when correlated', () => {
    const { envelopes } = packBatch('ch', [msg('r1', '{"temp":23.33}'), msg('g1', '{"a": 1}', false), msg('g2', Buffer.from([0xff, 0]), false)], {
      targetBytes: 65536,
      maxBytes: 262144,
      deferTail: false,
    });
    expect(envelopes).toHaveLength(1);
    expect(envelopes[0]?.body.toString()).toBe(
      '{"v":1,"channel":"ch","messages":[' +
        '{"id":"r1","requestId":"r1","acceptedAt":1700000000000,"json":{"temp":23.33}},' +
        '{"id":"g1","acceptedAt":1700000000000,"base64":"eyJhIjogMX0="},' +
        '{"id":"g2","acceptedAt":1700000000000,"base64":"/wA="}]}',
    );
    const env = envelopes[0]!;
    expect(env.sizeBytes).toBe(env.body.byteLength + propertiesBytes('ch'));
    expect(JSON.parse(env.body.toString()).messages[0].json).toEqual({ temp: 23.33 });
  });

  it('envelopes never exceed the target unless one message alone does, and never the hard cap', () => {
    const messages = Array.from({ length: 100 }, (_, i) => msg(`m${i}`, `{"v":"${'x'.repeat(900)}","i":${i}}`));
    const { envelopes, deferred } = packBatch('ch', messages, { targetBytes: 8192, maxBytes: 262144, deferTail: false });
    expect(deferred).toEqual([]);
    expect(envelopes.flatMap((e) => e.messageIds)).toEqual(messages.map((m) => m.messageId));
    for (const e of envelopes) expect(e.sizeBytes).toBeLessThanOrEqual(8192);
    const huge = msg('h', Buffer.alloc(131072, 7));
    const one = packBatch('ch', [huge], { targetBytes: 4096, maxBytes: 262144, deferTail: false });
    expect(one.envelopes[0]!.sizeBytes).toBeLessThanOrEqual(262144);
  });

  it('with deferTail, messages spilling a little into a new 4 KB unit are handed back, and what is sent fills whole units', () => {
    const messages = Array.from({ length: 30 }, (_, i) => msg(`m${i}`, `{"reading":"${'y'.repeat(100)}","i":${i}}`));
    const full = packBatch('ch', messages, { targetBytes: 65536, maxBytes: 262144, deferTail: false });
    const packed = packBatch('ch', messages, { targetBytes: 65536, maxBytes: 262144, deferTail: true });
    expect(full.envelopes[0]!.sizeBytes % BILLING_UNIT_BYTES).not.toBe(0);
    expect(packed.deferred.length).toBeGreaterThan(0);
    const sent = packed.envelopes[0]!;
    expect(sent.units).toBe(Math.floor(full.envelopes[0]!.sizeBytes / BILLING_UNIT_BYTES));
    expect([...sent.messageIds, ...packed.deferred.map((m) => m.messageId)]).toEqual(messages.map((m) => m.messageId));
  });

  it('deferTail never holds back a batch smaller than one unit', () => {
    const { envelopes, deferred } = packBatch('ch', [msg('a', '{"x":1}')], { targetBytes: 65536, maxBytes: 262144, deferTail: true });
    expect(deferred).toEqual([]);
    expect(envelopes).toHaveLength(1);
  });

  it('a message fragment is valid JSON for ids that need escaping', () => {
    expect(JSON.parse(messageFragment(msg('a"b\\c', '1')))).toEqual({ id: 'a"b\\c', requestId: 'a"b\\c', acceptedAt: 1700000000000, json: 1 });
  });
});
