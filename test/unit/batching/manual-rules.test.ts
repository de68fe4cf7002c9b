/**
 * The connector manual's rules on ids, duplicates and retries (issue 14 items 4-5), one test per rule,
 * each titled with the rule. The manual is /work/shared/seeds/greengrass-iot-analytics-connector.ko.txt;
 * the decisions where it is silent are in docs/contracts.md §7.
 */
import { describe, expect, it } from 'vitest';
import { outcomeFromBatchPutError } from '../../../batching/batch-put.js';
import { CONNECTOR_DEFAULTS, parseConnectorConfig } from '../../../batching/config.js';
import { Pump } from '../../../batching/pump.js';
import { toConnectorStatus } from '../../../batching/status.js';
import type { BatchOutcome, Failure, StatusReport } from '../../../batching/types.js';
import { DELIVERED } from '../../../batching/types.js';
import { bytes, engine } from './helpers.js';

const throttled: Failure = { code: 'ThrottlingException', message: 'Rate exceeded', retryable: true };
const failed = (failure: Failure): BatchOutcome => ({ type: 'failed', failure });
const LONG = 'x'.repeat(200);

describe('manual: "id" — an arbitrary id for the request, pattern .*; the response id is set to it', () => {
  it('any string is accepted as id, "" and over 128 characters included, and the status echoes it exactly', () => {
    const e = engine();
    const ids = ['', LONG, 'q"\u00e4 \n/+#', ' '];
    for (const id of ids) expect(e.offer({ channel: 'a', payload: bytes('{}'), requestId: id }, 0).accepted).toBe(true);
    const statuses = e.complete(e.tick(0).batches[0]!, DELIVERED, 1);
    expect(statuses.map((s) => s.statusId)).toEqual(ids);
    expect(statuses.map((s) => JSON.parse(toConnectorStatus(s)).id)).toEqual(ids);
  });

  it("the BatchPutMessage messageId is the device's id only when it is a valid messageId (1-128 characters), else a generated one", () => {
    const e = engine();
    for (const id of ['ok-id', '', LONG, '\u{1F600}'.repeat(128)]) e.offer({ channel: 'a', payload: bytes('{}'), requestId: id }, 0);
    const messages = e.tick(0).batches[0]!.messages;
    expect(messages.map((m) => m.messageId)).toEqual(['ok-id', 'gen-0', 'gen-1', '\u{1F600}'.repeat(128)]);
    expect(messages.map((m) => m.statusId)).toEqual(['ok-id', '', LONG, '\u{1F600}'.repeat(128)]);
  });

  it('if the id is omitted, the connector generates one, and the status carries it', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('{}') }, 0);
    const [status] = e.complete(e.tick(0).batches[0]!, DELIVERED, 1);
    expect(status).toMatchObject({ statusId: 'gen-0', messageId: 'gen-0' });
  });

  it('binary and customer-defined (#) topics: the response output has no id correlation', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('raw'), requestId: null }, 0);
    const [status] = e.complete(e.tick(0).batches[0]!, DELIVERED, 1);
    expect(status!.statusId).toBeUndefined();
    expect(toConnectorStatus(status!)).toBe('{"response":{"status":"success"}}');
  });

  it('every fail status for an input that had an id carries it', () => {
    const cases: Array<[string, Record<string, string>, (e: ReturnType<typeof engine>, id: string) => StatusReport[]]> = [
      ['invalid channel', {}, (e, id) => [...e.offer({ channel: 'bad/channel', payload: bytes('1'), requestId: id }, 0).statuses]],
      ['too large', {}, (e, id) => [...e.offer({ channel: 'a', payload: new Uint8Array(128 * 1024 + 1), requestId: id }, 0).statuses]],
      ['queue full', { IotAnalyticsQueueSizePerChannel: '1' }, (e, id) => {
        e.offer({ channel: 'a', payload: bytes('1') }, 0);
        return [...e.offer({ channel: 'a', payload: bytes('2'), requestId: id }, 0).statuses];
      }],
      ['memory full', { MemorySize: '1' }, (e, id) => [...e.offer({ channel: 'a', payload: new Uint8Array(2000), requestId: id }, 0).statuses]],
      ['too many channels', { IotAnalyticsMaxActiveChannels: '1' }, (e, id) => {
        e.offer({ channel: 'a', payload: bytes('1') }, 0);
        return [...e.offer({ channel: 'b', payload: bytes('2'), requestId: id }, 0).statuses];
      }],
      ['evicted', { IotAnalyticsQueueSizePerChannel: '1', IotAnalyticsQueueDropBehavior: 'DROP_OLDEST' }, (e, id) => {
        e.offer({ channel: 'a', payload: bytes('1'), requestId: id }, 0);
        return [...e.offer({ channel: 'a', payload: bytes('2') }, 0).statuses];
      }],
      ['rejected by the service', {}, (e, id) => {
        e.offer({ channel: 'a', payload: bytes('1'), requestId: id }, 0);
        return e.complete(e.tick(0).batches[0]!, failed({ code: 'ResourceNotFoundException', message: 'no channel', retryable: false }), 1);
      }],
    ];
    for (const id of ['', LONG, 'req123']) {
      for (const [name, values, run] of cases) {
        const fails = run(engine(values), id).filter((s) => s.status === 'fail');
        expect(fails, name).toHaveLength(1);
        expect(fails[0]!.statusId, name).toBe(id);
      }
    }
  });
});

