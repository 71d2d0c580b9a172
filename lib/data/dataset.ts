/**
 * The on-disk dataset of collected game play, its writer, its validating reader, and the batch
 * readers that training uses (frame stacks for I-JEPA / probes, sequences for world models).
 *
 * A dataset is a directory:
 *
 * - `manifest.json`: {@linkcode DatasetManifest}, with a sha256 for every other file.
 * - `frames-00000.u8`, `frames-00001.u8`, ...: raw uint8 frames (`h x w x c`, channels last),
 *   concatenated; every shard holds `shardFrames` frames except the last, which may hold fewer.
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
import { closeSync, createReadStream, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import pl from "nodejs-polars";
import type { ObsShape } from "../envs/types.ts";
import { writeDirAtomic, writeFileAtomic } from "../run/atomic.ts";
import { Rng } from "../tensor/rng.ts";

/** The `format` field of every manifest. */
export const DATASET_FORMAT = "jepa-atari-dataset";
/** The manifest version this module writes and reads. */
export const DATASET_VERSION = 1;
/** Name of the manifest file inside a dataset directory. */
export const MANIFEST_FILE = "manifest.json";
/** Name of the steps table inside a dataset directory. */
export const STEPS_FILE = "steps.parquet";

/** Shards aim at this size when `shardFrames` is not given: small enough to load whole. */
const DEFAULT_SHARD_BYTES = 64 * 2 ** 20;
const MAX_DEFAULT_SHARD_FRAMES = 4096;

/** One step as the collector hands it to {@linkcode DatasetWriter.add}; see the module docs. */
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

/** One frame shard as listed in the manifest. */
export interface ShardInfo {
  file: string;
  numFrames: number;
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

type BaseColumn = "episode" | "step" | "action" | "reward" | "terminated" | "truncated" | "lives";

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
const POLARS_TYPES = {
  int32: { dtype: pl.Int32, readAs: pl.Int32, values: (v: Float64Array) => Int32Array.from(v) },
  float32: {
    dtype: pl.Float32,
    readAs: pl.Float32,
    values: (v: Float64Array) => Float32Array.from(v),
  },
  float64: { dtype: pl.Float64, readAs: pl.Float64, values: (v: Float64Array) => v },
  bool: { dtype: pl.Bool, readAs: pl.UInt8, values: (v: Float64Array) => Array.from(v, Boolean) },
};

// ---------------------------------------------------------------------------------------------
// Writing

/** Options for {@linkcode DatasetWriter.create}. */
export interface DatasetWriterOptions {
  /** Environment id, e.g. `native:breakout`. */
  env: string;
  /** `[height, width, channels]` of every frame. */
  frameShape: ObsShape;
  /** State variables to store, one `state_<key>` column each (other keys of a row are ignored). */
  stateKeys: readonly string[];
  /** Provenance stored in the manifest; `createdAt` is added unless given. */
  meta?: Record<string, unknown>;
  /**
   * Frames per shard. Default: as many as fit in 64 MiB, at most 4096 (4096 for 84x84 gray,
   * 665 for 210x160 RGB), so a shard can be held in memory whole.
   */
  shardFrames?: number;
}

/** The shard being filled: an open file and the running hash of what went into it. */
interface OpenShard {
  file: string;
  fd: number;
  hash: ReturnType<typeof createHash>;
  numFrames: number;
}

/**
 * Writes a dataset. Everything goes to a hidden staging directory beside `path`; only
 * {@linkcode DatasetWriter.finish} moves it into place (through {@linkcode writeDirAtomic}), so a
 * crash or {@linkcode DatasetWriter.abort} never leaves a half dataset at `path`, and a dataset
 * already there is replaced only by a finished one. A crash can leave the staging directory
 * (`.<name>.partial-*`) behind; nothing reads it.
 *
 * Frames go to disk as they arrive (a shard is fsync'd when full), so memory holds only the
 * step rows (a few dozen bytes each).
 *
 * ```ts
 * const writer = await DatasetWriter.create("data/breakout", {
 *   env: "native:breakout", frameShape: [84, 84, 1], stateKeys: ["ballX", "ballY"],
 *   meta: { seed: 0, policy: "random" },
 * });
 * writer.add(obs, { episode: 0, step: 0, action: 1, reward: 0, terminated: false,
 *   truncated: false, lives: 5, state: info.state });
 * await writer.finish();
 * ```
 */
export class DatasetWriter {
  /** Where the finished dataset will be. */
  readonly path: string;
  readonly #opts: DatasetWriterOptions;
  readonly #staging: string;
  readonly #frameBytes: number;
  readonly #shardFrames: number;
  readonly #columns: ColumnSpec[];
  /** One builder per column, in `#columns` order. */
  readonly #values: Float64Builder[];
  readonly #shards: ShardInfo[] = [];
  readonly #pastEpisodes = new Set<number>();
  #shard: OpenShard | undefined;
  #episode: number | undefined;
  #numSteps = 0;
  #closed = false;

