import { describe, expect, it } from 'vitest';
import { formatCsv, formatJsonLines, formatResults, formatTable, terminalText } from '../../../cli/output.js';

const ESC = '\u001b';
/** Any C0 control but the line break, DEL, C1, or a bidi control: what a terminal would act on. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

describe('cli/output: device strings are shown, never interpreted', () => {
  it('terminal text escapes C0, DEL, C1 and bidi controls visibly and keeps the line breaks', () => {
    const text = `title${ESC}]0;pwned\u0007 bell\r\ttab del\u007f csi\u009b31m rlo\u202eevil\nnext line`;
    expect(terminalText(text)).toBe(
      'title\\x1b]0;pwned\\x07 bell\\x0d\\x09tab del\\x7f csi\\x9b31m rlo\\u{202e}evil\nnext line',
    );
    expect(terminalText(text)).not.toMatch(RAW);
  });

  it('a table escapes control characters in cells and in column names, after flattening line breaks', () => {
    const out = formatTable([{ [`k${ESC}[1m`]: `red${ESC}[31m\nline two`, n: 1 }]);
    expect(out).not.toMatch(RAW);
    const [header, , row] = out.split('\n');
    expect(header).toBe(`${'k\\x1b[1m'.padEnd('red\\x1b[31m line two'.length)} | n`);
    expect(row).toBe('red\\x1b[31m line two | 1');
  });

  it('JSON Lines escape DEL, C1 and bidi controls as \\u escapes: valid JSON with the same value', () => {
    const value = { note: `a${ESC}b\u009bc\u202ed\u007f` };
    const line = formatJsonLines([value]);
    expect(line).not.toMatch(RAW);
    expect(line).toBe('{"note":"a\\u001bb\\u009bc\\u202ed\\u007f"}\n');
    expect(JSON.parse(line)).toEqual(value);
  });

  it('CSV text cells starting with = + - @ tab or CR get a leading quote (OWASP); numbers and other text do not', () => {
    const rows = [
      { v: '=1+1' },
      { v: '+SUM(A1)' },
      { v: '-2+3' },
      { v: '@cmd' },
      { v: '\tx' },
      { v: '\r=1' },
      { v: -5 },
      { v: 'a=b' },
      { v: { k: '=x' } },
    ];
    expect(formatCsv(rows).split('\n').slice(1, -1)).toEqual([
      "'=1+1",
      "'+SUM(A1)",
      "'-2+3",
      "'@cmd",
      "'\tx",
      `"'\r=1"`,
      '-5',
      'a=b',
      '"{""k"":""=x""}"',
    ]);
  });

  it('a CSV column name that would be a formula is neutralised too (keys can come from device JSON)', () => {
    expect(formatCsv([{ '=cmd|x': 1 }])).toBe("'=cmd|x\n1\n");
  });

  it('CSV to a terminal also escapes control characters; to a file it keeps them exactly', () => {
    const rows = [{ note: `x${ESC}[2Jy` }];
    expect(formatResults('csv', rows, undefined, { terminal: true })).toBe('note\nx\\x1b[2Jy\n');
    expect(formatResults('csv', rows)).toBe(`note\nx${ESC}[2Jy\n`);
  });
});
