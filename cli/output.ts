/**
 * Query results as text: an aligned table (for people, the default on a TTY), JSON Lines (for
 * programs, the default otherwise) or CSV (RFC 4180 quoting). Pure: rows in, text out.
 *
 * Results carry device data, so nothing reaches a terminal or a spreadsheet as an instruction:
 * - control characters (C0, DEL, C1) and bidirectional-text controls are written as visible escapes
 *   (`\x1b`, `\u{202e}`) in tables and terminal text, so a device string cannot move the cursor, change
 *   colours, retitle the window or reorder what is shown;
 * - JSON Lines escape the same characters as JSON `\uXXXX` (the value is unchanged for a JSON reader);
 * - a CSV cell holding text that starts with `=`, `+`, `-`, `@`, tab or carriage return gets a leading
 *   `'` (OWASP CSV injection), so a spreadsheet shows it instead of evaluating it; numbers are not
 *   touched. CSV written to a terminal also has its control characters escaped.
 */
export type OutputFormat = 'table' | 'jsonl' | 'csv';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'jsonl', 'csv'];

export type Row = Record<string, unknown>;

/** `--format` when given (validated), else table on a TTY and JSON Lines otherwise. */
export function resolveFormat(flag: string | undefined, isTty: boolean): OutputFormat {
  if (flag === undefined) return isTty ? 'table' : 'jsonl';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(flag)) {
    throw new Error(`--format: '${flag}' is not one of ${OUTPUT_FORMATS.join(', ')}`);
  }
  return flag as OutputFormat;
}

/** Column order: as first seen across the rows. */
export function columnsOf(rows: readonly Row[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
  return [...seen];
}

/** A cell as text: strings as they are, null/undefined empty, everything else as JSON. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

// C0 (but \n, kept as the line break), DEL, C1, and the Unicode bidirectional-text controls.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const TERMINAL_UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

function visibleEscape(char: string): string {
  const code = char.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** Text for a terminal: every control character but the line break as a visible escape. */
export function terminalText(text: string): string {
  return text.replace(TERMINAL_UNSAFE, visibleEscape);
}

const MAX_TABLE_CELL_CHARS = 60;

/** One table cell: line breaks and tabs flattened to a space, other controls escaped, long text clipped. */
function clip(text: string): string {
  const flat = terminalText(text.replace(/[\r\n\t]+/g, ' '));
  return flat.length > MAX_TABLE_CELL_CHARS ? `${flat.slice(0, MAX_TABLE_CELL_CHARS - 1)}…` : flat;
}

export function formatTable(rows: readonly Row[], columns = columnsOf(rows)): string {
  if (columns.length === 0) return `(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})\n`;
  const cells = rows.map((row) => columns.map((c) => clip(cellText(row[c]))));
  const header = columns.map(clip);
  const widths = header.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join(' | ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('-+-'), ...cells.map(line)];
  out.push(`(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})`);
  return out.join('\n') + '\n';
}

const jsonEscape = (char: string): string => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** One JSON value per line, as the query returned it (JSON.stringify escapes C0; the rest here). */
export function formatJsonLines(rows: readonly unknown[]): string {
  return rows.map((r) => JSON.stringify(r).replace(JSON_UNSAFE, jsonEscape) + '\n').join('');
}

const FORMULA_START = /^[=+\-@\t\r]/;

/** A CSV field: text that a spreadsheet would evaluate gets a leading `'`; RFC 4180 quoting. */
function csvField(value: unknown, terminal: boolean): string {
  let text = cellText(value);
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  if (terminal) text = terminalText(text);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export interface FormatOptions {
  /** The text goes to a terminal: CSV gets its control characters escaped too. */
  readonly terminal?: boolean;
}

export function formatCsv(rows: readonly Row[], columns = columnsOf(rows), options: FormatOptions = {}): string {
  const terminal = options.terminal ?? false;
  const lines = [columns.map((c) => csvField(c, terminal)).join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvField(row[c], terminal)).join(','));
  return lines.join('\n') + '\n';
}

/**
 * Rows for table/CSV: query results that are not objects (`SELECT VALUE …`) become `{ value }`.
 * JSON Lines keeps them as they are.
 */
export function asRows(results: readonly unknown[]): Row[] {
  return results.map((r) => (r !== null && typeof r === 'object' && !Array.isArray(r) ? (r as Row) : { value: r }));
}

export function formatResults(
  format: OutputFormat,
  results: readonly unknown[],
  columns?: string[],
  options: FormatOptions = {},
): string {
  if (format === 'jsonl') return formatJsonLines(results);
  const rows = asRows(results);
  return format === 'csv'
    ? formatCsv(rows, columns ?? columnsOf(rows), options)
    : formatTable(rows, columns ?? columnsOf(rows));
}
