/**
 * {@linkcode DatasetWriter}: writes a dataset in the layout of `format.ts`, frames to disk as
 * they arrive, and moves it into place atomically when it is finished.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import pl from "nodejs-polars";
import type { ObsShape } from "../envs/types.ts";
import { writeDirAtomic, writeFileAtomic } from "../run/atomic.ts";
import {
  type BaseColumn,
  checkFrameShape,
  type ColumnSpec,
  DATASET_FORMAT,
  DATASET_VERSION,
  type DatasetManifest,
  MANIFEST_FILE,
  POLARS_TYPES,
  sha256File,
  type ShardInfo,
  stepColumns,
  type StepRow,
  STEPS_FILE,
} from "./format.ts";

/** Shards aim at this size when `shardFrames` is not given: small enough to load whole. */
const DEFAULT_SHARD_BYTES = 64 * 2 ** 20;
const MAX_DEFAULT_SHARD_FRAMES = 4096;

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

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}
