/**
 * {@linkcode DatasetWriter}: writes a dataset in the layout of `format.ts`, frames to disk as
 * they arrive, and moves it into place atomically when it is finished; with a journal, what it
 * committed survives a crash and a later writer continues from there.
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  writeSync,
} from "node:fs";
import { link, mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import pl from "nodejs-polars";
import type { ObsShape } from "../envs/types.ts";
import { writeDirAtomic, writeFileAtomic, writeFileAtomicSync } from "../run/atomic.ts";
import { valueDiffs } from "../run/config.ts";
import {
  type BaseColumn,
  checkFrameShape,
  type ColumnSpec,
  DATASET_FORMAT,
  DATASET_VERSION,
  type DatasetManifest,
  type FrameCompression,
  MANIFEST_FILE,
  POLARS_TYPES,
  sha256File,
  SHARD_FILE,
  shardFileName,
  type ShardInfo,
  stepColumns,
  type StepRow,
  STEPS_FILE,
} from "./format.ts";

/** Shards aim at this size when `shardFrames` is not given: small enough to load whole. */
const DEFAULT_SHARD_BYTES = 64 * 2 ** 20;
const MAX_DEFAULT_SHARD_FRAMES = 4096;
/** Gzip shards: frames are compressed in runs of about this many bytes, one gzip member each. */
const GZIP_MEMBER_BYTES = 4 * 2 ** 20;
/** The journal's record of the last commit, inside the journal directory. */
const JOURNAL_FILE = "journal.json";
/** Committed rows, row after row of float64 column values, inside the journal directory. */
const ROWS_FILE = "rows.f64";

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
  /**
   * Keep a journal, so that a long recording survives a crash: staging goes to a fixed
   * directory beside `path` (`.<name>.journal`), {@linkcode DatasetWriter.commit} makes the
   * rows and frames added so far durable, and a writer created later with the same options
   * continues after the last commit (whatever was added after it is dropped). Other options
   * than the journal's are an error that names them. Default false.
   */
  journal?: boolean;
  /**
   * `gzip`: shards are written as gzip members (level 1) of runs of frames, read back by the
   * same reader; full RGB screens take about a fiftieth of their raw size. Default: raw shards.
   */
  compression?: FrameCompression;
}

/** What `journal.json` holds: the options, and the state of the dataset at the last commit. */
interface JournalRecord {
  options: unknown;
  numSteps: number;
  numEpisodes: number;
  /** Shards full at the commit. */
  shards: ShardInfo[];
  /**
   * The shard being filled at the commit, its frames and its bytes on disk then (more may
   * follow on disk); `bytes` is absent in journals of raw shards written before compression.
   */
  open: { file: string; numFrames: number; bytes?: number } | null;
}

/** The shard being filled: an open file and the running hash of what went into it. */
interface OpenShard {
  file: string;
  fd: number;
  hash: ReturnType<typeof createHash>;
  /** Frames added, those waiting in the gzip run included. */
  numFrames: number;
  /** Bytes written to the file. */
  bytes: number;
}

