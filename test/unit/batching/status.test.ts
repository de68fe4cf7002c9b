import { describe, expect, it } from 'vitest';
import { toConnectorStatus } from '../../../batching/status.js';
import { DELIVERED } from '../../../batching/types.js';
import { bytes, engine } from './helpers.js';

describe("status messages in the connector's exact shape", () => {
  it("success matches the manual's output example", () => {
    const manual = '{ "response" : { "status" : "success" }, "id" : "req123" }';
    const e = engine();
    e.offer({ channel: 'my_channel', payload: bytes('{"temp":23.33}'), requestId: 'req123' }, 0);
    const [status] = e.complete(e.tick(0).batches[0]!, DELIVERED, 1);
    const text = toConnectorStatus(status!);
    expect(text).toBe('{"response":{"status":"success"},"id":"req123"}');
    expect(JSON.parse(text)).toEqual(JSON.parse(manual));
  });

  it("fail matches the manual's output example", () => {
    const manual =
      '{ "response" : { "status" : "fail", "error" : "ResourceNotFoundException", "error_message" : "A resource with the specified name could not be found." }, "id" : "req123" }';
    const e = engine();
    e.offer({ channel: 'my_channel', payload: bytes('{"temp":23.33}'), requestId: 'req123' }, 0);
    const [status] = e.complete(
      e.tick(0).batches[0]!,
      {
        type: 'failed',
        failure: {
          code: 'ResourceNotFoundException',
          message: 'A resource with the specified name could not be found.',
          retryable: false,
        },
      },
      1,
    );
    const text = toConnectorStatus(status!);
    expect(text).toBe(
      '{"response":{"status":"fail","error":"ResourceNotFoundException","error_message":"A resource with the specified name could not be found."},"id":"req123"}',
    );
    expect(JSON.parse(text)).toEqual(JSON.parse(manual));
  });

  it('a status without correlation has no id field', () => {
    const e = engine();
    e.offer({ channel: 'a', payload: bytes('raw'), requestId: null }, 0);
    const [status] = e.complete(e.tick(0).batches[0]!, DELIVERED, 1);
    expect(toConnectorStatus(status!)).toBe('{"response":{"status":"success"}}');
  });

  it('ids with quotes and unicode are escaped as JSON', () => {
    const e = engine();
    const result = e.offer({ channel: 'a', payload: new Uint8Array(200 * 1024), requestId: 'q"\u00e4' }, 0);
    expect(JSON.parse(toConnectorStatus(result.statuses[0]!)).id).toBe('q"\u00e4');
  });
});
