/**
 * A deliberately small Bicep reader for the static tests: no Bicep compiler runs here, so these checks read
 * the source text. It is NOT a Bicep parser. What it understands:
 * - tokens: comments (dropped), strings ('…' with escapes and `${…}` interpolation, '''…''' verbatim),
 *   identifiers, numbers, punctuation, newlines;
 * - top-level declarations: `param`, `var`, `module`, `resource`, `output` (name, type/path, default literal,
 *   decorators such as @secure());
 * - object literals: their top-level keys and the token span of a key's value.
 * Expressions are never evaluated; a value is only read when it is a literal (string without interpolation,
 * number, bool, or an array of those).
 */

export type Token =
  | { readonly kind: 'string'; readonly value: string; readonly raw: string; readonly interpolated: boolean; readonly line: number }
  | { readonly kind: 'ident' | 'number' | 'punct'; readonly value: string; readonly line: number }
  | { readonly kind: 'newline'; readonly value: '\n'; readonly line: number };

const PUNCT = '{}[]()=:,.@?!<>|&+-*/%';

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const n = source.length;
  while (i < n) {
    const c = source[i] as string;
    if (c === '\n') {
      tokens.push({ kind: 'newline', value: '\n', line });
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '/' && source[i + 1] === '/') {
      while (i < n && source[i] !== '\n') i++;
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      for (let k = i; k < stop; k++) if (source[k] === '\n') line++;
      i = stop;
    } else if (source.startsWith("'''", i)) {
      const end = source.indexOf("'''", i + 3);
      if (end < 0) throw new Error(`unterminated ''' string at line ${line}`);
      const value = source.slice(i + 3, end);
      tokens.push({ kind: 'string', value, raw: source.slice(i, end + 3), interpolated: false, line });
      for (const ch of value) if (ch === '\n') line++;
      i = end + 3;
    } else if (c === "'") {
      const start = i;
      const startLine = line;
      const [value, next, interpolated] = readString(source, i + 1, () => line++);
      tokens.push({ kind: 'string', value, raw: source.slice(start, next), interpolated, line: startLine });
      i = next;
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(source[j] as string)) j++;
      tokens.push({ kind: 'ident', value: source.slice(i, j), line });
      i = j;
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < n && /[0-9.]/.test(source[j] as string)) j++;
      tokens.push({ kind: 'number', value: source.slice(i, j), line });
      i = j;
    } else if (PUNCT.includes(c)) {
      tokens.push({ kind: 'punct', value: c, line });
      i++;
    } else {
      throw new Error(`unexpected character '${c}' at line ${line}`);
    }
  }
  return tokens;
}

/**
 * Reads a single-quoted string body from `start` (just after the quote). Interpolations `${…}` are kept
 * verbatim in the value (so `'${a}-x'` reads as `${a}-x`); nested strings inside them are skipped.
 */
function readString(source: string, start: number, onNewline: () => void): [string, number, boolean] {
  let i = start;
  let value = '';
  let interpolated = false;
  while (i < source.length) {
    const c = source[i] as string;
    if (c === '\\') {
      const e = source[i + 1];
      value += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : (e ?? '');
      i += 2;
    } else if (c === "'") {
      return [value, i + 1, interpolated];
    } else if (c === '$' && source[i + 1] === '{') {
      interpolated = true;
      let depth = 1;
      let j = i + 2;
      while (j < source.length && depth > 0) {
        const d = source[j] as string;
        if (d === "'") {
          j = readString(source, j + 1, onNewline)[1];
          continue;
        }
        if (d === '{') depth++;
        else if (d === '}') depth--;
        j++;
      }
      value += source.slice(i, j);
      i = j;
    } else {
      if (c === '\n') onNewline();
      value += c;
      i++;
    }
  }
  throw new Error('unterminated string');
}

export type Literal = string | number | boolean | readonly Literal[];

export interface ParamDecl {
  readonly name: string;
  readonly type: string;
  readonly decorators: readonly string[];
  /** True when the declaration has `= <default>`. */
  readonly hasDefault: boolean;
  /** The default when it is a literal; undefined for expressions or no default. */
  readonly defaultValue: Literal | undefined;
  /** The default expression's tokens (empty without a default). */
  readonly defaultTokens: readonly Token[];
}

export interface ModuleDecl {
  readonly symbol: string;
  readonly path: string;
  /** Index of the body's `{` in the token list. */
  readonly bodyStart: number;
}

