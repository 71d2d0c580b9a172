/**
 * Atari-HEAD trials on disk: `<name>.txt` (labels, `labels.ts`) beside `<name>.tar.bz2` (the
 * frames as `<name>/<frame_id>.png`, 210x160 RGB). {@linkcode findTrials} lists the trials of a
 * game folder (its `highscore/` folder too) or names one; {@linkcode readTrial} streams an
 * archive and checks it against its labels; {@linkcode TrialWriter} writes one in the same layout
 * (archive first, then labels, each to a temporary name and renamed, so a crash never leaves a
 * trial that looks whole).
 *
 * @module
 */

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../../run/atomic.ts";
import { encodePng } from "../../viz/png.ts";
import { bzip2Read, bzip2Write } from "./bzip2.ts";
import { folderGameFiles, type GameFileRefs, zipGameFiles } from "./game_files.ts";
import { formatLabels, type LabelRow, parseLabels } from "./labels.ts";
import { readTar, tarEnd, tarEntry } from "./tar.ts";
import { findEntry, zipEntries, type ZipEntry, zipEntryBytes, zipEntryStream } from "./zip.ts";

/** Atari-HEAD's screen: every frame is 210x160 RGB. */
export const SCREEN_SHAPE = [210, 160, 3] as const;

/** The two files of a trial: paths, or entry names inside `zip`. */
export interface TrialFiles {
  /** `<trial number>_<subject>_<session>_<date>`, e.g. `100_RZ_3592991_Aug-24-11-44-38`. */
  name: string;
  labels: string;
  archive: string;
  /** The per-game zip holding both (Atari-HEAD's `breakout.zip`), read in place. */
  zip?: string;
  /** The game's `action_enums.txt` and `meta_data.csv` beside the trial, where present. */
  game?: GameFileRefs;
}

const ARCHIVE = ".tar.bz2";

/** The trial a `.txt` or `.tar.bz2` path belongs to. */
export function trialFiles(path: string): TrialFiles {
  const file = basename(path);
  const name = file.endsWith(ARCHIVE)
    ? file.slice(0, -ARCHIVE.length)
    : file.endsWith(".txt")
    ? file.slice(0, -4)
    : null;
  if (name === null) {
    throw new Error(
      `${path}: not an Atari-HEAD trial file (expected <trial>.txt or <trial>.tar.bz2)`,
    );
  }
  const dir = dirname(path);
  return { name, labels: join(dir, `${name}.txt`), archive: join(dir, `${name}${ARCHIVE}`) };
}

/**
 * The trials at `path`: a trial file, a game folder (and its `highscore/` folder), or a game's
 * zip, sorted by trial number. A trial with one of its two files missing is an error naming it.
 */
export async function findTrials(path: string): Promise<TrialFiles[]> {
  if (!existsSync(path)) throw new Error(`${path}: no such file or folder`);
  if (path.endsWith(".zip")) return sortTrials(zipTrials(path, await zipEntries(path)), path);
  if (!statSync(path).isDirectory()) {
    // A trial of a game folder's highscore/ folder has the game's files one level up.
    const dir = dirname(path);
    const dirs = basename(dir) === "highscore" ? [dir, dirname(dir)] : [dir];
    return [withGame(checkTrial(trialFiles(path)), folderGameFiles(dirs))];
  }
  const dirs = [path, join(path, "highscore")].filter((d) => existsSync(d));
  const game = folderGameFiles([path]);
  const names = new Set<string>();
  const trials: TrialFiles[] = [];
  for (const dir of dirs) {
    for (const f of readdirSync(dir).sort()) {
      if (!(f.endsWith(".txt") || f.endsWith(ARCHIVE)) || f.startsWith(".")) continue;
      if (f === "action_enums.txt") continue;
      const t = trialFiles(join(dir, f));
      if (names.has(t.labels)) continue;
      names.add(t.labels);
      trials.push(withGame(checkTrial(t), game));
    }
  }
  return sortTrials(trials, path);
}

function sortTrials(trials: TrialFiles[], path: string): TrialFiles[] {
  if (trials.length === 0) {
    throw new Error(`${path}: no Atari-HEAD trials (<trial>.txt + <trial>.tar.bz2) in it`);
  }
  return trials.sort((a, b) =>
    trialNumber(a.name) - trialNumber(b.name) || (a.name < b.name ? -1 : 1)
  );
}

/** The trials of a zip's entries; a trial with one of its two files missing is an error. */
function zipTrials(zip: string, entries: ZipEntry[]): TrialFiles[] {
  const names = new Set(entries.map((e) => e.name));
  const game = zipGameFiles(zip, [...names]);
  const trials = new Map<string, TrialFiles>();
  for (const e of entries) {
    const file = basename(e.name);
    if (file === "action_enums.txt" || file.startsWith(".")) continue;
    if (!(file.endsWith(".txt") || file.endsWith(ARCHIVE))) continue;
    const t = trialFiles(e.name);
    if (trials.has(t.labels)) continue;
    for (const f of [t.labels, t.archive]) {
      if (!names.has(f)) throw new Error(`trial ${t.name}: ${zip} has no ${f}`);
    }
    trials.set(t.labels, withGame({ ...t, zip }, game));
  }
  return [...trials.values()];
}

/** `t` with the game files `refs` names, if it names any. */
function withGame(t: TrialFiles, refs: GameFileRefs): TrialFiles {
  return refs.actionEnums || refs.metaData ? { ...t, game: refs } : t;
}