/**
 * Writes a dataset. Everything goes to a hidden staging directory beside `path`; only
 * {@linkcode DatasetWriter.finish} moves it into place (through {@linkcode writeDirAtomic}), so a
 * crash or {@linkcode DatasetWriter.abort} never leaves a half dataset at `path`, and a dataset
 * already there is replaced only by a finished one. A crash can leave the staging directory
 * (`.<name>.partial-*`) behind; nothing reads it. With the `journal` option the staging
 * directory is `.<name>.journal`, and a writer created again continues after the last
 * {@linkcode DatasetWriter.commit} (a recording resumed game by game).
 *
 * Frames go to disk as they arrive (a shard is fsync'd when full), so memory holds only the
 * step rows (a few dozen bytes each); gzip shards hold one run of frames (4 MiB) until it is
 * compressed, at the latest at the next commit.
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
  /** Journal mode: the committed rows file, and how much of what was added is committed. */
  #rowsFd: number | undefined;
  #committed = { steps: 0, episodes: 0 };
  #committing = false;
  /** Journal mode: shards filled since the last commit, open until it syncs them. */
  readonly #unsynced: number[] = [];
  /** Gzip shards: the frames of the run not yet compressed, and how many there are. */
  readonly #run: Uint8Array | undefined;
  #runFrames = 0;

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
    if (opts.compression !== undefined && opts.compression !== "gzip") {
      throw new Error(
        `DatasetWriter: compression must be "gzip" or absent, got ${
          JSON.stringify(opts.compression)
        }`,
      );
    }
    if (opts.compression === "gzip") {
      const runFrames = Math.max(1, Math.floor(GZIP_MEMBER_BYTES / this.#frameBytes));
      this.#run = new Uint8Array(runFrames * this.#frameBytes);
    }
  }

  /**
   * Starts a dataset at `path`. Throws if `path` exists and is not a dataset, so a typo cannot
   * replace unrelated data; an existing dataset is replaced when this writer finishes.
   */
  static async create(path: string, opts: DatasetWriterOptions): Promise<DatasetWriter> {
    await assertReplaceable(path);
    await mkdir(dirname(path), { recursive: true });
    // Beside `path`, so that finish() only renames within one file system.
    const staging = opts.journal
      ? journalDir(path)
      : join(dirname(path), `.${basename(path)}.partial-${crypto.randomUUID()}`);
    const writer = new DatasetWriter(path, staging, opts);
    if (opts.journal) await writer.#openJournal();
    else await mkdir(staging);
    return writer;
  }

  /** Rows added so far (in journal mode, the committed ones of earlier sessions included). */
  get numSteps(): number {
    return this.#numSteps;
  }

  /** Rows and distinct episodes committed (journal mode; both 0 without a journal). */
  get committed(): { steps: number; episodes: number } {
    return { ...this.#committed };
  }

  /**
   * Makes everything added so far durable (journal mode only): frames fsync'd, the new rows
   * appended to the journal's rows file, then the journal record replaced atomically. A crash
   * at any point leaves the previous commit or this one, never a mix. The disk work runs off
   * the main thread, so a caller may go on computing (not writing) until it awaits the commit.
   */
  async commit(): Promise<void> {
    if (this.#closed) throw new Error(`DatasetWriter(${this.path}): commit after finish/abort`);
    if (this.#rowsFd === undefined) {
      throw new Error(`DatasetWriter(${this.path}): commit needs the journal option`);
    }
    this.#refuseDuringCommit("commit");
    this.#committing = true;
    try {
      await this.#commit(this.#rowsFd);
    } finally {
      this.#committing = false;
    }
  }

  async #commit(rowsFd: number): Promise<void> {
    if (this.#shard) this.#compressRun(this.#shard);
    const from = this.#committed.steps;
    const fresh = this.#numSteps - from;
    const width = this.#columns.length;
    const rows = new Float64Array(fresh * width);
    this.#values.forEach((builder, c) => {
      const column = builder.values();
      for (let r = 0; r < fresh; r++) rows[r * width + c] = column[from + r];
    });
    writeAll(rowsFd, new Uint8Array(rows.buffer));
    const episodes = this.#pastEpisodes.size + (this.#episode === undefined ? 0 : 1);
    const record: JournalRecord = {
      options: this.#journalOptions(),
      numSteps: this.#numSteps,
      numEpisodes: episodes,
      shards: [...this.#shards],
      open: this.#shard
        ? { file: this.#shard.file, numFrames: this.#shard.numFrames, bytes: this.#shard.bytes }
        : null,
    };
    // One await for all the slow work, then the small record written at once: the caller's
    // loop gives the event loop a turn only when it awaits, and each await costs one.
    const filled = this.#unsynced.splice(0);
    const fds = [...filled, ...(this.#shard ? [this.#shard.fd] : []), rowsFd];
    await Promise.all(fds.map(fsyncAsync));
    for (const fd of filled) closeSync(fd);
    writeFileAtomicSync(join(this.#staging, JOURNAL_FILE), JSON.stringify(record) + "\n");
    this.#committed = { steps: this.#numSteps, episodes };
  }

  /**
   * Appends one frame and its row. The frame is written out at once (the caller may reuse its
   * buffer). Synchronous, so a collector loop needs no `await`; a full shard is flushed here.
   */
  add(frame: Uint8Array, row: StepRow): void {
    if (this.#closed) throw new Error(`DatasetWriter(${this.path}): add after finish/abort`);
    this.#refuseDuringCommit("add");
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
    if (this.#run) {
      this.#run.set(frame, this.#runFrames++ * this.#frameBytes);
      if (this.#runFrames * this.#frameBytes === this.#run.length) this.#compressRun(shard);
    } else this.#write(shard, frame);
    shard.numFrames++;
    values.forEach((value, i) => this.#values[i].push(value));
    this.#numSteps++;
    if (shard.numFrames === this.#shardFrames) this.#closeShard();
  }

  /**
   * Writes the steps table and manifest, then moves the dataset into place. On failure (or with
   * no steps added) it throws and cleans up like {@linkcode DatasetWriter.abort}; in journal
   * mode it keeps the journal instead, like {@linkcode DatasetWriter.close}.
   */
  async finish(): Promise<DatasetManifest> {
    if (this.#closed) throw new Error(`DatasetWriter(${this.path}): finish after finish/abort`);
    this.#refuseDuringCommit("finish");
    this.#closed = true;
    const journal = this.#rowsFd !== undefined;
    try {
      if (this.#numSteps === 0) throw new Error(`DatasetWriter(${this.path}): no steps added`);
      this.#closeShard();
      for (const fd of this.#unsynced.splice(0)) {
        fsyncSync(fd);
        closeSync(fd);
      }
      let manifest: DatasetManifest | undefined;
      await writeDirAtomic(this.path, async (dir) => {
        for (const shard of this.#shards) {
          // A journal's shards stay where they are until the dataset is in place.
          const move = journal ? link : rename;
          await move(join(this.#staging, shard.file), join(dir, shard.file));
        }
        const steps = await this.#writeSteps(join(dir, STEPS_FILE));
        manifest = this.#manifest(steps);
        await writeFileAtomic(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
      });
      await this.#cleanup();
      return manifest!;
    } catch (err) {
      if (journal) this.#closeFiles();
      else await this.#cleanup();
      throw err;
    }
  }

  /** Drops everything written so far, journal included; `path` is left as it was. */
  async abort(): Promise<void> {
    this.#refuseDuringCommit("abort");
    this.#closed = true;
    await this.#cleanup();
  }

  /**
   * Stops writing. In journal mode the journal stays, for a later writer to continue after its
   * last commit; without a journal this is {@linkcode DatasetWriter.abort}.
   */
  async close(): Promise<void> {
    this.#refuseDuringCommit("close");
    if (this.#rowsFd === undefined) return await this.abort();
    this.#closed = true;
    this.#closeFiles();
  }

  /**
   * Journal mode: starts a journal, or continues the one in the staging directory after its
   * last commit, dropping rows and frames added after it.
   */
  async #openJournal(): Promise<void> {
    const journalFile = join(this.#staging, JOURNAL_FILE);
    const rowsFile = join(this.#staging, ROWS_FILE);
    if (!existsSync(journalFile)) {
      // Nothing was committed: whatever a crashed session left is not worth keeping.
      await rm(this.#staging, { recursive: true, force: true });
      await mkdir(this.#staging, { recursive: true });
      this.#rowsFd = openSync(rowsFile, "w");
      return;
    }
    const record = readJournal(journalFile);
    const diffs = valueDiffs(record.options, this.#journalOptions());
    if (diffs.length > 0) {
      throw new Error(
        `${this.#staging}: the unfinished dataset for ${this.path} was started with other ` +
          `options: ${diffs.join(", ")}. Continue it with the same options, or remove ` +
          `${this.#staging} to start again`,
      );
    }
    for (const shard of record.shards) {
      await checkStagedSize(join(this.#staging, shard.file), shard.bytes);
      this.#shards.push(shard);
    }
    const keep = new Set(this.#shards.map((shard) => shard.file));
    if (record.open) {
      const { file, numFrames, bytes = numFrames * this.#frameBytes } = record.open;
      keep.add(file);
      this.#shard = this.#reopenShard(file, numFrames, bytes);
    }
    for (const name of await readdir(this.#staging)) {
      if (SHARD_FILE.test(name) && !keep.has(name)) await rm(join(this.#staging, name));
    }
    const width = this.#columns.length;
    const bytes = truncateTo(rowsFile, record.numSteps * width * 8);
    const rows = new Float64Array(bytes.buffer, bytes.byteOffset, record.numSteps * width);
    const episodeColumn = this.#columns.findIndex((spec) => spec.name === "episode");
    for (let r = 0; r < record.numSteps; r++) {
      this.#enterEpisode(rows[r * width + episodeColumn]);
      for (let c = 0; c < width; c++) this.#values[c].push(rows[r * width + c]);
    }
    this.#rowsFd = openSync(rowsFile, "a");
    this.#numSteps = record.numSteps;
    this.#committed = { steps: record.numSteps, episodes: record.numEpisodes };
  }

  /** Files must not change under a commit's fsyncs: the caller awaits the commit first. */
  #refuseDuringCommit(what: string): void {
    if (this.#committing) {
      throw new Error(`DatasetWriter(${this.path}): ${what} during a commit; await commit() first`);
    }
  }

  /** The committed frames of a shard being filled, open for appending with its hash restored. */
  #reopenShard(file: string, numFrames: number, bytes: number): OpenShard {
    const path = join(this.#staging, file);
    const hash = createHash("sha256").update(truncateTo(path, bytes));
    return { file, fd: openSync(path, "a"), hash, numFrames, bytes };
  }

  /** The options a journal must be continued with (the creation time may differ). */
  #journalOptions(): unknown {
    const { env, frameShape, stateKeys, meta, compression } = this.#opts;
    const { createdAt: _, ...rest } = meta ?? {};
    return JSON.parse(JSON.stringify({
      env,
      frameShape,
      stateKeys,
      shardFrames: this.#shardFrames,
      compression,
      meta: rest,
    }));
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
    const file = shardFileName(this.#shards.length, this.#opts.compression);
    const fd = openSync(join(this.#staging, file), "w");
    this.#shard = { file, fd, hash: createHash("sha256"), numFrames: 0, bytes: 0 };
    return this.#shard;
  }

  #write(shard: OpenShard, bytes: Uint8Array): void {
    writeAll(shard.fd, bytes);
    shard.hash.update(bytes);
    shard.bytes += bytes.length;
  }

  /** Gzip shards: writes the frames waiting in the run as one gzip member. */
  #compressRun(shard: OpenShard): void {
    if (!this.#run || this.#runFrames === 0) return;
    const raw = this.#run.subarray(0, this.#runFrames * this.#frameBytes);
    this.#write(shard, gzipSync(raw, { level: 1 }));
    this.#runFrames = 0;
  }

  #closeShard(): void {
    const shard = this.#shard;
    if (!shard) return;
    this.#compressRun(shard);
    this.#shard = undefined;
    if (this.#rowsFd !== undefined) {
      // Journal mode: the next commit syncs it off the main thread.
      this.#unsynced.push(shard.fd);
    } else {
      fsyncSync(shard.fd);
      closeSync(shard.fd);
    }
    this.#shards.push({
      file: shard.file,
      numFrames: shard.numFrames,
      bytes: shard.bytes,
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
      ...(this.#opts.compression ? { compression: this.#opts.compression } : {}),
      shards: this.#shards,
      steps,
      columns: this.#columns.map((spec) => spec.name),
      stateKeys: [...this.#opts.stateKeys],
      meta: { createdAt: new Date().toISOString(), ...this.#opts.meta },
    };
  }

  async #cleanup(): Promise<void> {
    this.#closeFiles();
    await rm(this.#staging, { recursive: true, force: true });
  }

  #closeFiles(): void {
    for (const fd of this.#unsynced.splice(0)) closeSync(fd);
    if (this.#shard) closeSync(this.#shard.fd);
    this.#shard = undefined;
    if (this.#rowsFd !== undefined) closeSync(this.#rowsFd);
    this.#rowsFd = undefined;
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

/** The journal directory of a dataset written with the `journal` option (beside it, hidden). */
export function journalDir(path: string): string {
  return join(dirname(path), `.${basename(path)}.journal`);
}

function readJournal(file: string): JournalRecord {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${file}: damaged journal (${(err as Error).message})`);
  }
}

async function checkStagedSize(file: string, expected: number): Promise<void> {
  const size = await stat(file).then((s) => s.size, () => -1);
  if (size !== expected) {
    throw new Error(
      `${file}: the journal recorded ${expected} bytes, found ${size < 0 ? "no file" : size}`,
    );
  }
}

/** Cuts a file to its first `length` bytes (an error if it is shorter) and returns them. */
function truncateTo(file: string, length: number): Uint8Array {
  if (!existsSync(file)) throw new Error(`${file}: missing (the journal recorded ${length} bytes)`);
  const fd = openSync(file, "r+");
  try {
    const bytes = new Uint8Array(length);
    for (let at = 0; at < length;) {
      const got = readSync(fd, bytes, at, length - at, at);
      if (got === 0) {
        throw new Error(`${file}: the journal recorded ${length} bytes, found ${at}`);
      }
      at += got;
    }
    ftruncateSync(fd, length);
    fsyncSync(fd);
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/** fsync on a worker thread of the runtime, leaving the main thread free. */
function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
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
