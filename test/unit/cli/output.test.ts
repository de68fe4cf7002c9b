import { describe, expect, it } from 'vitest';
import { asRows, columnsOf, formatCsv, formatResults, formatTable, resolveFormat } from '../../../cli/output.js';

describe('cli/output', () => {
  it('defaults to a table on a TTY and JSON Lines otherwise; --format wins', () => {
    expect(resolveFormat(undefined, true)).toBe('table');
    expect(resolveFormat(undefined, false)).toBe('jsonl');
    expect(resolveFormat('csv', true)).toBe('csv');
  });

  it('an unknown --format is refused, naming the flag and the choices', () => {
    expect(() => resolveFormat('xml', false)).toThrow("--format: 'xml' is not one of table, jsonl, csv");
  });

  it('columns are the union of keys in first-seen order', () => {
    expect(columnsOf([{ a: 1 }, { b: 2, a: 3 }, { c: 4 }])).toEqual(['a', 'b', 'c']);
  });

  it('CSV quotes commas, quotes and newlines (RFC 4180) and writes objects as JSON', () => {
    expect(formatCsv([{ a: 'x,y', b: 'say "hi"', c: 'l1\nl2', d: { k: 1 }, e: null }])).toBe(
      'a,b,c,d,e\n"x,y","say ""hi""","l1\nl2","{""k"":1}",\n',
    );
  });

  it('a table pads columns, flattens newlines, clips long cells and counts rows', () => {
    const out = formatTable([
      { id: 'a', v: 'x'.repeat(70) },
      { id: 'bbb', v: 'two\nlines' },
    ]);
    const lines = out.split('\n');
    expect(lines[0]).toBe(`id  | v`);
    expect(lines[1]).toBe(`----+-${'-'.repeat(60)}`);
    expect(lines[2]).toBe(`a   | ${'x'.repeat(59)}…`);
    expect(lines[3]).toBe('bbb | two lines');
    expect(lines[4]).toBe('(2 rows)');
  });

  it('scalar results (SELECT VALUE) become a value column in table/CSV and stay scalars in JSON Lines', () => {
    expect(asRows([3, 'x'])).toEqual([{ value: 3 }, { value: 'x' }]);
    expect(formatResults('csv', [3])).toBe('value\n3\n');
    expect(formatResults('jsonl', [3, { a: 1 }])).toBe('3\n{"a":1}\n');
  });

  it('given columns keep their order even with no rows', () => {
    expect(formatResults('csv', [], ['n', 'm'])).toBe('n,m\n');
    expect(formatResults('table', [], ['n'])).toBe('n\n-\n(0 rows)\n');
  });
});