function checkTrial(t: TrialFiles): TrialFiles {
  for (const f of [t.labels, t.archive]) {
    if (!existsSync(f)) throw new Error(`trial ${t.name}: ${f} is missing`);
  }
  return t;
}

/** The trial number a name starts with (NaN when it has none). */
export function trialNumber(name: string): number {
  const m = /^(\d+)_/.exec(name);
  return m ? Number(m[1]) : NaN;
}

/** A trial read whole: its labels and each labelled frame's PNG bytes, in label order. */
export interface Trial {
  name: string;
  rows: LabelRow[];
  /** `pngs[i]` is the frame of `rows[i]`. */
  pngs: Uint8Array[];
}

/**
 * Reads a trial: its labels, then its archive as a stream, keeping the PNG of every labelled
 * frame. A labelled frame missing from the archive, a damaged or truncated archive, or labels
 * that do not parse are errors naming the trial (and the line or the frame id).
 */
export async function readTrial(t: TrialFiles): Promise<Trial> {
  const entries = t.zip ? await zipEntries(t.zip) : [];
  const entry = (name: string) => findEntry(entries, name)!;
  const text = t.zip
    ? new TextDecoder().decode(await zipEntryBytes(t.zip, entry(t.labels)))
    : readFileSync(t.labels, "utf8");
  const rows = parseLabels(text, t.name);
  const wanted = new Map<string, number>();
  rows.forEach((r, i) => wanted.set(r.frameId, i));
  const found = new Map<string, Uint8Array>();
  const bz = t.zip
    ? bzip2Read(await zipEntryStream(t.zip, entry(t.archive)), `${t.zip}: ${t.archive}`)
    : bzip2Read(t.archive);
  try {
    for await (const entry of readTar(bz.stream)) {
      const m = /([^/]+)\.png$/.exec(entry.name);
      if (m && wanted.has(m[1])) found.set(m[1], entry.data);
    }
    await bz.done();
  } catch (err) {
    bz.cancel();
    // A damaged bzip2 layer also breaks the tar stream; bzip2's own words say more.
    const bzError = await bz.done().then(() => null, (e: Error) => e);
    if (bzError && /unexpectedly|integrity|not a bzip2|CRC/i.test(bzError.message)) {
      throw new Error(`trial ${t.name}: ${bzError.message}`);
    }
    throw new Error(`trial ${t.name}: ${t.archive}: ${(err as Error).message}`);
  }
  const pngs = rows.map((r, i) => {
    const png = found.get(r.frameId);
    if (!png) {
      throw new Error(
        `trial ${t.name}: line ${i + 2}: frame '${r.frameId}' is not in ${basename(t.archive)}`,
      );
    }
    return png;
  });
  return { name: t.name, rows, pngs };
}

/** One frame of a trial being written: the screen and its label (`frameId` is made here). */
export type TrialStep = Omit<LabelRow, "frameId">;

/**
 * Writes one trial in Atari-HEAD's layout: `add` each 210x160 RGB frame with its label (frame
 * ids `<subject>_<session>_<n>` as Atari-HEAD names them), then `finish`.
 */
export class TrialWriter {
  readonly #rows: LabelRow[] = [];
  readonly #pngs: Uint8Array[] = [];
  readonly #prefix: string;

  /** `name`: `<trial number>_<subject>_<session>_<date>`. */
  constructor(readonly dir: string, readonly name: string) {
    const m = /^\d+_([A-Za-z0-9]+)_(\d+)_[\w-]+$/.exec(name);
    if (!m) {
      throw new Error(
        `trial name '${name}': expected <trial number>_<subject>_<session>_<date>, e.g. ` +
          `100_RZ_3592991_Aug-24-11-44-38`,
      );
    }
    this.#prefix = `${m[1]}_${m[2]}`;
  }

  get frames(): number {
    return this.#rows.length;
  }

  /** Adds a frame (210x160x3 RGB) and its label. */
  add(rgb: Uint8Array, step: TrialStep): void {
    const [h, w, c] = SCREEN_SHAPE;
    if (rgb.length !== h * w * c) {
      throw new Error(
        `TrialWriter: a frame must be ${w}x${h} RGB (${h * w * c} bytes), got ${rgb.length}`,
      );
    }
    const frameId = `${this.#prefix}_${this.#rows.length + 1}`;
    this.#rows.push({ frameId, ...step });
    this.#pngs.push(encodePng(rgb, w, h, 3));
  }

  /** Writes `<name>.tar.bz2`, then `<name>.txt`; returns the trial's files. */
  async finish(): Promise<TrialFiles> {
    const files = trialFiles(join(this.dir, `${this.name}.txt`));
    const partial = join(this.dir, `.${this.name}${ARCHIVE}.partial-${crypto.randomUUID()}`);
    const name = this.name;
    const pngs = this.#pngs;
    const rows = this.#rows;
    function* chunks(): Generator<Uint8Array> {
      for (let i = 0; i < pngs.length; i++) {
        yield* tarEntry(`${name}/${rows[i].frameId}.png`, pngs[i]);
      }
      yield tarEnd();
    }
    try {
      await bzip2Write(partial, chunks());
      await rename(partial, files.archive);
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    }
    await writeFileAtomic(files.labels, formatLabels(rows));
    return files;
  }
}
