import { describe, expect, it } from 'vitest';
import { collectParam, parseParam } from '../../../cli/params.js';

describe('cli/params', () => {
  it('values that parse as JSON are JSON, anything else is the literal text', () => {
    expect(parseParam('@n=5')).toEqual({ name: '@n', value: 5 });
    expect(parseParam('@s="5"')).toEqual({ name: '@s', value: '5' });
    expect(parseParam('@b=true')).toEqual({ name: '@b', value: true });
    expect(parseParam('@o={"a":[1]}')).toEqual({ name: '@o', value: { a: [1] } });
    expect(parseParam('@d=dev-1')).toEqual({ name: '@d', value: 'dev-1' });
    expect(parseParam('@e=')).toEqual({ name: '@e', value: '' });
    expect(parseParam('@q=a=b')).toEqual({ name: '@q', value: 'a=b' });
  });

  it('a parameter without @name= is refused, quoting it', () => {
    expect(() => parseParam('d=dev1')).toThrow("--param: 'd=dev1' must look like @name=value");
    expect(() => parseParam('@d')).toThrow("--param: '@d'");
    expect(() => parseParam('@1x=2')).toThrow("--param: '@1x=2'");
  });

  it('repeated --param accumulate; the same name twice is refused', () => {
    const both = collectParam('@b=2', collectParam('@a=1'));
    expect(both).toEqual([
      { name: '@a', value: 1 },
      { name: '@b', value: 2 },
    ]);
    expect(() => collectParam('@a=3', both)).toThrow('--param: @a is given twice');
  });
});
