/**
 * Query results as text: an aligned table (for people, the default on a TTY), JSON Lines (for
 * programs, the default otherwise) or CSV (RFC 4180 quoting). Pure: rows in, text out.
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

const MAX_TABLE_CELL_CHARS = 60;

function clip(text: string): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ');
  return flat.length > MAX_TABLE_CELL_CHARS ? `${flat.slice(0, MAX_TABLE_CELL_CHARS - 1)}…` : flat;
}

export function formatTable(rows: readonly Row[], columns = columnsOf(rows)): string {
  if (columns.length === 0) return `(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})\n`;
  const cells = rows.map((row) => columns.map((c) => clip(cellText(row[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join(' | ')
      .trimEnd();
  const out = [line(columns), widths.map((w) => '-'.repeat(w)).join('-+-'), ...cells.map(line)];
  out.push(`(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})`);
  return out.join('\n') + '\n';
}

/** One JSON value per line, as the query returned it. */
export function formatJsonLines(rows: readonly unknown[]): string {
  return rows.map((r) => JSON.stringify(r) + '\n').join('');
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function formatCsv(rows: readonly Row[], columns = columnsOf(rows)): string {
  const lines = [columns.map(csvField).join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvField(cellText(row[c]))).join(','));
  return lines.join('\n') + '\n';
}

/**
 * Rows for table/CSV: query results that are not objects (`SELECT VALUE …`) become `{ value }`.
 * JSON Lines keeps them as they are.
 */
export function asRows(results: readonly unknown[]): Row[] {
  return results.map((r) => (r !== null && typeof r === 'object' && !Array.isArray(r) ? (r as Row) : { value: r }));
}

export function formatResults(format: OutputFormat, results: readonly unknown[], columns?: string[]): string {
  if (format === 'jsonl') return formatJsonLines(results);
  const rows = asRows(results);
  return format === 'csv' ? formatCsv(rows, columns ?? columnsOf(rows)) : formatTable(rows, columns ?? columnsOf(rows));
}