export interface ResourceDecl {
  readonly symbol: string;
  readonly type: string;
  readonly existing: boolean;
  readonly bodyStart: number;
}

export interface BicepFile {
  readonly tokens: readonly Token[];
  readonly params: ReadonlyMap<string, ParamDecl>;
  readonly vars: ReadonlyMap<string, { readonly start: number; readonly end: number }>;
  readonly modules: readonly ModuleDecl[];
  readonly resources: readonly ResourceDecl[];
  readonly outputs: ReadonlyMap<string, { readonly type: string }>;
  readonly targetScope: string | undefined;
}

export function parseBicep(source: string): BicepFile {
  const tokens = tokenize(source);
  const params = new Map<string, ParamDecl>();
  const vars = new Map<string, { start: number; end: number }>();
  const modules: ModuleDecl[] = [];
  const resources: ResourceDecl[] = [];
  const outputs = new Map<string, { type: string }>();
  let targetScope: string | undefined;
  let decorators: string[] = [];

  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i] as Token;
    if (t.kind === 'newline') {
      i++;
      continue;
    }
    if (t.kind === 'punct' && t.value === '@') {
      const name = tokens[i + 1];
      if (name?.kind === 'ident') decorators.push(name.value);
      i = skipExpression(tokens, i + 1);
      continue;
    }
    if (t.kind !== 'ident') {
      i = skipExpression(tokens, i);
      continue;
    }
    const name = tokens[i + 1];
    switch (t.value) {
      case 'targetScope': {
        const v = tokens[i + 2];
        if (v?.kind === 'string') targetScope = v.value;
        i = skipExpression(tokens, i);
        break;
      }
      case 'param': {
        if (name?.kind !== 'ident') throw new Error(`param without a name at line ${t.line}`);
        let j = i + 2;
        const typeTokens: string[] = [];
        while (j < tokens.length && !isPunct(tokens[j], '=') && tokens[j]?.kind !== 'newline') {
          typeTokens.push((tokens[j] as Token).value);
          j++;
        }
        let defaultTokens: Token[] = [];
        let end = j;
        if (isPunct(tokens[j], '=')) {
          end = skipExpression(tokens, j + 1);
          defaultTokens = tokens.slice(j + 1, end).filter((x) => x.kind !== 'newline');
        }
        params.set(name.value, {
          name: name.value,
          type: typeTokens.join(''),
          decorators,
          hasDefault: isPunct(tokens[j], '='),
          defaultValue: literalOf(defaultTokens),
          defaultTokens,
        });
        i = end;
        break;
      }
      case 'var': {
        if (name?.kind !== 'ident') throw new Error(`var without a name at line ${t.line}`);
        const eq = indexOfPunct(tokens, i, '=');
        const end = skipExpression(tokens, eq + 1);
        vars.set(name.value, { start: eq + 1, end });
        i = end;
        break;
      }
      case 'module':
      case 'resource': {
        const pathToken = tokens[i + 2];
        if (name?.kind !== 'ident' || pathToken?.kind !== 'string') {
          throw new Error(`${t.value} declaration not understood at line ${t.line}`);
        }
        const eq = indexOfPunct(tokens, i, '=');
        const existing = tokens[i + 3]?.value === 'existing';
        let bodyStart = eq + 1;
        // `= if (cond) {` and `= [for … : {` put the object later; find the first `{` of this declaration.
        while (bodyStart < tokens.length && !isPunct(tokens[bodyStart], '{')) bodyStart++;
        if (t.value === 'module') modules.push({ symbol: name.value, path: pathToken.value, bodyStart });
        else resources.push({ symbol: name.value, type: pathToken.value, existing, bodyStart });
        i = skipExpression(tokens, eq + 1);
        break;
      }
      case 'output': {
        if (name?.kind !== 'ident') throw new Error(`output without a name at line ${t.line}`);
        const type = tokens[i + 2];
        outputs.set(name.value, { type: type?.value ?? '' });
        i = skipExpression(tokens, indexOfPunct(tokens, i, '=') + 1);
        break;
      }
      default:
        i = skipExpression(tokens, i);
    }
    decorators = [];
  }
  return { tokens, params, vars, modules, resources, outputs, targetScope };
}

function isPunct(t: Token | undefined, value: string): boolean {
  return t?.kind === 'punct' && t.value === value;
}

