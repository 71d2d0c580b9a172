/**
 * Atari-HEAD trials into the project's dataset format (`../format.ts`), so every study reads them
 * like collected play: frames through the observation pipeline of an env config (grayscale and
 * area resize, `ScreenObserver`), actions mapped from ALE's 18-action enum to the game's minimal
 * set, unclipped rewards, one dataset episode per (trial, episode id), and the rest as state
 * columns: the trial number, the score, the original ALE action, the decision time, and the gaze
 * of each frame as the mean of its samples with their count (the samples themselves stay in the
 * trial files).
 *
 * The format's row convention holds: each frame with an action is a step, and an episode ends
 * with its final observation (action -1): the first frame without an action after its last
 * action (the screen after the game's end, as our recorder writes it), else its last frame, whose
 * action is then dropped. The transition into it is `terminated`, or `truncated` for the trial's
 * last episode (a session ends on the clock, not with the game). Other frames without an action
 * are left out (counted in `skipped`).
 * A frame's `unclipped_reward` is taken as the reward of its action. The game's
 * `action_enums.txt` and `meta_data.csv`, where found beside the trials (`game_files.ts`), are
 * checked first: an enum that differs from ALE's is an error; each trial's metadata row goes into
 * the manifest (`meta.trialMeta`), and a trial without a row, or whose frame count differs from
 * its labels', is a note in the summary. Everything is checked before it is written, and the
 * dataset appears only when every trial converted: a malformed trial leaves nothing behind.
 *
 * @module
 */

import type { FrameOptions } from "../../envs/atari.ts";
import { ScreenObserver } from "../../envs/screen.ts";
import type { OnStep } from "../../run/progress.ts";
import { decodePng } from "../../viz/png.ts";
import { DatasetWriter } from "../writer.ts";
import { type MetaRow, readGameFiles } from "./game_files.ts";
import { ALE_ACTIONS, minimalAction } from "./labels.ts";
import { readTrial, SCREEN_SHAPE, type TrialFiles, trialNumber } from "./trial.ts";

/** The state columns of a converted dataset. */
export const ATARI_HEAD_STATE_KEYS = [
  "trial",
  "score",
  "aleAction",
  "durationMs",
  "gazeX",
  "gazeY",
  "gazeCount",
] as const;

/** How to convert. */
export interface ConvertOptions {
  /** The dataset's env id (`ale:breakout` for Atari-HEAD; the recording env for our own). */
  env: string;
  /** The game's minimal action set, index = the dataset's action id. */
  actionMeanings: readonly string[];
  /** The observation pipeline (an env config's grayscale and resize). */
  frame: Pick<FrameOptions, "grayscale" | "resize">;
  /** Provenance for the manifest. */
  meta?: Record<string, unknown>;
}