  private constructor(path: string, staging: string, opts: DatasetWriterOptions) {
    this.path = path;
    this.#opts = opts;
    this.#staging = staging;
    this.#frameBytes = checkFrameShape(opts.frameShape);
    this.#shardFrames = opts.shardFrames ??
      Math.max(
        1,
        Math.min(MAX_DEFAULT_SHARD_FRAMES, Math.floor(DEFAULT_SHARD_BYTES / this.#frameBytes)),
      );
    if (!Number.isInteger(this.#shardFrames) || this.#shardFrames < 1) {
      throw new Error(
        `DatasetWriter: shardFrames must be an integer >= 1, got ${opts.shardFrames}`,
      );
    }
    this.#columns = stepColumns(opts.stateKeys);
    this.#values = this.#columns.map(() => new Float64Builder());
  }

  /**
   * Starts a dataset at `path`. Throws if `path` exists and is not a dataset, so a typo cannot
   * replace unrelated data; an existing dataset is replaced when this writer finishes.
   */
  static async create(path: string, opts: DatasetWriterOptions): Promise<DatasetWriter> {
    await assertReplaceable(path);
    await mkdir(dirname(path), { recursive: true });
    // Beside `path`, so that finish() only renames within one file system.
    const staging = join(dirname(path), `.${basename(path)}.partial-${crypto.randomUUID()}`);
    const writer = new DatasetWriter(path, staging, opts);
    await mkdir(staging);
    return writer;
  }

  /** Rows added so far. */
  get numSteps(): number {
    return this.#numSteps;
  }

  /**
   * Appends one frame and its row. The frame is written out at once (the caller may reuse its
   * buffer). Synchronous, so a collector loop needs no `await`; a full shard is flushed here.
   */
  add(frame: Uint8Array, row: StepRow): void {
    if (this.#closed) throw new Error(`DatasetWriter(${this.path}): add after finish/abort`);
    if (frame.length !== this.#frameBytes) {
      throw new Error(
        `DatasetWriter(${this.path}): frame has ${frame.length} bytes, expected ` +
          `${this.#opts.frameShape.join("x")} = ${this.#frameBytes}`,
      );
    }
    // Read every value before changing any state, so a rejected row leaves the writer as it was.
    const values = this.#columns.map((spec) => rowValue(row, spec));
    this.#enterEpisode(row.episode);
    const shard = this.#shard ?? this.#openShard();
    writeAll(shard.fd, frame);
    shard.hash.update(frame);
    shard.numFrames++;
    values.forEach((value, i) => this.#values[i].push(value));
    this.#numSteps++;
    if (shard.numFrames === this.#shardFrames) this.#closeShard();
  }

  /**
   * Writes the steps table and manifest, then moves the dataset into place. On failure (or with
   * no steps added) it throws and cleans up like {@linkcode DatasetWriter.abort}.
   */
  async finish(): Promise<DatasetManifest> {
    if (this.#closed) throw new Error(`DatasetWriter(${this.path}): finish after finish/abort`);
    this.#closed = true;
    try {
      if (this.#numSteps === 0) throw new Error(`DatasetWriter(${this.path}): no steps added`);
      this.#closeShard();
      let manifest: DatasetManifest | undefined;
      await writeDirAtomic(this.path, async (dir) => {
        for (const shard of this.#shards) {
          await rename(join(this.#staging, shard.file), join(dir, shard.file));
        }
        const steps = await this.#writeSteps(join(dir, STEPS_FILE));
        manifest = this.#manifest(steps);
        await writeFileAtomic(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
      });
      return manifest!;
    } finally {
      await this.#cleanup();
    }
  }

  /** Drops everything written so far; `path` is left as it was. Safe to call twice. */
  async abort(): Promise<void> {
    this.#closed = true;
    await this.#cleanup();
  }

  #enterEpisode(episode: number): void {
    if (episode === this.#episode) return;
    if (this.#pastEpisodes.has(episode)) {
      throw new Error(
        `DatasetWriter(${this.path}): episode ${episode} was already closed; ` +
          `an episode's rows must be added in one run`,
      );
    }
    if (this.#episode !== undefined) this.#pastEpisodes.add(this.#episode);
    this.#episode = episode;
  }

  #openShard(): OpenShard {
    const file = `frames-${String(this.#shards.length).padStart(5, "0")}.u8`;
    const fd = openSync(join(this.#staging, file), "w");
    this.#shard = { file, fd, hash: createHash("sha256"), numFrames: 0 };
    return this.#shard;
  }

  #closeShard(): void {
    const shard = this.#shard;
    if (!shard) return;
    this.#shard = undefined;
    fsyncSync(shard.fd);
    closeSync(shard.fd);
    this.#shards.push({
      file: shard.file,
      numFrames: shard.numFrames,
      bytes: shard.numFrames * this.#frameBytes,
      sha256: shard.hash.digest("hex"),
    });
  }

  async #writeSteps(file: string): Promise<DatasetManifest["steps"]> {
    const series = this.#columns.map((spec, i) => {
      const { dtype, values } = POLARS_TYPES[spec.dtype];
      return pl.Series(spec.name, values(this.#values[i].values()), dtype);
    });
    pl.DataFrame(series).writeParquet(file);
    fsyncFile(file);
    return { file: STEPS_FILE, rows: this.#numSteps, sha256: await sha256File(file) };
  }

  #manifest(steps: DatasetManifest["steps"]): DatasetManifest {
    const [h, w, c] = this.#opts.frameShape;
    return {
      format: DATASET_FORMAT,
      version: DATASET_VERSION,
      env: this.#opts.env,
      frameShape: [h, w, c],
      frameDtype: "uint8",
      numSteps: this.#numSteps,
      numEpisodes: this.#pastEpisodes.size + 1,
      shardFrames: this.#shardFrames,
      shards: this.#shards,
      steps,
      columns: this.#columns.map((spec) => spec.name),
      stateKeys: [...this.#opts.stateKeys],
      meta: { createdAt: new Date().toISOString(), ...this.#opts.meta },
    };
  }

  async #cleanup(): Promise<void> {
    if (this.#shard) closeSync(this.#shard.fd);
    this.#shard = undefined;
    await rm(this.#staging, { recursive: true, force: true });
  }
}

/** The value a row stores in one column (booleans as 0/1). */
function rowValue(row: StepRow, spec: ColumnSpec): number {
  if (spec.stateKey === undefined) return Number(row[spec.name as BaseColumn]);
  const value = row.state[spec.stateKey];
  if (typeof value !== "number") {
    throw new Error(
      `DatasetWriter: row (episode ${row.episode}, step ${row.step}) has no state "${spec.stateKey}"`,
    );
  }
  return value;
}

/** A growable Float64Array; every column is staged as float64 and narrowed when written. */
class Float64Builder {
  #data = new Float64Array(1024);
  #length = 0;

  push(value: number): void {
    if (this.#length === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#length++] = value;
  }

  values(): Float64Array {
    return this.#data.subarray(0, this.#length);
  }
}

/** Only a missing path, an empty directory or a dataset may be replaced by a new dataset. */
async function assertReplaceable(path: string): Promise<void> {
  if (!(await exists(path))) return;
  if ((await stat(path)).isDirectory() && (await readdir(path)).length === 0) return;
  let format: unknown;
  try {
    format = JSON.parse(await readFile(join(path, MANIFEST_FILE), "utf8"))?.format;
  } catch {
    // not readable as a manifest: treated as not a dataset below
  }
  if (format !== DATASET_FORMAT) {
    throw new Error(`DatasetWriter: ${path} exists and is not a dataset; refusing to replace it`);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
}

function fsyncFile(file: string): void {
  const fd = openSync(file, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Options for {@linkcode openDataset}. */
export interface OpenDatasetOptions {
  /** Check every file's sha256 against the manifest (reads the whole dataset). Default true. */
  verify?: boolean;
}

/** Rows `[start, start + length)` of the steps table belong to `episode`. */
export interface EpisodeSpan {
  episode: number;
  start: number;
  length: number;
}

/**
 * Opens and validates a dataset. Throws an Error naming the file and the problem for: a missing
 * or malformed manifest, a wrong format or version, a missing or wrongly sized shard, a
 * checksum mismatch (with `verify`), a missing steps column, a row or episode count that
 * disagrees with the manifest, and an episode split over two runs of rows. Columns beyond
 * {@linkcode stepColumns} are allowed and ignored.
 */
export async function openDataset(
  path: string,
  opts: OpenDatasetOptions = {},
): Promise<Dataset> {
  const manifest = await readManifest(path);
  const frameBytes = checkFrameShape(manifest.frameShape);
  for (const shard of manifest.shards) await checkShardSize(path, shard, frameBytes);
  if (opts.verify ?? true) {
    for (const { file, sha256 } of [...manifest.shards, manifest.steps]) {
      await checkSha256(join(path, file), sha256);
    }
  }
  const columns = await readSteps(path, manifest);
  return new Dataset(path, manifest, columns);
}

/**
 * An opened dataset. Frames are read a shard at a time on first use and kept, so memory grows
 * up to the size of the shards touched.
 */
export class Dataset {
  /** The dataset directory. */
  readonly path: string;
  readonly manifest: DatasetManifest;
  /** Number of frames (= rows of the steps table). */
  readonly numFrames: number;
  /** Bytes per frame, `h * w * c`. */
  readonly frameBytes: number;
  readonly #columns: Map<string, StepColumn>;
  readonly #shards: (Uint8Array | undefined)[];
  readonly #episodes: EpisodeSpan[];
  readonly #episodeStart: Int32Array;

  /** Use {@linkcode openDataset}, which validates the files first. */
  constructor(path: string, manifest: DatasetManifest, columns: Map<string, StepColumn>) {
    this.path = path;
    this.manifest = manifest;
    this.numFrames = manifest.numSteps;
    this.frameBytes = checkFrameShape(manifest.frameShape);
    this.#columns = columns;
    this.#shards = manifest.shards.map(() => undefined);
    const stepsFile = join(path, manifest.steps.file);
    this.#episodes = episodeSpans(columns.get("episode") as Int32Array, stepsFile);
    if (this.#episodes.length !== manifest.numEpisodes) {
      throw new Error(
        `${stepsFile}: has ${this.#episodes.length} episodes, manifest says ${manifest.numEpisodes}`,
      );
    }
    this.#episodeStart = new Int32Array(this.numFrames);
    for (const { start, length } of this.#episodes) {
      this.#episodeStart.fill(start, start, start + length);
    }
  }

  /** `[height, width, channels]` of every frame. */
  get frameShape(): [number, number, number] {
    return this.manifest.frameShape;
  }

  /** Names of the steps-table columns. */
  get columnNames(): string[] {
    return [...this.#columns.keys()];
  }

  /** Frame `i` as a view into its shard: read it, do not modify it. */
  frame(i: number): Uint8Array {
    this.#checkRow(i);
    const s = Math.floor(i / this.manifest.shardFrames);
    const shard = this.#shards[s] ??= this.#readShard(s);
    const at = (i - s * this.manifest.shardFrames) * this.frameBytes;
    return shard.subarray(at, at + this.frameBytes);
  }

  /** A whole steps-table column (shared, do not modify). Bools come as 0/1 bytes. */
  column(name: "episode" | "step" | "action" | "lives"): Int32Array;
  column(name: "reward"): Float32Array;
  column(name: "terminated" | "truncated"): Uint8Array;
  column(name: string): StepColumn;
  column(name: string): StepColumn {
    const column = this.#columns.get(name);
    if (!column) {
      throw new Error(`${this.path}: no column "${name}"; columns: ${this.columnNames.join(", ")}`);
    }
    return column;
  }

  /** The `state_<key>` column. */
  state(key: string): Float64Array {
    return this.column(`state_${key}`) as Float64Array;
  }

  /** Row `i` in the form {@linkcode DatasetWriter.add} takes. */
  row(i: number): StepRow {
    this.#checkRow(i);
    const state: Record<string, number> = {};
    for (const key of this.manifest.stateKeys) state[key] = this.state(key)[i];
    return {
      episode: this.column("episode")[i],
      step: this.column("step")[i],
      action: this.column("action")[i],
      reward: this.column("reward")[i],
      terminated: this.column("terminated")[i] === 1,
      truncated: this.column("truncated")[i] === 1,
      lives: this.column("lives")[i],
      state,
    };
  }

  /** The episodes in row order. */
  episodes(): EpisodeSpan[] {
    return this.#episodes.map((span) => ({ ...span }));
  }

  /** The first row of the episode that row `i` belongs to. */
  episodeStart(i: number): number {
    this.#checkRow(i);
    return this.#episodeStart[i];
  }

  #readShard(s: number): Uint8Array {
    const bytes = readFileSync(join(this.path, this.manifest.shards[s].file));
    // A plain Uint8Array view, not a node Buffer, so frames compare and print like typed arrays.
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #checkRow(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.numFrames) {
      throw new RangeError(`${this.path}: row ${i} out of range [0, ${this.numFrames})`);
    }
  }
}

async function readManifest(path: string): Promise<DatasetManifest> {
  const file = join(path, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new Error(`${file}: missing manifest (is ${path} a dataset?)`);
  }
  let m: DatasetManifest;
  try {
    m = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const fail = (problem: string) => new Error(`${file}: ${problem}`);
  if (m?.format !== DATASET_FORMAT) {
    throw fail(`format is ${JSON.stringify(m?.format)}, expected "${DATASET_FORMAT}"`);
  }
  if (m.version !== DATASET_VERSION) {
    throw fail(`unsupported version ${m.version} (this reader reads version ${DATASET_VERSION})`);
  }
  if (m.frameDtype !== "uint8") throw fail(`frameDtype is ${m.frameDtype}, expected uint8`);
  if (!Array.isArray(m.shards) || !Array.isArray(m.stateKeys) || !m.steps) {
    throw fail("shards, stateKeys or steps missing");
  }
  const framesInShards = m.shards.reduce((n, s) => n + s.numFrames, 0);
  if (framesInShards !== m.numSteps || m.steps.rows !== m.numSteps) {
    throw fail(
      `numSteps ${m.numSteps} disagrees with the shards (${framesInShards} frames) ` +
        `or the steps table (${m.steps.rows} rows)`,
    );
  }
  // frame(i) finds the shard by division, which needs every shard but the last to be full.
  if (m.shards.some((s, i) => i < m.shards.length - 1 && s.numFrames !== m.shardFrames)) {
    throw fail(`every shard but the last must hold shardFrames = ${m.shardFrames} frames`);
  }
  return m;
}

async function checkShardSize(path: string, shard: ShardInfo, frameBytes: number) {
  const file = join(path, shard.file);
  const expected = shard.numFrames * frameBytes;
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    throw new Error(`${file}: missing shard (the manifest lists ${shard.numFrames} frames)`);
  }
  if (size !== expected) {
    throw new Error(
      `${file}: ${size < expected ? "truncated" : "oversized"} shard: ${size} bytes, expected ` +
        `${expected} (${shard.numFrames} frames x ${frameBytes} bytes)`,
    );
  }
}

async function checkSha256(file: string, expected: string): Promise<void> {
  let actual: string;
  try {
    actual = await sha256File(file);
  } catch {
    throw new Error(`${file}: missing`);
  }
  if (actual !== expected) {
    throw new Error(`${file}: checksum mismatch: sha256 is ${actual}, manifest says ${expected}`);
  }
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest("hex");
}

async function readSteps(path: string, m: DatasetManifest): Promise<Map<string, StepColumn>> {
  const file = join(path, m.steps.file);
  if (!(await exists(file))) throw new Error(`${file}: missing steps table`);
  const df = pl.readParquet(file);
  const expected = stepColumns(m.stateKeys);
  for (const { name } of expected) {
    if (!df.columns.includes(name)) {
      throw new Error(
        `${file}: missing column "${name}"; expected columns: ` +
          expected.map((c) => c.name).join(", "),
      );
    }
  }
  if (df.height !== m.numSteps) {
    throw new Error(`${file}: has ${df.height} rows, manifest says ${m.numSteps}`);
  }
  const columns = new Map<string, StepColumn>();
  for (const { name, dtype } of expected) {
    try {
      columns.set(name, df.getColumn(name).cast(POLARS_TYPES[dtype].readAs).toTypedArray());
    } catch (err) {
      throw new Error(`${file}: column "${name}" cannot be read as ${dtype}: ${err}`);
    }
  }
  return columns;
}

/** Splits the episode column into contiguous runs; throws if an episode appears twice. */
function episodeSpans(episode: Int32Array, file: string): EpisodeSpan[] {
  const spans: EpisodeSpan[] = [];
  const seen = new Map<number, number>();
  for (let i = 0; i < episode.length; i++) {
    const last = spans[spans.length - 1];
    if (last && last.episode === episode[i]) {
      last.length++;
      continue;
    }
    if (seen.has(episode[i])) {
      throw new Error(
        `${file}: episode ${episode[i]} is split (rows ${seen.get(episode[i])} and ${i}); ` +
          `an episode's rows must be contiguous`,
      );
    }
    seen.set(episode[i], i);
    spans.push({ episode: episode[i], start: i, length: 1 });
  }
  return spans;
}

/** Bytes per frame, after checking the shape is three positive integers. */
function checkFrameShape(shape: readonly number[]): number {
  if (shape?.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(
      `frameShape must be [h, w, c] of positive integers, got ${JSON.stringify(shape)}`,
    );
  }
  return shape[0] * shape[1] * shape[2];
}

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}

// ---------------------------------------------------------------------------------------------
// Batches

/** Options for {@linkcode splitEpisodes}. */
export interface SplitOptions {
  /** Fraction of episodes for validation, in [0, 1). */
  valFraction: number;
  seed: number;
}

/**
 * Splits the dataset's episode ids into train and validation sets (by episode, so no frame of a
 * validation episode is seen in training). Deterministic given the seed. With `valFraction > 0`
 * and at least two episodes, each side gets at least one episode. Ids come back sorted.
 */
export function splitEpisodes(
  dataset: Dataset,
  { valFraction, seed }: SplitOptions,
): { train: number[]; val: number[] } {
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new Error(`splitEpisodes: valFraction must be in [0, 1), got ${valFraction}`);
  }
  const ids = new Rng(seed).shuffle(dataset.episodes().map((e) => e.episode));
  let numVal = Math.round(ids.length * valFraction);
  if (valFraction > 0 && ids.length >= 2) numVal = Math.min(Math.max(numVal, 1), ids.length - 1);
  const byId = (a: number, b: number) => a - b;
  return { train: ids.slice(numVal).sort(byId), val: ids.slice(0, numVal).sort(byId) };
}

/** Options shared by the batch readers. */
export interface BatchOptions {
  /** Episode ids to draw from (e.g. from {@linkcode splitEpisodes}); default all. */
  episodes?: number[];
  batchSize: number;
  /** Frames per stack, `k`; default 1. */
  stack?: number;
  /** Seeds the shuffle; use a new seed per epoch (e.g. `deriveSeed(seed, epoch)`). */
  seed: number;
  /** Skip the last, smaller batch; default false, so an epoch covers every sample once. */
  dropLast?: boolean;
}

/** A batch of frame stacks. */
export interface FrameStackBatch {
  /** `[B, h, w, c*k]` uint8, channels last; channel groups run oldest .. newest frame. */
  frames: Uint8Array;
  shape: [number, number, number, number];
  /** `[B]` row index of each stack's newest frame. */
  indices: Int32Array;
  /** `[B]` per state key, the newest frame's ground truth (probe labels). */
  state: Record<string, Float64Array>;
}

/** A batch of sequences of frame stacks. */
export interface SequenceBatch {
  /** `[B, T, h, w, c*k]` uint8. */
  frames: Uint8Array;
  shape: [number, number, number, number, number];
  /** `[B, T]` row indices. */
  indices: Int32Array;
  /** `[B, T]` action taken at each step (-1 at an episode's final observation). */
  actions: Int32Array;
  /** `[B, T]` reward of each step's transition. */
  rewards: Float32Array;
  /** `[B, T]` 1 where the step's transition ended the episode (terminated or truncated). */
  dones: Uint8Array;
  /** `[B, T]` per state key. */
  state: Record<string, Float64Array>;
}

/**
 * Shuffled batches of `k` stacked frames ending at each row of the chosen episodes; frames
 * before an episode's start repeat its first frame, as a frame stack does after reset. One pass
 * of the generator is one epoch: every row once, order fixed by the seed.
 */
export function* frameStackBatches(
  dataset: Dataset,
  opts: BatchOptions,
): Generator<FrameStackBatch> {
  const [h, w, c] = dataset.frameShape;
  const k = opts.stack ?? 1;
  for (const starts of shuffledBatches(windowStarts(dataset, opts.episodes, 1), opts)) {
    const { frames, indices } = gatherWindows(dataset, starts, 1, k);
    const state = gatherState(dataset, indices);
    yield { frames, shape: [starts.length, h, w, c * k], indices, state };
  }
}

/**
 * Shuffled windows of `length` consecutive rows inside one episode (windows never cross an
 * episode boundary; episodes shorter than `length` give none), each step a stack of `k` frames
 * as in {@linkcode frameStackBatches}. One pass covers every window start once.
 *
 * `frames: false` leaves `frames` empty (rows, actions and state only): for readers that look
 * frames up elsewhere, e.g. a world model reading latents precomputed per row.
 */
export function* sequenceBatches(
  dataset: Dataset,
  opts: BatchOptions & { length: number; frames?: boolean },
): Generator<SequenceBatch> {
  const [h, w, c] = dataset.frameShape;
  const k = opts.stack ?? 1;
  const T = opts.length;
  const action = dataset.column("action");
  const reward = dataset.column("reward");
  const terminated = dataset.column("terminated");
  const truncated = dataset.column("truncated");
  for (const starts of shuffledBatches(windowStarts(dataset, opts.episodes, T), opts)) {
    const { frames, indices } = opts.frames === false
      ? { frames: new Uint8Array(0), indices: windowRows(starts, T) }
      : gatherWindows(dataset, starts, T, k);
    yield {
      frames,
      shape: [starts.length, T, h, w, c * k],
      indices,
      actions: Int32Array.from(indices, (i) => action[i]),
      rewards: Float32Array.from(indices, (i) => reward[i]),
      dones: Uint8Array.from(indices, (i) => terminated[i] | truncated[i]),
      state: gatherState(dataset, indices),
    };
  }
}

/** First rows of every window of `length` rows lying inside one of `episodes`. */
function windowStarts(dataset: Dataset, episodes: number[] | undefined, length: number): number[] {
  if (!Number.isInteger(length) || length < 1) {
    throw new Error(`sequence length must be an integer >= 1, got ${length}`);
  }
  const spans = new Map(dataset.episodes().map((span) => [span.episode, span]));
  const starts: number[] = [];
  for (const id of episodes ?? spans.keys()) {
    const span = spans.get(id);
    if (!span) throw new Error(`${dataset.path}: no episode ${id}`);
    for (let s = span.start; s + length <= span.start + span.length; s++) starts.push(s);
  }
  return starts;
}

/** Shuffles `items` with the seed and cuts them into batches. */
function* shuffledBatches(items: number[], opts: BatchOptions): Generator<number[]> {
  const { batchSize, dropLast = false } = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batchSize must be an integer >= 1, got ${batchSize}`);
  }
  new Rng(opts.seed).shuffle(items);
  for (let at = 0; at < items.length; at += batchSize) {
    const batch = items.slice(at, at + batchSize);
    if (dropLast && batch.length < batchSize) return;
    yield batch;
  }
}

/**
 * Frames `[B, T, h, w, c*k]` for windows of `T` rows starting at `starts`, each step the stack
 * of `k` frames ending at its row, and the `[B, T]` row indices.
 */
function gatherWindows(
  dataset: Dataset,
  starts: number[],
  T: number,
  k: number,
): { frames: Uint8Array; indices: Int32Array } {
  if (!Number.isInteger(k) || k < 1) throw new Error(`stack must be an integer >= 1, got ${k}`);
  const c = dataset.frameShape[2];
  const pixels = dataset.frameBytes / c;
  const stackBytes = dataset.frameBytes * k;
  const frames = new Uint8Array(starts.length * T * stackBytes);
  const indices = new Int32Array(starts.length * T);
  starts.forEach((start, b) => {
    for (let t = 0; t < T; t++) {
      const row = start + t;
      const first = dataset.episodeStart(row);
      const out = frames.subarray((b * T + t) * stackBytes, (b * T + t + 1) * stackBytes);
      for (let j = 0; j < k; j++) {
        // Stack slot j holds frame row - (k-1) + j, clamped to the episode's first frame.
        const frame = dataset.frame(Math.max(first, row - (k - 1) + j));
        interleave(frame, out, pixels, c, k, j);
      }
      indices[b * T + t] = row;
    }
  });
  return { frames, indices };
}

/** The `[B, T]` row indices of windows of `T` rows starting at `starts`. */
function windowRows(starts: number[], T: number): Int32Array {
  const indices = new Int32Array(starts.length * T);
  starts.forEach((start, b) => {
    for (let t = 0; t < T; t++) indices[b * T + t] = start + t;
  });
  return indices;
}

/** Copies a `pixels x c` frame into channel group `j` of a `pixels x (c*k)` stack. */
function interleave(
  frame: Uint8Array,
  out: Uint8Array,
  pixels: number,
  c: number,
  k: number,
  j: number,
): void {
  if (k === 1) {
    out.set(frame);
    return;
  }
  if (c === 1) {
    // Gray frames, the common case: a plain strided copy, about 3x faster than the loop below.
    for (let p = 0; p < pixels; p++) out[p * k + j] = frame[p];
    return;
  }
  for (let p = 0; p < pixels; p++) {
    for (let ch = 0; ch < c; ch++) out[(p * k + j) * c + ch] = frame[p * c + ch];
  }
}

function gatherState(dataset: Dataset, indices: Int32Array): Record<string, Float64Array> {
  const state: Record<string, Float64Array> = {};
  for (const key of dataset.manifest.stateKeys) {
    const column = dataset.state(key);
    state[key] = Float64Array.from(indices, (i) => column[i]);
  }
  return state;
}