function indexOfPunct(tokens: readonly Token[], from: number, value: string): number {
  for (let i = from; i < tokens.length; i++) if (isPunct(tokens[i], value)) return i;
  throw new Error(`expected '${value}' after line ${tokens[from]?.line ?? '?'}`);
}

/** Index just after the expression starting at `from`: ends at a newline outside any bracket. */
export function skipExpression(tokens: readonly Token[], from: number): number {
  let depth = 0;
  let i = from;
  while (i < tokens.length) {
    const t = tokens[i] as Token;
    if (t.kind === 'punct' && '{[('.includes(t.value)) depth++;
    else if (t.kind === 'punct' && '}])'.includes(t.value)) {
      depth--;
      if (depth < 0) return i;
    } else if (t.kind === 'newline' && depth === 0 && i > from) return i;
    i++;
  }
  return i;
}

/** Index of the bracket closing the one at `open`. */
export function matching(tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    if (t.kind === 'punct' && '{[('.includes(t.value)) depth++;
    else if (t.kind === 'punct' && '}])'.includes(t.value)) {
      depth--;
      if (depth === 0) return i;
    }
  }
  throw new Error(`unbalanced bracket at line ${tokens[open]?.line ?? '?'}`);
}

export interface ObjectEntry {
  readonly key: string;
  readonly line: number;
  /** Token span of the value: [start, end). */
  readonly start: number;
  readonly end: number;
}

/** The top-level entries of the object literal whose `{` is at `open`. */
export function objectEntries(tokens: readonly Token[], open: number): ObjectEntry[] {
  if (!isPunct(tokens[open], '{')) throw new Error(`expected '{' at line ${tokens[open]?.line ?? '?'}`);
  const close = matching(tokens, open);
  const entries: ObjectEntry[] = [];
  let i = open + 1;
  while (i < close) {
    const t = tokens[i] as Token;
    if (t.kind === 'newline' || isPunct(t, ',')) {
      i++;
      continue;
    }
    if ((t.kind === 'ident' || t.kind === 'string') && isPunct(tokens[i + 1], ':')) {
      const start = i + 2;
      let end = start;
      let depth = 0;
      while (end < close) {
        const v = tokens[end] as Token;
        if (v.kind === 'punct' && '{[('.includes(v.value)) depth++;
        else if (v.kind === 'punct' && '}])'.includes(v.value)) depth--;
        else if (depth === 0 && (v.kind === 'newline' || isPunct(v, ','))) break;
        end++;
      }
      entries.push({ key: t.value, line: t.line, start, end });
      i = end;
      continue;
    }
    i++;
  }
  return entries;
}

/** The value span of `key` in the object at `open`, or undefined. */
export function entry(tokens: readonly Token[], open: number, key: string): ObjectEntry | undefined {
  return objectEntries(tokens, open).find((e) => e.key === key);
}

/** A literal value from a token span, or undefined when it is an expression. */
export function literalOf(span: readonly Token[]): Literal | undefined {
  const tokens = span.filter((t) => t.kind !== 'newline');
  if (tokens.length === 0) return undefined;
  const first = tokens[0] as Token;
  if (tokens.length === 1) {
    if (first.kind === 'string') return first.interpolated ? undefined : first.value;
    if (first.kind === 'number') return Number(first.value);
    if (first.kind === 'ident' && (first.value === 'true' || first.value === 'false')) return first.value === 'true';
    return undefined;
  }
  if (tokens.length === 2 && isPunct(first, '-') && tokens[1]?.kind === 'number') return -Number(tokens[1].value);
  if (isPunct(first, '[') && isPunct(tokens[tokens.length - 1], ']')) {
    const items: Literal[] = [];
    for (const t of tokens.slice(1, -1)) {
      if (isPunct(t, ',')) continue;
      const v = literalOf([t]);
      if (v === undefined) return undefined;
      items.push(v);
    }
    return items;
  }
  return undefined;
}

/** The literal value of the entry `key` in the object at `open`. */
export function literalEntry(tokens: readonly Token[], open: number, key: string): Literal | undefined {
  const e = entry(tokens, open, key);
  return e ? literalOf(tokens.slice(e.start, e.end)) : undefined;
}

/** Source text of a token span, for error messages and simple pattern checks. */
export function textOf(tokens: readonly Token[], start: number, end: number): string {
  return tokens
    .slice(start, end)
    .filter((t) => t.kind !== 'newline')
    .map((t) => (t.kind === 'string' ? t.raw : t.value))
    .join(' ');
}
