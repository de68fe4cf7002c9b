/** Errors for the terminal: one line out of an SDK or DuckDB error, no stack, no multi-line caret display. */
export function oneLine(err: unknown): string {
  const message = (err as { message?: unknown })?.message;
  const first = (typeof message === 'string' && message ? message : String(err)).split('\n')[0]!.trim();
  return first.length > 300 ? `${first.slice(0, 299)}…` : first;
}