describe('manual: "the connector checks that ids are unique in each outgoing BatchPutMessage request; messages with duplicate ids are cancelled"', () => {
  it('the cancelled duplicate is the later copy; its status says DuplicateMessageIdException and is published before the kept message\'s status', async () => {
    const e = engine({ PublishInterval: '0' });
    const published: string[] = [];
    let release: (o: BatchOutcome) => void = () => undefined;
    const pump = new Pump({
      engine: e,
      sink: { send: () => new Promise<BatchOutcome>((r) => (release = r)) },
      clock: { now: () => 0 },
      timer: { setTimeout: (f) => (queueMicrotask(f), 0), clearTimeout: () => undefined },
      onStatus: (s) => published.push(toConnectorStatus(s)),
    });
    pump.offer({ channel: 'a', payload: bytes('{"first":1}'), requestId: 'dup' });
    pump.offer({ channel: 'a', payload: bytes('{"second":2}'), requestId: 'dup' });
    const flushed = pump.flush(1);
    await Promise.resolve();
    expect(published).toHaveLength(1); // the cancelled copy: at once, before the kept message is even answered
    const cancelled = JSON.parse(published[0]!) as { response: { status: string; error: string; error_message: string }; id: string };
    expect(cancelled.id).toBe('dup');
    expect(cancelled.response.status).toBe('fail');
    expect(cancelled.response.error).toBe('DuplicateMessageIdException');
    expect(cancelled.response.error_message).toMatch(/^cancelled: this is a later message with id 'dup'.*the earlier message is sent and gets its own status$/);
    release(DELIVERED);
    await flushed;
    expect(published[1]).toBe('{"response":{"status":"success"},"id":"dup"}');
  });

  it('the check is on the outgoing messageIds: ids that are not valid messageIds get distinct generated ones and are never cancelled', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('1'), requestId: '' }, 0);
    e.offer({ channel: 'a', payload: bytes('2'), requestId: '' }, 0);
    const { batches, statuses } = e.tick(0);
    expect(statuses).toEqual([]);
    expect(batches[0]!.messages.map((m) => [m.messageId, m.statusId])).toEqual([
      ['gen-0', ''],
      ['gen-1', ''],
    ]);
  });
});

