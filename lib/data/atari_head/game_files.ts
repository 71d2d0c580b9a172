/**
 * The files of an Atari-HEAD game beside its trials: `action_enums.txt` (the action enum the
 * labels' action ids refer to) and `meta_data.csv` (one row per trial: its number, subject,
 * frame count, score, ...). Both are optional; where present they are read and checked:
 *
 * - `action_enums.txt`: one action per line, a name (with or without ALE's `PLAYER_A_` prefix)
 *   and its id, separated by `=`, `,`, `:` or spaces, in either order (lines without a digit, such
 *   as a title, are skipped). Every id must name the same action as ALE's enum, or the labels' ids
 *   would be mapped to the wrong actions.
 * - `meta_data.csv`: a header, then one row per trial; the trial column is `TrialNumber` or
 *   `trial_id` (any case), the frame count, where given, `NumberOfFrames` or `total_frame`.
 *
 * A malformed file is an error naming it and the line. `deno task collect --format atari-head`
 * writes both files for its recordings ({@linkcode formatActionEnums}, {@linkcode formatMetaData}).
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ALE_ACTIONS } from "./labels.ts";
import { findEntry, zipEntries, zipEntryBytes } from "./zip.ts";

/** File names of a game's extra files. */
export const ACTION_ENUMS_FILE = "action_enums.txt";
export const META_DATA_FILE = "meta_data.csv";

/** Where a trial's game files are: paths, or entry names inside `zip`. */
export interface GameFileRefs {
  actionEnums?: string;
  metaData?: string;
  zip?: string;
}

/** One row of `meta_data.csv`, by column; numbers where the field is one. */
export type MetaRow = Record<string, string | number>;

/** `meta_data.csv` read: its rows by trial number, and its frame-count column if it has one. */
export interface MetaTable {
  source: string;
  rows: Map<number, MetaRow>;
  framesColumn?: string;
}

/** The game files beside trials, read and checked. */
export interface GameFiles {
  /** The enum's names, index = action id (ALE's, checked). */
  actionEnums?: { source: string; names: string[] };
  meta?: MetaTable;
}

/** The game files next to trials in a folder (or beside a trial file's folder). */
export function folderGameFiles(dirs: readonly string[]): GameFileRefs {
  const refs: GameFileRefs = {};
  for (const dir of dirs) {
    const enums = join(dir, ACTION_ENUMS_FILE);
    const meta = join(dir, META_DATA_FILE);
    if (!refs.actionEnums && existsSync(enums)) refs.actionEnums = enums;
    if (!refs.metaData && existsSync(meta)) refs.metaData = meta;
  }
  return refs;
}

/** The game files among a zip's entry names (anywhere in it). */
export function zipGameFiles(zip: string, names: readonly string[]): GameFileRefs {
  const find = (file: string) => names.find((n) => n === file || n.endsWith(`/${file}`));
  const refs: GameFileRefs = { zip };
  const enums = find(ACTION_ENUMS_FILE);
  const meta = find(META_DATA_FILE);
  if (enums) refs.actionEnums = enums;
  if (meta) refs.metaData = meta;
  return refs;
}

/** The ALE name of an enum entry (`PLAYER_A_UPFIRE` -> `UPFIRE`). */
function aleName(name: string): string {
  return name.toUpperCase().replace(/^PLAYER_A_/, "");
}

/**
 * Parses `action_enums.txt`; `source` names it in errors. Throws naming the line when a line is
 * not a name and an id, an id repeats, or an id names another action than ALE's enum does.
 */
export function parseActionEnums(text: string, source: string): string[] {
  const names: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    // Blank lines, comments, and a title or header line (no id in it) say nothing of the enum.
    if (line === "" || line.startsWith("#") || !/\d/.test(line)) return;
    const where = `${source}: line ${i + 1}`;
    const parts = line.split(/[\s=,:]+/).filter((p) => p !== "");
    const ids = parts.filter((p) => /^\d+$/.test(p));
    const words = parts.filter((p) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(p));
    if (parts.length !== 2 || ids.length !== 1 || words.length !== 1) {
      throw new Error(
        `${where}: expected an action name and its id (e.g. 'PLAYER_A_FIRE = 1'), ` +
          `got '${line}'`,
      );
    }
    const id = Number(ids[0]);
    const name = aleName(words[0]);
    if (names[id] !== undefined) throw new Error(`${where}: id ${id} is given twice`);
    if (ALE_ACTIONS[id] !== name) {
      throw new Error(
        `${where}: id ${id} is '${words[0]}' here but ${
          ALE_ACTIONS[id] ?? "not an action"
        } in ALE's enum: the labels' action ids would be read as the wrong actions`,
      );
    }
    names[id] = name;
  });
  if (names.length === 0) throw new Error(`${source}: no actions in it`);
  return names;
}

