import { describe, expect, it } from 'vitest';
import {
  decodePropertyBag,
  encodePropertyBag,
  hubMessageSizeBytes,
} from '../../../devstack/iothub/mqtt/property-bag.js';

describe('MQTT property bag', () => {
  it('decodes the SDK-observed bag: percent-encoded $-keys become system properties, the rest user properties', () => {
    const bag = decodePropertyBag(
      '%24.mid=m%201%2F%C3%A4&%24.cid=c1&%24.ct=application%2Fjson&%24.ce=utf-8&chan%20nel=a%26b%3Dc&%24custom=x',
    );
    expect(bag.systemProperties).toEqual({
      messageId: 'm 1/ä',
      correlationId: 'c1',
      contentType: 'application/json',
      contentEncoding: 'utf-8',
    });
    expect({ ...bag.applicationProperties }).toEqual({ 'chan nel': 'a&b=c', $custom: 'x' });
  });

  it('maps every documented system key', () => {
    const bag = decodePropertyBag('$.mid=1&$.cid=2&$.uid=3&$.ct=4&$.ce=5&$.on=6&$.exp=7&$.sub=8&$.ifid=9');
    expect(bag.systemProperties).toEqual({
      messageId: '1',
      correlationId: '2',
      userId: '3',
      contentType: '4',
      contentEncoding: '5',
      outputName: '6',
      expiryTimeUtc: '7',
      component: '8',
      interfaceId: '9',
    });
    expect(Object.keys(bag.applicationProperties)).toEqual([]);
  });

  it('splits on the first = only, drops the trailing / of output events, and accepts an empty bag', () => {
    expect(decodePropertyBag('%24.on=upstream/').systemProperties).toEqual({ outputName: 'upstream' });
    expect({ ...decodePropertyBag('k=a=b').applicationProperties }).toEqual({ k: 'a=b' });
    expect(decodePropertyBag('')).toEqual({ systemProperties: {}, applicationProperties: {} });
  });

  it('keeps __proto__ as an ordinary property name', () => {
    const bag = decodePropertyBag('__proto__=x');
    expect(Object.entries(bag.applicationProperties)).toEqual([['__proto__', 'x']]);
  });

  it('throws a message naming the bad encoding', () => {
    expect(() => decodePropertyBag('a=%E0%A4%A')).toThrow(/bad percent-encoding/);
  });

  it('encodes so that decoding (and the SDK, which splits on every = and /) gets the same values back', () => {
    const encoded = encodePropertyBag({ messageId: 'id/1', contentType: 'application/json' }, { 'a=b': 'c/d&e' });
    expect(encoded).not.toMatch(/[/]/);
    expect(encoded.split('&').every((pair) => pair.split('=').length === 2)).toBe(true);
    const decoded = decodePropertyBag(encoded);
    expect(decoded.systemProperties).toEqual({ messageId: 'id/1', contentType: 'application/json' });
    expect({ ...decoded.applicationProperties }).toEqual({ 'a=b': 'c/d&e' });
  });

  it('counts body + system values + user names and values in UTF-8 bytes', () => {
    const bag = decodePropertyBag('%24.mid=abc&k%C3%A4=v');
    expect(hubMessageSizeBytes(Buffer.alloc(10), bag)).toBe(10 + 3 + 3 + 1);
  });
});
