// The compose files as Compose reads them (YAML merge keys, multi-file merge rules): used by the
// compose tests (tests/compose) and the podman stack runner (stack.ts).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** A compose file as Compose reads it: YAML 1.1 merge keys (`<<: *anchor`) resolved. */
export function loadCompose(file: string): JsonObject {
  const text = readFileSync(path.join(repoRoot, file), 'utf8');
  return parse(text, { merge: true, maxAliasCount: -1 }) as JsonObject;
}

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `environment`/`labels` as a map (Compose accepts a list of KEY=VALUE too). */
function asMap(value: Json): JsonObject {
  if (!Array.isArray(value)) return value as JsonObject;
  return Object.fromEntries(
    value.map((item) => {
      const [key, ...rest] = String(item).split('=');
      return [key, rest.length ? rest.join('=') : null];
    }),
  );
}

// Compose's merge rules (compose-spec "merge.md"): mappings merge key by key, the later file wins;
// these sequences are replaced by the later file, other sequences are appended (without duplicates).
const REPLACED = new Set(['command', 'entrypoint', 'test']);
const MAPPED = new Set(['environment', 'labels']);

function mergeValue(key: string, base: Json | undefined, override: Json): Json {
  if (base === undefined) return structuredClone(override);
  if (MAPPED.has(key)) return mergeObjects(asMap(base), asMap(override));
  if (Array.isArray(base) && Array.isArray(override)) {
    if (REPLACED.has(key)) return structuredClone(override);
    const seen = new Set(base.map((item) => JSON.stringify(item)));
    return [...structuredClone(base), ...override.filter((item) => !seen.has(JSON.stringify(item)))];
  }
  if (isObject(base) && isObject(override)) return mergeObjects(base, override);
  return structuredClone(override);
}

function mergeObjects(base: JsonObject, override: JsonObject): JsonObject {
  const result: JsonObject = structuredClone(base);
  for (const [key, value] of Object.entries(override)) result[key] = mergeValue(key, base[key], value);
  return result;
}

export function mergeCompose(...files: JsonObject[]): JsonObject {
  return files.reduce((merged, file) => mergeObjects(merged, file), {} as JsonObject);
}

/** The services of a compose document. */
export function servicesOf(doc: JsonObject): Record<string, JsonObject> {
  return (doc.services ?? {}) as Record<string, JsonObject>;
}

/** `${NAME}`, `${NAME:-x}`, `${NAME:?x}` … references (not `$$` escapes) anywhere in a file's text. */
export function referencedVariables(file: string): Set<string> {
  const text = readFileSync(path.join(repoRoot, file), 'utf8').replace(/\$\$/g, '');
  return new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
}