/** A frame's PNG decoded and checked to be a 210x160 RGB screen. */
function screen(png: Uint8Array, where: string): Uint8Array {
  const [h, w] = SCREEN_SHAPE;
  let image;
  try {
    image = decodePng(png);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
  if (image.width !== w || image.height !== h || image.channels !== 3) {
    throw new Error(
      `${where}: expected a ${w}x${h} RGB frame, got ${image.width}x${image.height} with ` +
        `${image.channels} channels`,
    );
  }
  return image.data;
}

/** The mean gaze position of a frame's samples, and their count (NaN where there are none). */
function gazeSummary(gaze: number[] | null): { gazeX: number; gazeY: number; gazeCount: number } {
  const n = (gaze?.length ?? 0) / 2;
  let x = 0, y = 0;
  for (let j = 0; j < n; j++) (x += gaze![2 * j], y += gaze![2 * j + 1]);
  return { gazeX: n ? x / n : NaN, gazeY: n ? y / n : NaN, gazeCount: n };
}

/** What a conversion wrote. */
export interface ConvertSummary {
  trials: number;
  episodes: number;
  frames: number;
  /** Labelled frames without an action, left out. */
  skipped: number;
  /** What the game's metadata says against the trials (a missing row, another frame count). */
  notes: string[];
}

/** The game files of `trials` read (each distinct file once): sources and each trial's row. */
async function gameMetadata(trials: readonly TrialFiles[]): Promise<{
  sources: string[];
  rows: Map<string, { row: MetaRow; source: string; framesColumn?: string }>;
  missing: string[];
}> {
  const sources: string[] = [];
  const rows = new Map<string, { row: MetaRow; source: string; framesColumn?: string }>();
  const missing: string[] = [];
  const read = new Map<string, Awaited<ReturnType<typeof readGameFiles>>>();
  for (const t of trials) {
    if (!t.game) continue;
    const key = JSON.stringify(t.game);
    if (!read.has(key)) {
      const files = await readGameFiles(t.game);
      read.set(key, files);
      if (files.actionEnums) sources.push(files.actionEnums.source);
      if (files.meta) sources.push(files.meta.source);
    }
    const meta = read.get(key)!.meta;
    if (!meta) continue;
    const row = meta.rows.get(trialNumber(t.name));
    if (row) rows.set(t.name, { row, source: meta.source, framesColumn: meta.framesColumn });
    else missing.push(`trial ${t.name}: no row in ${meta.source}`);
  }
  return { sources, rows, missing };
}

/**
 * Converts `trials` into a dataset at `out`; `onStep` gets each trial as loop "atari-head"
 * (values: frames written so far).
 */
export async function convertTrials(
  trials: readonly TrialFiles[],
  out: string,
  opts: ConvertOptions,
  onStep?: OnStep,
): Promise<ConvertSummary> {
  const [h, w] = SCREEN_SHAPE;
  const observer = new ScreenObserver(h, w, opts.frame);
  const game = await gameMetadata(trials);
  const writer = await DatasetWriter.create(out, {
    env: opts.env,
    frameShape: observer.shape,
    stateKeys: ATARI_HEAD_STATE_KEYS,
    meta: {
      source: "atari-head",
      trials: trials.map((t) => t.name),
      actionMeanings: opts.actionMeanings,
      ...(game.sources.length
        ? {
          gameFiles: game.sources,
          trialMeta: Object.fromEntries([...game.rows].map(([name, m]) => [name, m.row])),
        }
        : {}),
      ...opts.meta,
    },
  });
  const summary: ConvertSummary = {
    trials: 0,
    episodes: 0,
    frames: 0,
    skipped: 0,
    notes: [...game.missing],
  };
  try {
    for (const t of trials) {
      const trial = await readTrial(t);
      const number = trialNumber(t.name);
      const meta = game.rows.get(t.name);
      if (meta?.framesColumn && meta.row[meta.framesColumn] !== trial.rows.length) {
        summary.notes.push(
          `trial ${t.name}: ${meta.source} gives ${meta.framesColumn} ` +
            `${meta.row[meta.framesColumn]}, its labels have ${trial.rows.length} frames`,
        );
      }
      // The rows of each episode id (a null id continues the one before).
      const groups: number[][] = [];
      let episodeId: number | null = null;
      trial.rows.forEach((r, i) => {
        const id = r.episodeId ?? episodeId ?? 0;
        if (groups.length === 0 || id !== episodeId) groups.push([]);
        episodeId = id;
        groups.at(-1)!.push(i);
      });
      groups.forEach((group, gi) => {
        const acted = group.filter((i) => trial.rows[i].action !== null);
        // The final observation: the first frame without an action after the last one with
        // an action (the screen after the game's end), else the last frame with one.
        const after = group.find((i) =>
          i > (acted.at(-1) ?? Infinity) && trial.rows[i].action === null
        );
        const steps = after !== undefined ? acted : acted.slice(0, -1);
        if (steps.length === 0) {
          summary.skipped += group.length;
          return;
        }
        const final = after ?? acted.at(-1)!;
        summary.skipped += group.length - steps.length - 1;
        // The trial's last episode ends with the session, not with the game.
        const cut = gi === groups.length - 1;
        [...steps, final].forEach((i, step) => {
          const r = trial.rows[i];
          const where = `trial ${t.name}: line ${i + 2} (frame ${r.frameId})`;
          const isFinal = i === final;
          const action = isFinal ? -1 : minimalAction(r.action!, opts.actionMeanings);
          if (action === -1 && !isFinal) {
            throw new Error(
              `${where}: ALE action ${r.action} (${ALE_ACTIONS[r.action!]}) has no equivalent ` +
                `in the game's actions (${opts.actionMeanings.join(", ")})`,
            );
          }
          const ends = step === steps.length - 1;
          writer.add(observer.observe(screen(trial.pngs[i], where)), {
            episode: summary.episodes,
            step,
            action,
            reward: isFinal ? 0 : r.unclippedReward ?? 0,
            terminated: ends && !cut,
            truncated: ends && cut,
            lives: 0,
            state: {
              trial: number,
              score: r.score ?? NaN,
              aleAction: r.action ?? NaN,
              durationMs: r.durationMs ?? NaN,
              ...gazeSummary(r.gaze),
            },
          });
          summary.frames++;
        });
        summary.episodes++;
      });
      summary.trials++;
      onStep?.({
        loop: "atari-head",
        step: summary.trials,
        total: trials.length,
        values: { frames: summary.frames },
      });
    }
    if (summary.frames === 0) {
      throw new Error(`no labelled frames with an action in ${trials.length} trial(s)`);
    }
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return summary;
}