/** ALE's enum as `action_enums.txt`. */
export function formatActionEnums(): string {
  return ALE_ACTIONS.map((name, id) => `PLAYER_A_${name} = ${id}`).join("\n") + "\n";
}

const TRIAL_COLUMNS = ["trialnumber", "trial_id"];
const FRAME_COLUMNS = ["numberofframes", "total_frame"];

/** Splits a CSV line (fields may be double-quoted, with `""` for a quote). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let field = "", quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') (field += '"', i++);
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") (out.push(field), field = "");
    else field += c;
  }
  out.push(field);
  return out.map((f) => f.trim());
}

/**
 * Parses `meta_data.csv`; `source` names it in errors. Throws naming the line when the header
 * has no trial column, a row has another number of fields than the header, a trial number is
 * not an integer or repeats, or a frame count is not an integer.
 */
export function parseMetaData(text: string, source: string): MetaTable {
  const lines = text.split(/\r?\n/);
  const header = csvFields(lines[0] ?? "");
  const lower = header.map((h) => h.toLowerCase());
  const trialCol = lower.findIndex((h) => TRIAL_COLUMNS.includes(h));
  if (trialCol < 0) {
    throw new Error(
      `${source}: line 1: no trial column (expected one of TrialNumber, trial_id; the header ` +
        `is '${lines[0] ?? ""}')`,
    );
  }
  const framesCol = lower.findIndex((h) => FRAME_COLUMNS.includes(h));
  const rows = new Map<number, MetaRow>();
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${source}: line ${i + 2}`;
    const fields = csvFields(line);
    if (fields.length !== header.length) {
      throw new Error(`${where}: ${fields.length} fields, the header has ${header.length}`);
    }
    const trial = Number(fields[trialCol]);
    if (!Number.isInteger(trial) || fields[trialCol] === "") {
      throw new Error(
        `${where}: ${header[trialCol]}: expected an integer, got '${fields[trialCol]}'`,
      );
    }
    if (rows.has(trial)) throw new Error(`${where}: trial ${trial} has a row already`);
    if (framesCol >= 0 && !/^\d+$/.test(fields[framesCol])) {
      throw new Error(
        `${where}: ${header[framesCol]}: expected a frame count, got '${fields[framesCol]}'`,
      );
    }
    const row: MetaRow = {};
    header.forEach((h, j) => {
      const v = fields[j];
      row[h] = v !== "" && Number.isFinite(Number(v)) ? Number(v) : v;
    });
    rows.set(trial, row);
  });
  return { source, rows, ...(framesCol >= 0 ? { framesColumn: header[framesCol] } : {}) };
}

/** `meta_data.csv` of our recordings: one row per trial. */
export function formatMetaData(
  rows: readonly {
    trial: number;
    subject: string;
    frames: number;
    episodes: number;
    highestScore: number;
  }[],
): string {
  return [
    "TrialNumber,Subject,NumberOfFrames,NumberOfEpisodes,HighestScore",
    ...rows.map((r) => `${r.trial},${r.subject},${r.frames},${r.episodes},${r.highestScore}`),
  ].join("\n") + "\n";
}

async function readText(refs: GameFileRefs, name: string): Promise<string> {
  if (!refs.zip) return readFileSync(name, "utf8");
  const entry = findEntry(await zipEntries(refs.zip), name);
  if (!entry) throw new Error(`${refs.zip}: no entry ${name}`);
  return new TextDecoder().decode(await zipEntryBytes(refs.zip, entry));
}

/** Reads and checks the game files `refs` names. */
export async function readGameFiles(refs: GameFileRefs): Promise<GameFiles> {
  const where = (name: string) => refs.zip ? `${refs.zip}: ${name}` : name;
  const out: GameFiles = {};
  if (refs.actionEnums) {
    const source = where(refs.actionEnums);
    out.actionEnums = {
      source,
      names: parseActionEnums(await readText(refs, refs.actionEnums), source),
    };
  }
  if (refs.metaData) {
    out.meta = parseMetaData(await readText(refs, refs.metaData), where(refs.metaData));
  }
  return out;
}
