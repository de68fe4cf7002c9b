import { describe, expect, it } from 'vitest';
import { checkRawPayload, decodeMessage, parsePutRequest, routeTopic } from '../../../edge-module/inputs/parse.js';

const put = (o: unknown) => Buffer.from(JSON.stringify(o));

describe('topics', () => {
  it('routes the two predefined topics by channel and everything else to the default channel', () => {
    expect(routeTopic('iotanalytics/channels/my_channel/messages/put')).toEqual({ kind: 'put', channel: 'my_channel' });
    expect(routeTopic('iotanalytics/channels/my_channel/messages/binary/put')).toEqual({ kind: 'binary', channel: 'my_channel' });
    expect(routeTopic('iotanalytics/channels/a/b/messages/put')).toEqual({ kind: 'default' });
    expect(routeTopic('sensors/1')).toEqual({ kind: 'default' });
  });
  it('recognises the status topic so it is never ingested', () => {
    expect(routeTopic('iotanalytics/messages/put/status')).toEqual({ kind: 'status' });
  });
});

describe('put message decoding', () => {
  it('a JSON message string is sent as its own UTF-8 bytes, verbatim', () => {
    const r = parsePutRequest(put({ request: { message: '{"temp": 23.33}' }, id: 'req123' }));
    expect(r).toEqual({ ok: true, id: 'req123', payload: Buffer.from('{"temp": 23.33}'), form: 'json' });
  });
  it('a bare number, boolean or quoted string is JSON', () => {
    for (const m of ['42', 'true', '"x"', 'null']) expect(decodeMessage(m)).toEqual({ ok: true, payload: Buffer.from(m), form: 'json' });
  });
  it('a non-JSON string must be base64 and is carried as its (normalised) characters, not decoded', () => {
    expect(decodeMessage('aGk=')).toEqual({ ok: true, payload: Buffer.from('aGk='), form: 'base64' });
    expect(decodeMessage('aGk')).toEqual({ ok: true, payload: Buffer.from('aGk='), form: 'base64' });
    expect(decodeMessage('aGl')).toMatchObject({ ok: false });
    expect(decodeMessage('not base64!')).toMatchObject({ ok: false });
    expect(decodeMessage('')).toMatchObject({ ok: false, reason: 'request.message is empty' });
  });
  it('a missing id is allowed (one is generated later); a non-string id is refused', () => {
    expect(parsePutRequest(put({ request: { message: '1' } }))).toMatchObject({ ok: true, id: undefined });
    expect(parsePutRequest(put({ request: { message: '1' }, id: 5 }))).toMatchObject({ ok: false, code: 'InvalidRequestException', id: '5' });
  });
  it('malformed requests are refused with InvalidRequestException, keeping the id when there is one', () => {
    expect(parsePutRequest(Buffer.from('{'))).toMatchObject({ ok: false, code: 'InvalidRequestException', id: undefined });
    expect(parsePutRequest(put([1]))).toMatchObject({ ok: false, code: 'InvalidRequestException' });
    expect(parsePutRequest(put({ id: 'a' }))).toMatchObject({ ok: false, id: 'a', message: 'the request has no "request" object' });
    expect(parsePutRequest(put({ request: {}, id: 'b' }))).toMatchObject({ ok: false, id: 'b', message: 'request.message is missing' });
    expect(parsePutRequest(put({ request: { message: 1 }, id: 'c' }))).toMatchObject({ ok: false, id: 'c' });
  });
  it('a payload over 128 KB is refused with MessageTooLargeException', () => {
    const big = Buffer.alloc(98_305, 1).toString('base64');
    expect(parsePutRequest(put({ request: { message: big }, id: 'big' }))).toMatchObject({ ok: false, code: 'MessageTooLargeException', id: 'big' });
    expect(checkRawPayload(Buffer.alloc(131_073))).toMatchObject({ ok: false, code: 'MessageTooLargeException' });
    expect(checkRawPayload(Buffer.alloc(131_072))).toMatchObject({ ok: true });
  });
});
