/**
 * What the static tests read from the repository's own source, by pattern (no TypeScript compiler API):
 * the settings the Functions read, the Function triggers' consumer groups, the edge module's inputs,
 * outputs and environment variables, and the lists in docs/contracts.md. Each reader names the patterns
 * it understands; code written another way is not seen, so every test also asserts it found something.
 */
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function read(relative: string): string {
  return readFileSync(path.join(ROOT, relative), 'utf8');
}

export function exists(relative: string): boolean {
  return existsSync(path.join(ROOT, relative));
}

/** Files under `dir` (relative to the repo root) whose names end with one of `suffixes`, recursively. */
export function listFiles(dir: string, suffixes: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(ROOT, rel);
    if (!existsSync(abs)) return;
    for (const name of readdirSync(abs)) {
      const child = path.posix.join(rel, name);
      if (statSync(path.join(ROOT, child)).isDirectory()) walk(child);
      else if (suffixes.some((s) => name.endsWith(s))) out.push(child);
    }
  };
  walk(dir);
  return out.sort();
}

/** Source files of a folder, without tests or declaration files. */
export function sourceFiles(dir: string): string[] {
  return listFiles(dir, ['.ts']).filter((f) => !f.endsWith('.test.ts') && !f.endsWith('.d.ts'));
}

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

const NAME = '[A-Za-z_][A-Za-z0-9_]*';

/**
 * App settings read by functions/: `process.env.X`, `process.env['X']`, the settings reader's
 * `get('X')` / `need('X', …)` / `url('X', …)` / `settings['X']`, a trigger's `connection: 'X'` and
 * `'%X%'` binding expressions.
 */
export function settingsReadByFunctions(): Map<string, string[]> {
  const patterns = [
    new RegExp(`process\\.env\\.(${NAME})`, 'g'),
    new RegExp(`process\\.env\\[\\s*['"](${NAME})['"]\\s*\\]`, 'g'),
    new RegExp(`\\b(?:get|need|url)\\(\\s*['"](${NAME})['"]`, 'g'),
    new RegExp(`\\bsettings\\[\\s*['"](${NAME})['"]\\s*\\]`, 'g'),
    new RegExp(`\\bconnection\\s*:\\s*['"](${NAME})['"]`, 'g'),
    new RegExp(`\\b[A-Z_]*CONNECTION[A-Z_]*\\s*=\\s*['"](${NAME})['"]`, 'g'),
    new RegExp(`['"]%(${NAME})%['"]`, 'g'),
  ];
  const found = new Map<string, string[]>();
  for (const file of sourceFiles('functions')) {
    const text = stripComments(read(file));
    for (const re of patterns) {
      for (const m of text.matchAll(re)) {
        const name = m[1] as string;
        found.set(name, [...new Set([...(found.get(name) ?? []), file])]);
      }
    }
  }
  return found;
}

/**
 * The consumer groups of the Function triggers: `consumerGroup: 'x'` and the registration helper's
 * `defineEventHubFunction(NAME, 'x', …)` (functions/registration.ts).
 */
export function consumerGroupsInFunctions(): Set<string> {
  const groups = new Set<string>();
  for (const file of sourceFiles('functions')) {
    const text = stripComments(read(file));
    for (const m of text.matchAll(/\bconsumerGroup\s*:\s*['"]([^'"]+)['"]/g)) groups.add(m[1] as string);
    for (const m of text.matchAll(/\bdefineEventHubFunction\(\s*[^,()]+,\s*['"]([^'"]+)['"]/g)) groups.add(m[1] as string);
  }
  return groups;
}

/** The lines of one `## N.` section of docs/contracts.md. */
export function contractSection(number: number): string {
  const text = read('docs/contracts.md');
  const start = text.indexOf(`\n## ${number}.`);
  if (start < 0) throw new Error(`docs/contracts.md has no section ${number}`);
  const next = text.indexOf('\n## ', start + 1);
  return text.slice(start, next < 0 ? undefined : next);
}

/** The setting names in the table of docs/contracts.md §6 (every back-quoted name in a table row). */
export function contractSettings(): Set<string> {
  const names = new Set<string>();
  for (const line of contractSection(6).split('\n')) {
    if (!line.startsWith('| `')) continue;
    const firstCell = line.split('|')[1] ?? '';
    for (const m of firstCell.matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)) names.add(m[1] as string);
  }
  return names;
}

/** docs/contracts.md §6 "Consumer groups: `a`, `b` … (plus `$Default`)". */
export function contractConsumerGroups(): Set<string> {
  const line = contractSection(6)
    .split('\n')
    .find((l) => l.startsWith('Consumer groups:'));
  if (!line) throw new Error('docs/contracts.md §6 has no "Consumer groups:" line');
  return new Set([...line.matchAll(/`([^`$]+)`/g)].map((m) => m[1] as string));
}

/**
 * The edge module's edgeHub outputs and inputs, from its source: constants named `*_OUTPUT` / `*_INPUT`
 * (string literal values), `sendOutputEvent('x'`, and `inputName === 'x'` / `case 'x':` in inputs/edgehub*.
 */
export function edgeModuleEndpoints(): { outputs: Set<string>; inputs: Set<string>; files: string[] } {
  const outputs = new Set<string>();
  const inputs = new Set<string>();
  const files = sourceFiles('edge-module');
  for (const file of files) {
    const text = stripComments(read(file));
    for (const m of text.matchAll(/\b[A-Z][A-Z0-9_]*_OUTPUT\s*=\s*['"]([^'"]+)['"]/g)) outputs.add(m[1] as string);
    for (const m of text.matchAll(/\bsendOutputEvent(?:Batch)?\(\s*['"]([^'"]+)['"]/g)) outputs.add(m[1] as string);
    for (const m of text.matchAll(/\b[A-Z][A-Z0-9_]*_INPUT\s*=\s*['"]([^'"]+)['"]/g)) inputs.add(m[1] as string);
    if (/inputs\/edgehub/.test(file)) {
      for (const m of text.matchAll(/\binputName\s*===?\s*['"]([^'"]+)['"]/g)) inputs.add(m[1] as string);
    }
  }
  return { outputs, inputs, files };
}

/**
 * Environment variables edge-module/config.ts reads: `reader.string|integer|oneOf…('X'` and `env.X` /
 * `env['X']`.
 */
export function edgeEnvironmentNames(): Set<string> {
  const text = stripComments(read('edge-module/config.ts'));
  const names = new Set<string>();
  for (const m of text.matchAll(new RegExp(`\\breader\\.(?:string|integer|oneOf)(?:<[^>]*>)?\\(\\s*['"](${NAME})['"]`, 'g'))) {
    names.add(m[1] as string);
  }
  for (const m of text.matchAll(new RegExp(`\\benv\\.(${NAME})`, 'g'))) names.add(m[1] as string);
  for (const m of text.matchAll(new RegExp(`\\benv\\[\\s*['"](${NAME})['"]\\s*\\]`, 'g'))) names.add(m[1] as string);
  return names;
}
