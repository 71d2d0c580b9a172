/**
 * {@linkcode ensureDataset}: the one rule for "collect the dataset unless it is already there".
 * A dataset is current when its manifest records the very collection spec asked for (every field
 * of the {@linkcode CollectConfig}, the env's frame pipeline included) and it passes validation;
 * anything else is collected again, with a log line that says why.
 *
 * @module
 */

import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { type CollectConfig, collectDataset, collectSpec } from "./collect.ts";
import { valueDiffs } from "../run/config.ts";
import type { OnStep } from "../run/progress.ts";
import { DATASET_FORMAT, MANIFEST_FILE, SHARD_FILE, STEPS_FILE } from "./format.ts";
import { type Dataset, openDataset } from "./reader.ts";

/** Options for {@linkcode ensureDataset}. */
export interface EnsureDatasetOptions {
  /** Each collected episode, as loop "collect" (only when it collects). */
  onStep?: OnStep;
  /** Receives one line on what it found and whether it collects. */
  log?: (line: string) => void;
}

/**
 * Opens the dataset in `dir` when its manifest records `spec` (compared field by field as
 * stable JSON) and it validates; otherwise collects it with `spec` and opens that. The log names
 * the reason: no dataset, the fields that differ, no recorded spec (an older collector made it),
 * or the validation error. A dataset that fails validation is removed before collecting again; a
 * valid but different one stays in place until the new one replaces it, and since collection is
 * atomic, nothing half-written is left at `dir` if it throws. A directory that holds files other
 * than a dataset's is never removed: the collector refuses to replace it.
 */
export async function ensureDataset(
  dir: string,
  spec: CollectConfig,
  opts: EnsureDatasetOptions = {},
): Promise<Dataset> {
  let stale = await staleness(dir, collectSpec(spec));
  if (stale === null) {
    try {
      const ds = await openDataset(dir);
      opts.log?.(
        `dataset ${dir} is current: ${ds.numFrames} frames, ${ds.episodes().length} episodes`,
      );
      return ds;
    } catch (err) {
      stale = {
        reason: `dataset ${dir} fails validation (${(err as Error).message})`,
        damaged: true,
      };
    }
  }
  if (stale.damaged) await removeDamaged(dir);
  if (stale.reason) opts.log?.(`${stale.reason}: collecting again`);
  opts.log?.(
    `collecting ${spec.episodes} episodes of ${spec.policy} ${spec.env.id}` +
      `${spec.explore ? " with random action segments" : ""} -> ${dir}`,
  );
  await collectDataset(dir, spec, opts.onStep);
  return await openDataset(dir);
}

/**
 * Why a directory does not hold the dataset asked for (no `reason`: there is no dataset at all);
 * `damaged`: what is there is unusable, to be removed before collecting.
 */
interface Staleness {
  reason?: string;
  damaged: boolean;
}

/** Why `dir` does not hold the dataset `requested` describes; null if its manifest says it does. */
async function staleness(dir: string, requested: CollectConfig): Promise<Staleness | null> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), "utf8");
  } catch {
    // Shards without a manifest are a damaged dataset; an absent dir has nothing to remove.
    return { damaged: true };
  }
  let manifest: { format?: unknown; meta?: { collect?: unknown } };
  try {
    manifest = JSON.parse(text);
  } catch (err) {
    return {
      reason: `dataset ${dir} has a damaged manifest (${(err as Error).message})`,
      damaged: true,
    };
  }
  // Another tool's manifest.json: not ours to remove (the collector then refuses to replace it).
  if (manifest?.format !== DATASET_FORMAT) {
    return { reason: `${dir} is not a dataset`, damaged: false };
  }
  const recorded = manifest.meta?.collect;
  if (recorded === undefined) {
    return {
      reason: `dataset ${dir} records no collection spec (an older collector made it)`,
      damaged: false,
    };
  }
  const diffs = valueDiffs(recorded, requested);
  if (diffs.length === 0) return null;
  return { reason: `dataset ${dir} was collected with ${diffs.join(", ")}`, damaged: false };
}

/**
 * Removes a damaged dataset, but only when every file in it is a dataset's own (manifest, steps
 * table, frame shards): anything else is left for the collector to refuse, so a mistyped `dir`
 * can never delete unrelated files.
 */
async function removeDamaged(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => null);
  if (names === null) return;
  const own = (name: string) =>
    name === MANIFEST_FILE || name === STEPS_FILE || SHARD_FILE.test(name);
  if (names.every(own)) await rm(dir, { recursive: true });
}