describe('manual: "requests with retryable errors are added back to the channel queue for further publishing according to IotAnalyticsQueueDropBehavior"', () => {
  /** Two messages in flight, then `fill` new ones queued while they are out, then a retryable failure. */
  function retryIntoQueue(behavior: string, fill: number) {
    const e = engine({ IotAnalyticsQueueSizePerChannel: '2', IotAnalyticsBatchSizePerChannel: '2', IotAnalyticsQueueDropBehavior: behavior, PublishInterval: '0' });
    for (const id of ['old1', 'old2']) e.offer({ channel: 'a', payload: bytes(id), requestId: id }, 0);
    const [batch] = e.tick(0).batches;
    for (let i = 0; i < fill; i++) e.offer({ channel: 'a', payload: bytes(`new${i}`), requestId: `new${i}` }, 0);
    const statuses = e.complete(batch!, failed(throttled), 10);
    return { e, statuses };
  }

  it('DROP_NEWEST: a retried message is refused like a new one when its queue is full (QueueFullException naming the last error)', () => {
    const { e, statuses } = retryIntoQueue('DROP_NEWEST', 1);
    expect(statuses.map((s) => [s.statusId, s.status === 'fail' && s.error])).toEqual([['old2', 'QueueFullException']]);
    expect((statuses[0] as { errorMessage: string }).errorMessage).toMatch(/not put back for a retry after ThrottlingException: Rate exceeded/);
    expect(e.tick(e.nextWakeAt(10)!).batches[0]!.messages.map((m) => m.messageId)).toEqual(['old1', 'new0']);
  });

  it('DROP_OLDEST: a retried message is the oldest, so it is the one evicted when its queue is full', () => {
    const { e, statuses } = retryIntoQueue('DROP_OLDEST', 1);
    expect(statuses.map((s) => [s.statusId, s.status === 'fail' && s.error])).toEqual([['old1', 'MessageEvictedException']]);
    expect(e.tick(e.nextWakeAt(10)!).batches[0]!.messages.map((m) => m.messageId)).toEqual(['old2', 'new0']);
  });

  it('with room in the queue, retried messages go back to the front, in order, ahead of newer ones', () => {
    const { e, statuses } = retryIntoQueue('DROP_NEWEST', 0);
    expect(statuses).toEqual([]);
    expect(e.stats().retried).toBe(2);
    expect(e.tick(e.nextWakeAt(10)!).batches[0]!.messages.map((m) => m.messageId)).toEqual(['old1', 'old2']);
  });

  it('no interim status: a retried message has no status until its final one', () => {
    const { e, statuses } = retryIntoQueue('DROP_NEWEST', 0);
    expect(statuses).toEqual([]);
    const retry = e.tick(e.nextWakeAt(10)!).batches[0]!;
    expect(e.complete(retry, DELIVERED, 20).map((s) => [s.statusId, s.status])).toEqual([
      ['old1', 'success'],
      ['old2', 'success'],
    ]);
  });
});

describe('retries are bounded: RetryTimeoutSeconds (ours; the manual leaves retries unbounded)', () => {
  it('a message still failing retryably RetryTimeoutSeconds after it was accepted ends in a fail status carrying the last error', () => {
    const e = engine({ RetryTimeoutSeconds: '60', PublishInterval: '0' });
    e.offer({ channel: 'a', payload: bytes('1'), requestId: 'r' }, 0);
    expect(e.complete(e.tick(0).batches[0]!, failed(throttled), 59_999)).toEqual([]);
    const last: Failure = { code: 'ServiceUnavailableException', message: 'try later', retryable: true };
    const at = e.nextWakeAt(59_999)!;
    const [status] = e.complete(e.tick(at).batches[0]!, failed(last), at);
    expect(status).toMatchObject({ status: 'fail', statusId: 'r', error: 'ServiceUnavailableException', reason: 'expired' });
    expect((status as { errorMessage: string }).errorMessage).toMatch(/^try later \(still failing 60 s after it was accepted: RetryTimeoutSeconds=60; not retried again\)$/);
    expect(e.idle).toBe(true);
  });

  it('RetryTimeoutSeconds defaults to 7200, is parsed with the connector parameters, and a bad value is an error naming it', () => {
    expect(CONNECTOR_DEFAULTS.RetryTimeoutSeconds).toBe('7200');
    const ok = parseConnectorConfig({ MemorySize: '1' });
    expect(ok.ok && ok.config.retryTimeoutMs).toBe(7_200_000);
    const bad = parseConnectorConfig({ MemorySize: '1', RetryTimeoutSeconds: '-5' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues.map((i) => i.message)).toEqual(["RetryTimeoutSeconds: '-5' does not match ^$|^[1-9][0-9]*$ (seconds)"]);
  });

  it('non-retryable errors (bad credentials, missing channel) end at once, without a retry', () => {
    const errors = [
      Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
      Object.assign(new Error('The security token included in the request is invalid.'), { name: 'UnrecognizedClientException', $metadata: { httpStatusCode: 403 } }),
      Object.assign(new Error('A resource with the specified name could not be found.'), { name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 404 } }),
    ];
    for (const error of errors) {
      const e = engine({ PublishInterval: '0' });
      e.offer({ channel: 'a', payload: bytes('1'), requestId: 'r' }, 0);
      const [status] = e.complete(e.tick(0).batches[0]!, outcomeFromBatchPutError(error), 1);
      expect(status, error.name).toMatchObject({ status: 'fail', statusId: 'r', error: error.name, reason: 'rejected' });
      expect(e.stats().retried).toBe(0);
    }
  });
});
