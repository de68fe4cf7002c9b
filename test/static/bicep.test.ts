/**
 * The static tests' Bicep reader (test/static/bicep.ts): what it understands, on small inputs.
 */
import { describe, expect, it } from 'vitest';
import { entry, literalEntry, literalOf, objectEntries, parseBicep, tokenize } from './bicep.js';

describe('tokenize', () => {
  it('drops line and block comments but keeps // inside strings', () => {
    const tokens = tokenize("// a\nvar u = 'https://x/y' /* b\nc */ // d\n");
    expect(tokens.filter((t) => t.kind !== 'newline').map((t) => t.value)).toEqual(['var', 'u', '=', 'https://x/y']);
  });

  it('reads escapes, and keeps interpolations (with nested strings) verbatim and flagged', () => {
    const [plain, interpolated] = tokenize("'it\\'s' '${concat('a}', b)}-x'").filter((t) => t.kind === 'string');
    expect(plain).toMatchObject({ value: "it's", interpolated: false });
    expect(interpolated).toMatchObject({ value: "${concat('a}', b)}-x", interpolated: true });
  });

  it('reads multi-line verbatim strings and counts their lines', () => {
    const tokens = tokenize("var s = '''\nline ${x}\n'''\nvar t = 1");
    expect(tokens.find((t) => t.kind === 'string')).toMatchObject({ value: '\nline ${x}\n', interpolated: false });
    expect(tokens.find((t) => t.value === 't')?.line).toBe(4);
  });
});

describe('parseBicep', () => {
  const source = [
    "targetScope = 'subscription'",
    '@secure()',
    "@description('the key')",
    'param key string',
    '@allowed([',
    "  'a'",
    "  'b'",
    '])',
    "param choice string = 'a'",
    "param list array = ['x', 'y']",
    'param n int = -1',
    "param optional string?",
    "param computed string = '${choice}-1'",
    "module m 'app/m.bicep' = if (true) {",
    "  name: 'm'",
    '  params: {',
    '    a: choice',
    "    'b-c': { nested: [1, 2] }",
    '  }',
    '}',
    "resource r 'Microsoft.X/y@2024-01-01' existing = {",
    "  name: 'r'",
    '}',
    'output o string = m.outputs.value',
  ].join('\n');
  const file = parseBicep(source);

  it('reads the target scope, parameters, their decorators and literal defaults', () => {
    expect(file.targetScope).toBe('subscription');
    expect(file.params.get('key')).toMatchObject({ type: 'string', hasDefault: false, decorators: ['secure', 'description'] });
    expect(file.params.get('choice')).toMatchObject({ defaultValue: 'a', decorators: ['allowed'] });
    expect(file.params.get('list')?.defaultValue).toEqual(['x', 'y']);
    expect(file.params.get('n')?.defaultValue).toBe(-1);
    expect(file.params.get('optional')).toMatchObject({ type: 'string?', hasDefault: false });
    // An interpolated default is an expression, not a literal.
    expect(file.params.get('computed')).toMatchObject({ hasDefault: true, defaultValue: undefined });
  });

  it('reads modules (also conditional ones), resources and outputs', () => {
    expect(file.modules.map((m) => [m.symbol, m.path])).toEqual([['m', 'app/m.bicep']]);
    expect(file.resources).toMatchObject([{ symbol: 'r', type: 'Microsoft.X/y@2024-01-01', existing: true }]);
    expect([...file.outputs.keys()]).toEqual(['o']);
  });

  it('lists an object literal\'s top-level keys and reads literal values', () => {
    const m = file.modules[0]!;
    expect(objectEntries(file.tokens, m.bodyStart).map((e) => e.key)).toEqual(['name', 'params']);
    expect(literalEntry(file.tokens, m.bodyStart, 'name')).toBe('m');
    const params = entry(file.tokens, m.bodyStart, 'params')!;
    expect(objectEntries(file.tokens, params.start).map((e) => e.key)).toEqual(['a', 'b-c']);
    expect(literalEntry(file.tokens, params.start, 'a')).toBeUndefined();
  });

  it('refuses what it does not understand instead of guessing', () => {
    expect(() => tokenize('var x = 1 # 2')).toThrow(/unexpected character '#'/);
    expect(() => tokenize("var x = 'open")).toThrow(/unterminated/);
    expect(literalOf([])).toBeUndefined();
  });
});
