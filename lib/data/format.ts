/**
 * The on-disk format of a dataset of collected game play: file names, the manifest, the steps
 * table's columns, and the helpers the writer (`writer.ts`) and the validating reader
 * (`reader.ts`) share so that both sides agree on every byte.
 *
 * A dataset is a directory:
 *
 * - `manifest.json`: {@linkcode DatasetManifest}, with a sha256 for every other file.
 * - `frames-00000.u8`, `frames-00001.u8`, ...: raw uint8 frames (`h x w x c`, channels last),
 *   concatenated; every shard holds `shardFrames` frames except the last, which may hold fewer.
 *   With `compression: "gzip"` in the manifest the shards are `frames-00000.u8.gz`, ...: the same
 *   bytes as a sequence of gzip members (each a run of whole frames), which any gunzip reads as
 *   one stream. Full RGB screens of a game compress about 50 times at level 1, and their raw
 *   writes (100 KB a frame) were what bounded a recording's speed.
 * - `steps.parquet`: one row per stored frame, row `i` describing frame `i`; the columns are
 *   {@linkcode stepColumns}.
 *
 * Row convention (one row per observation):
 * - row `(episode, step)` holds observation `o_step` (step 0 is the observation from `reset`),
 *   with the `lives` and ground-truth `state_*` values of that observation;
 * - `action` is the action taken in `o_step`, and `reward` / `terminated` / `truncated` are what
 *   `env.step(action)` returned, i.e. they describe the transition to the next row;
 * - the final observation of an episode (the one `terminated` or `truncated` led to) is stored
 *   too, as the episode's last row, with `action = -1`, `reward = 0` and both flags false, since
 *   no action was taken from it. So a world model sees every transition, including the last.
 *
 * Episodes are contiguous runs of rows, and an episode id appears in one run only.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import pl from "nodejs-polars";

/** The `format` field of every manifest. */
export const DATASET_FORMAT = "jepa-atari-dataset";
/** The manifest version the writer writes and the reader reads. */
export const DATASET_VERSION = 1;
/** Name of the manifest file inside a dataset directory. */
export const MANIFEST_FILE = "manifest.json";
/** Name of the steps table inside a dataset directory. */
export const STEPS_FILE = "steps.parquet";

/** One step as the collector hands it to `DatasetWriter.add`; see the module docs. */
export interface StepRow {
  episode: number;
  step: number;
  /** Action taken in this observation, -1 for the final observation of an episode. */
  action: number;
  reward: number;
  terminated: boolean;
  truncated: boolean;
  lives: number;
  /** Ground-truth variables of this observation; must hold every key of `stateKeys`. */
  state: Record<string, number>;
}

/**
 * The row of an episode's final observation (the one `terminated` or `truncated` led to): no
 * action is taken from it, so `action = -1`, `reward = 0` and both flags are false.
 */
export function finalObservationRow(
  episode: number,
  step: number,
  info: { lives: number; state: Record<string, number> },
): StepRow {
  return {
    episode,
    step,
    action: -1,
    reward: 0,
    terminated: false,
    truncated: false,
    lives: info.lives,
    state: info.state,
  };
}

/** How frame shards are stored: raw (no `compression` field) or as gzip members. */
export type FrameCompression = "gzip";

/** The name of frame shard `index` (`frames-00000.u8`, or `frames-00000.u8.gz` with gzip). */
export function shardFileName(index: number, compression?: FrameCompression): string {
  return `frames-${String(index).padStart(5, "0")}.u8${compression === "gzip" ? ".gz" : ""}`;
}

/** Names a frame shard may have: a name read from a manifest never leads out of the dataset. */
export const SHARD_FILE = /^frames-\d{5,}\.u8(\.gz)?$/;

/** One frame shard as listed in the manifest. */
export interface ShardInfo {
  file: string;
  numFrames: number;
  /** Bytes of the file (`numFrames` frames, or their gzip members). */
  bytes: number;
  sha256: string;
}

/** Contents of `manifest.json`. */
export interface DatasetManifest {
  format: typeof DATASET_FORMAT;
  version: typeof DATASET_VERSION;
  /** Environment id, e.g. `native:breakout`. */
  env: string;
  /** `[height, width, channels]` of every frame. */
  frameShape: [number, number, number];
  frameDtype: "uint8";
  /** Number of stored frames = rows of the steps table. */
  numSteps: number;
  numEpisodes: number;
  /** Frames per shard; every shard but the last is full. */
  shardFrames: number;
  /** Absent: raw shards. `gzip`: each shard is gzip members of its raw bytes. */
  compression?: FrameCompression;
  shards: ShardInfo[];
  steps: { file: string; rows: number; sha256: string };
  /** Column names of the steps table, in order. */
  columns: string[];
  stateKeys: string[];
  /** Free-form provenance: seed, policy, perturbation, wrapper config, createdAt, ... */
  meta: Record<string, unknown>;
}

/** Storage type of a steps-table column. Bools are read back as 0/1 bytes. */
export type ColumnDtype = "int32" | "float32" | "float64" | "bool";

/** A column of the steps table, as read: one typed array per dtype. */
export type StepColumn = Int32Array | Float32Array | Float64Array | Uint8Array;

/** Name and dtype of one steps-table column; `stateKey` is set for `state_<key>` columns. */
export interface ColumnSpec {
  name: string;
  dtype: ColumnDtype;
  stateKey?: string;
}

/** Names of the columns every steps table has, before the `state_<key>` columns. */
export type BaseColumn =
  | "episode"
  | "step"
  | "action"
  | "reward"
  | "terminated"
  | "truncated"
  | "lives";

const BASE_COLUMNS: readonly (ColumnSpec & { name: BaseColumn })[] = [
  { name: "episode", dtype: "int32" },
  { name: "step", dtype: "int32" },
  { name: "action", dtype: "int32" },
  { name: "reward", dtype: "float32" },
  { name: "terminated", dtype: "bool" },
  { name: "truncated", dtype: "bool" },
  { name: "lives", dtype: "int32" },
];

/** The columns of a steps table for these state keys, in file order. */
export function stepColumns(stateKeys: readonly string[]): ColumnSpec[] {
  return [
    ...BASE_COLUMNS,
    ...stateKeys.map((key) => ({ name: `state_${key}`, dtype: "float64" as const, stateKey: key })),
  ];
}

/** How each dtype goes into Polars, and which Polars type reads back as the right typed array. */
export const POLARS_TYPES = {
  int32: { dtype: pl.Int32, readAs: pl.Int32, values: (v: Float64Array) => Int32Array.from(v) },
  float32: {
    dtype: pl.Float32,
    readAs: pl.Float32,
    values: (v: Float64Array) => Float32Array.from(v),
  },
  float64: { dtype: pl.Float64, readAs: pl.Float64, values: (v: Float64Array) => v },
  bool: { dtype: pl.Bool, readAs: pl.UInt8, values: (v: Float64Array) => Array.from(v, Boolean) },
};

/** Bytes per frame, after checking the shape is three positive integers. */
export function checkFrameShape(shape: readonly number[]): number {
  if (shape?.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(
      `frameShape must be [h, w, c] of positive integers, got ${JSON.stringify(shape)}`,
    );
  }
  return shape[0] * shape[1] * shape[2];
}

/** The sha256 of a file, as the manifest records it (hex). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest("hex");
}
