/**
 * The validating reader: {@linkcode openDataset} checks a dataset directory against its manifest
 * (files, sizes, checksums, columns, counts) and gives a {@linkcode Dataset} with frames, rows
 * and episodes.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import pl from "nodejs-polars";
import {
  checkFrameShape,
  DATASET_FORMAT,
  DATASET_VERSION,
  type DatasetManifest,
  MANIFEST_FILE,
  POLARS_TYPES,
  sha256File,
  SHARD_FILE,
  type ShardInfo,
  type StepColumn,
  stepColumns,
  type StepRow,
  STEPS_FILE,
} from "./format.ts";

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
 * or malformed manifest, a file name that is not a dataset's own (a manifest never leads out of
 * its directory), a wrong format or version, a missing or wrongly sized shard, a
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
  for (const shard of manifest.shards) await checkShardSize(path, manifest, shard, frameBytes);
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

  /** Row `i` in the form `DatasetWriter.add` takes. */
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
    const { file, numFrames } = this.manifest.shards[s];
    const path = join(this.path, file);
    let bytes: Uint8Array = readFileSync(path);
    if (this.manifest.compression === "gzip") {
      try {
        bytes = gunzipSync(bytes);
      } catch (err) {
        throw new Error(`${path}: not a valid gzip shard (${(err as Error).message})`);
      }
      if (bytes.length !== numFrames * this.frameBytes) {
        throw new Error(
          `${path}: holds ${bytes.length} bytes once unzipped, expected ` +
            `${numFrames * this.frameBytes} (${numFrames} frames x ${this.frameBytes} bytes)`,
        );
      }
    }
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
  if (m.compression !== undefined && m.compression !== "gzip") {
    throw fail(`compression is ${JSON.stringify(m.compression)}, expected "gzip" or none`);
  }
  const suffix = m.compression === "gzip" ? ".u8.gz" : ".u8";
  for (const { file } of m.shards) {
    if (typeof file !== "string" || !SHARD_FILE.test(file) || !file.endsWith(suffix)) {
      throw fail(
        `shard file ${JSON.stringify(file)} is not a shard name (frames-NNNNN${suffix})`,
      );
    }
  }
  if (m.steps.file !== STEPS_FILE) {
    throw fail(`steps file ${JSON.stringify(m.steps.file)}, expected "${STEPS_FILE}"`);
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

async function checkShardSize(
  path: string,
  manifest: DatasetManifest,
  shard: ShardInfo,
  frameBytes: number,
) {
  const file = join(path, shard.file);
  const gzip = manifest.compression === "gzip";
  // A gzip shard's length is known from the manifest only; its frames are counted when read.
  const expected = gzip ? shard.bytes : shard.numFrames * frameBytes;
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    throw new Error(`${file}: missing shard (the manifest lists ${shard.numFrames} frames)`);
  }
  if (size !== expected) {
    throw new Error(
      `${file}: ${size < expected ? "truncated" : "oversized"} shard: ${size} bytes, expected ` +
        `${expected} (${
          gzip
            ? `gzip of ${shard.numFrames} frames`
            : `${shard.numFrames} frames x ${frameBytes} bytes`
        })`,
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

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}
