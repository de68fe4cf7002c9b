/**
 * Renders infra/edge/deployment.template.json into a deployment manifest that IoT Hub accepts
 * (`az iot edge set-modules --content` / `az iot edge deployment create --content`), the way the IoT Edge
 * dev tools do:
 * - `${MODULES.iotIngest}` becomes the module image reference;
 * - `$NAME` / `${NAME}` placeholders (upper-case names only: `$edgeAgent`, `$upstream`, `$body` are not
 *   placeholders) are replaced from the given variables; a missing one is an error naming it;
 * - `createOptions` objects become JSON strings, split into `createOptions01`… when longer than the
 *   512 characters IoT Hub allows per twin property value;
 * - `$schema-template` is dropped.
 *
 * Usage: `npx tsx infra/edge/render.ts --image <registry>/iot-ingest-edge:<tag> [--template <path>] > deployment.json`
 * with the placeholders' values in the environment (CONTAINER_REGISTRY_ADDRESS, …). Secrets stay in the
 * environment and the rendered file; neither is ever printed to logs by this script.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** IoT Hub limit on one twin property value; longer createOptions are chunked (createOptions01…07). */
export const CREATE_OPTIONS_CHUNK_CHARS = 512;
const MAX_CREATE_OPTIONS_CHUNKS = 8;

const MODULE_IMAGE = /\$\{MODULES\.([A-Za-z][A-Za-z0-9_]*)\}/g;
const PLACEHOLDER = /\$\{([A-Z][A-Z0-9_]*)\}|\$([A-Z][A-Z0-9_]*)/g;

export interface RenderOptions {
  /** Image reference per module name (`${MODULES.<name>}`). */
  readonly images: Readonly<Record<string, string>>;
  /** Values of `$NAME` placeholders. */
  readonly variables: Readonly<Record<string, string | undefined>>;
}

/** Every `$NAME` placeholder and `${MODULES.x}` reference in the template, for callers and tests. */
export function findPlaceholders(template: Json): { variables: string[]; modules: string[] } {
  const variables = new Set<string>();
  const modules = new Set<string>();
  walkStrings(template, (s) => {
    for (const m of s.matchAll(MODULE_IMAGE)) modules.add(m[1] as string);
    for (const m of s.replace(MODULE_IMAGE, '').matchAll(PLACEHOLDER)) variables.add((m[1] ?? m[2]) as string);
  });
  return { variables: [...variables].sort(), modules: [...modules].sort() };
}

export function renderManifest(template: Json, options: RenderOptions): Json {
  const missing = new Set<string>();
  const substitute = (s: string): string =>
    s
      .replace(MODULE_IMAGE, (_all, name: string) => {
        const image = options.images[name];
        if (image === undefined || image === '') {
          missing.add(`MODULES.${name} (--image)`);
          return '';
        }
        return image;
      })
      .replace(PLACEHOLDER, (_all, braced: string | undefined, bare: string | undefined) => {
        const name = (braced ?? bare) as string;
        const value = options.variables[name];
        if (value === undefined || value === '') {
          missing.add(name);
          return '';
        }
        return value;
      });

  const rendered = transform(template, substitute, true);
  if (missing.size > 0) {
    throw new Error(`deployment manifest placeholders without a value: ${[...missing].sort().join(', ')}`);
  }
  return rendered;
}

function transform(value: Json, substitute: (s: string) => string, topLevel: boolean): Json {
  if (typeof value === 'string') return substitute(value);
  if (Array.isArray(value)) return value.map((v) => transform(v, substitute, false));
  if (value === null || typeof value !== 'object') return value;
  const out: { [key: string]: Json } = {};
  for (const [key, inner] of Object.entries(value)) {
    if (topLevel && key === '$schema-template') continue;
    if (key === 'createOptions' && inner !== null && typeof inner === 'object') {
      Object.assign(out, chunkCreateOptions(JSON.stringify(transform(inner, substitute, false))));
      continue;
    }
    out[key] = transform(inner, substitute, false);
  }
  return out;
}

/** `createOptions` as IoT Hub stores it: one string, or 512-character pieces createOptions, createOptions01… */
export function chunkCreateOptions(json: string): Record<string, string> {
  const pieces: string[] = [];
  for (let i = 0; i < json.length; i += CREATE_OPTIONS_CHUNK_CHARS) pieces.push(json.slice(i, i + CREATE_OPTIONS_CHUNK_CHARS));
  if (pieces.length === 0) pieces.push('{}');
  if (pieces.length > MAX_CREATE_OPTIONS_CHUNKS) {
    throw new Error(`createOptions is ${json.length} characters; IoT Hub allows at most ${MAX_CREATE_OPTIONS_CHUNKS * CREATE_OPTIONS_CHUNK_CHARS}`);
  }
  const out: Record<string, string> = {};
  pieces.forEach((piece, i) => {
    out[i === 0 ? 'createOptions' : `createOptions${String(i).padStart(2, '0')}`] = piece;
  });
  return out;
}

function walkStrings(value: Json, visit: (s: string) => void): void {
  if (typeof value === 'string') visit(value);
  else if (Array.isArray(value)) value.forEach((v) => walkStrings(v, visit));
  else if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) walkStrings(inner, visit);
  }
}

export const TEMPLATE_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'deployment.template.json');

async function main(argv: readonly string[]): Promise<void> {
  const arg = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const image = arg('--image');
  if (image === undefined) throw new Error('--image <registry>/<repository>:<tag> is required (the iotIngest module image)');
  const template = JSON.parse(await readFile(arg('--template') ?? TEMPLATE_PATH, 'utf8')) as Json;
  const manifest = renderManifest(template, { images: { iotIngest: image }, variables: process.env });
  process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
