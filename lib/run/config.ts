/**
 * Typed configs with presets. A task declares its config as a plain object per preset
 * (`smoke`, `small`, `full`); users override it with a YAML/JSON file and `key=value` pairs
 * (dotted keys reach nested fields). Every override is checked against the preset's shape:
 * an unknown key is an error listing the valid keys, a value of the wrong type is an error
 * naming the key and the expected type.
 *
 * @module
 */

import { createHash } from "node:crypto";
import YAML from "yaml";

/** The preset names every task offers. */
export const PRESET_NAMES = ["smoke", "small", "full"] as const;
/** One of {@linkcode PRESET_NAMES}. */
export type PresetName = typeof PRESET_NAMES[number];

/** A task's config for each preset. */
export type Presets<C> = Record<PresetName, C>;

/** A plain config object: numbers, strings, booleans, arrays of those, and nested objects. */
// deno-lint-ignore no-explicit-any
export type ConfigObject = Record<string, any>;

/** Where config values come from, applied in this order over the preset. */
export interface ConfigSources {
  preset?: string;
  /** Parsed YAML/JSON object (from `--config file.yaml`), and its path for error messages. */
  file?: { path: string; values: unknown };
  /** `key=value` strings from `--set`. */
  sets?: string[];
}

/** All dotted keys of a config, leaves only, in declaration order. */
export function configKeys(config: ConfigObject, prefix = ""): string[] {
  const keys: string[] = [];
  for (const [k, v] of Object.entries(config)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isPlainObject(v)) keys.push(...configKeys(v, key));
    else keys.push(key);
  }
  return keys;
}

/** Builds the config from a preset and overrides; throws a descriptive Error on any mistake. */
export function resolveConfig<C extends ConfigObject>(
  presets: Presets<C>,
  sources: ConfigSources,
): C {
  const presetName = sources.preset ?? "smoke";
  if (!(PRESET_NAMES as readonly string[]).includes(presetName)) {
    throw new Error(`unknown preset '${presetName}' (valid presets: ${PRESET_NAMES.join(", ")})`);
  }
  const config = structuredClone(presets[presetName as PresetName]);
  if (sources.file) {
    const { path, values } = sources.file;
    if (!isPlainObject(values)) {
      throw new Error(`${path}: expected a mapping of config keys at the top level`);
    }
    mergeInto(config, values, "", path);
  }
  for (const assignment of sources.sets ?? []) {
    const eq = assignment.indexOf("=");
    if (eq <= 0) {
      throw new Error(`--set '${assignment}': expected key=value (e.g. --set seed=1)`);
    }
    const key = assignment.slice(0, eq).trim();
    const raw = assignment.slice(eq + 1);
    setKey(config, key, YAML.parse(raw === "" ? '""' : raw), `--set ${key}`);
  }
  return config;
}

/** Parses a YAML or JSON config file's text. */
export function parseConfigText(text: string, path: string): unknown {
  try {
    return YAML.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid YAML/JSON: ${(err as Error).message}`);
  }
}

function mergeInto(target: ConfigObject, values: ConfigObject, prefix: string, origin: string) {
  for (const [k, v] of Object.entries(values)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isPlainObject(v) && isPlainObject(lookup(target, key))) mergeInto(target, v, key, origin);
    else setKey(target, key, v, `${origin}: ${key}`);
  }
}

function lookup(config: ConfigObject, key: string): unknown {
  let node: unknown = config;
  for (const part of key.split(".")) {
    if (!isPlainObject(node) || !(part in node)) return undefined;
    node = node[part];
  }
  return node;
}

function setKey(config: ConfigObject, key: string, value: unknown, origin: string): void {
  const parts = key.split(".");
  let node: ConfigObject = config;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = node[parts[i]];
    if (!isPlainObject(next)) throw unknownKey(config, key, origin);
    node = next;
  }
  const leaf = parts[parts.length - 1];
  if (!(leaf in node) || isPlainObject(node[leaf])) throw unknownKey(config, key, origin);
  node[leaf] = checkType(node[leaf], value, origin);
}

function checkType(current: unknown, value: unknown, origin: string): unknown {
  const expected = describeType(current);
  if (Array.isArray(current)) {
    if (!Array.isArray(value)) throw typeError(origin, expected, value);
    if (current.length > 0) {
      value.forEach((item, i) => checkType(current[0], item, `${origin}[${i}]`));
    }
    return value;
  }
  if (current === null) return value;
  if (typeof value !== typeof current) throw typeError(origin, expected, value);
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw typeError(origin, expected, value);
  }
  return value;
}

function describeType(v: unknown): string {
  if (Array.isArray(v)) return v.length ? `a list of ${describeType(v[0])}s` : "a list";
  if (v === null) return "any value";
  return `a ${typeof v}`;
}

function typeError(origin: string, expected: string, value: unknown): Error {
  return new Error(`${origin}: expected ${expected}, got ${JSON.stringify(value)}`);
}

function unknownKey(config: ConfigObject, key: string, origin: string): Error {
  const valid = configKeys(config);
  const close = valid.filter((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
  const hint = close.length ? ` Did you mean ${close.map((k) => `'${k}'`).join(" or ")}?` : "";
  return new Error(
    `${origin}: unknown config key '${key}'.${hint} Valid keys: ${valid.join(", ")}`,
  );
}

function isPlainObject(v: unknown): v is ConfigObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** JSON with object keys sorted at every depth, so key order never makes two configs differ. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => (isPlainObject(v) ? sortKeys(v) : v)) ?? "undefined";
}

function sortKeys(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * `key=recorded (requested value)` for every leaf where two values differ, with dotted keys
 * inside objects (`env.id=native:pong (requested native:breakout)`), in the requested value's
 * key order; empty when they are equal as {@linkcode stableJson}. For errors and log lines that
 * say why something recorded is not what was asked for.
 */
export function valueDiffs(recorded: unknown, requested: unknown, path = ""): string[] {
  if (stableJson(recorded) === stableJson(requested)) return [];
  if (isPlainObject(recorded) && isPlainObject(requested)) {
    const keys = new Set([...Object.keys(requested), ...Object.keys(recorded)]);
    return [...keys].flatMap((key) =>
      valueDiffs(recorded[key], requested[key], path ? `${path}.${key}` : key)
    );
  }
  return [`${path}=${showValue(recorded)} (requested ${showValue(requested)})`];
}

function showValue(value: unknown): string {
  if (value === undefined) return "none";
  return typeof value === "string" ? value : stableJson(value);
}

/** A short hash (16 hex digits of SHA-256) of a value's {@linkcode stableJson}. */
export function configHash(value: unknown): string {
  return createHash("sha256").update(stableJson(value)).digest("hex").slice(0, 16);
}
