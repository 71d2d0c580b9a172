/**
 * {@linkcode recordGames}: whole games played by a random player or a trained agent, recorded as
 * a project dataset of full 210x160 RGB screens (the world model learns from them; gzip shards,
 * see `format.ts`) with the action actually taken, reward, flags, lives and ground-truth state,
 * plus a GIF and an MP4 per game (the seed project's `record_videos.py --bulk`).
 *
 * The player sees what it saw in training: each screen goes through its wrapper stack's
 * observation pipeline (gray, resize, frame stack: `ScreenStack`), while the env plays the raw
 * screens with the player's frame skip, max-pool, no-op starts and fire reset. On Breakout the
 * stacks are the training env's byte for byte; where the two pooled frames hold different
 * colours at a pixel (Pong's paddles moving on its field) a few edge pixels differ by a few
 * gray levels, since the screen is pooled in RGB before it is grayed, as in the Atari-HEAD
 * recorder. Several games play at once (`games.ts`) and the policy's forward pass is batched
 * over them; no new game starts while the screens held exceed a budget (2 GiB). With probability `percentRandom / 100` a step's action is replaced by a uniformly
 * random one.
 *
 * Games are seeded by their index and written in index order, one commit of the dataset's
 * journal each (`DatasetWriter`'s `journal` option), after their videos: a killed recording run
 * again continues with the next unfinished game, drops what it had of the games in flight, and
 * ends with the dataset an uninterrupted one writes.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { recordingEnvConfig } from "../../data/atari_head/mod.ts";
import { type DatasetManifest, MANIFEST_FILE } from "../../data/format.ts";
import { DatasetWriter, journalDir } from "../../data/writer.ts";
import { makeEnv } from "../../envs/make.ts";
import { valueDiffs } from "../../run/config.ts";
import type { OnStep } from "../../run/progress.ts";
import { recordPath } from "../../run/run_dir.ts";
import { deriveSeed } from "../../tensor/rng.ts";
import { type Game, GameScheduler } from "./games.ts";
import { type CheckpointInfo, openPlayer, type Player, type PlayerKind } from "./player.ts";
import { checkRecordConfig, type RecordConfig } from "./presets.ts";
import { FFMPEG_MISSING, ffmpegInstalled, writeGameVideos } from "./videos.ts";

/** Where a recording goes, and how it reports. */
export interface RecordOptions {
  /** The dataset directory. */
  out: string;
  /** The directory of the per-game GIFs and MP4s (none are written without it). */
  videoDir?: string;
  /** Each game written, as loop "record" (values: its return, length, frames per second). */
  onStep?: OnStep;
  /** Lines worth telling the user: resuming, MP4s skipped, already recorded. */
  log?: (line: string) => void;
  /** Stops after this many games written in this call, as a kill would (for tests). */
  stopAfterGames?: number;
}

/** What a call of {@linkcode recordGames} did. */
export interface RecordSummary {
  /** True when the dataset is finished (now or by an earlier call). */
  complete: boolean;
  player: PlayerKind;
  /** Emulator frames per agent step of the player's wrapper stack. */
  frameSkip: number;
  /** Games written before this call (a resumed recording). */
  resumedFrom: number;
  /** Games written in this call, with their returns and lengths (agent steps). */
  games: number;
  returns: number[];
  lengths: number[];
  /** Screens written in this call (agent steps plus each game's final screen). */
  frames: number;
  seconds: number;
  framesPerSec: number;
}

/** The spec a dataset's manifest records under `meta.record`: what decides its contents. */
export interface RecordSpec {
  seed: number;
  env: RecordConfig["env"];
  /** The agent (its directory relative to the dataset), or null for random play. */
  agent: (CheckpointInfo & { checkpoint: string }) | null;
  games: number;
  percentRandom: number;
  epsilon: number;
}

/**
 * Plays `config.games` whole games and writes them to `opts.out` (and their videos to
 * `opts.videoDir`), continuing a killed recording of the same config; see the module doc. A
 * finished dataset of the same spec is left as it is; one of another spec is an error that
 * names the differences.
 */
export async function recordGames(
  config: RecordConfig,
  opts: RecordOptions,
): Promise<RecordSummary> {
  checkRecordConfig(config);
  const player = openPlayer(config);
  try {
    return await record(config, player, opts);
  } finally {
    player.dispose();
  }
}

async function record(
  config: RecordConfig,
  player: Player,
  opts: RecordOptions,
): Promise<RecordSummary> {
  const spec = recordSpec(config, player, opts.out);
  const summary: RecordSummary = {
    complete: false,
    player: player.kind,
    frameSkip: player.env.frameSkip,
    resumedFrom: 0,
    games: 0,
    returns: [],
    lengths: [],
    frames: 0,
    seconds: 0,
    framesPerSec: 0,
  };
  if (await finishedWith(opts.out, spec)) {
    opts.log?.(`${opts.out} already holds these ${config.games} games: nothing to record`);
    return { ...summary, complete: true, resumedFrom: config.games };
  }
  const screenEnv = recordingEnvConfig(player.env);
  const slots = Math.min(config.batch, config.games);
  const envs = Array.from(
    { length: slots },
    (_, s) => makeEnv(screenEnv, deriveSeed(config.seed, `slot/${s}`)),
  );
  const { obsShape, stateKeys, id } = envs[0].spec;
  let writer: DatasetWriter;
  try {
    writer = await DatasetWriter.create(opts.out, {
      env: id,
      frameShape: obsShape,
      stateKeys,
      meta: { record: spec, envConfig: screenEnv, playerEnv: player.env, player: player.kind },
      journal: true,
      // Full RGB screens: about 2 KB a frame once zipped against 100 KB raw, whose writes
      // bounded the recording's speed.
      compression: "gzip",
    });
  } catch (err) {
    for (const env of envs) env.close();
    throw err;
  }
  const first = writer.committed.episodes;
  summary.resumedFrom = first;
  if (first > 0) {
    opts.log?.(
      `resuming: ${first} of ${config.games} games already recorded in ${journalDir(opts.out)}`,
    );
  }
  const mp4 = config.mp4 && opts.videoDir !== undefined && await ffmpegInstalled();
  if (config.mp4 && opts.videoDir !== undefined && !mp4) opts.log?.(FFMPEG_MISSING);
  const start = performance.now();
  // A game's commit (its fsyncs) runs while the next games play; it ends before the next game
  // is added, and a kill before it ends costs that game only.
  let committing: Promise<void> = Promise.resolve();
  try {
    const games = new GameScheduler(config, player, envs, first);
    for (const game of games.play()) {
      await committing;
      if (opts.videoDir !== undefined) {
        await writeGameVideos(opts.videoDir, game.index, {
          screens: game.screens,
          width: obsShape[1],
          height: obsShape[0],
          frameSkip: screenEnv.frameSkip,
        }, { gif: config.gif, mp4 });
      }
      game.screens.forEach((screen, i) => writer.add(screen, game.rows[i]));
      games.recycle(game);
      committing = writer.commit();
      // Awaited before anything else touches the writer; this only marks it as handled.
      committing.catch(() => {});
      tally(summary, game, start);
      opts.onStep?.({
        loop: "record",
        step: game.index + 1,
        total: config.games,
        values: {
          return: game.return,
          length: game.rows.length - 1,
          framesPerSec: summary.framesPerSec,
        },
      });
      if (summary.games === opts.stopAfterGames) break;
    }
    await committing;
    if (first + summary.games === config.games) {
      await writer.finish();
      summary.complete = true;
    } else await writer.close();
  } catch (err) {
    await committing.catch(() => {});
    await writer.close();
    throw err;
  } finally {
    for (const env of envs) env.close();
  }
  summary.seconds = (performance.now() - start) / 1000;
  summary.framesPerSec = summary.frames / Math.max(summary.seconds, 1e-9);
  return summary;
}

/** Counts a written game into the summary. */
function tally(summary: RecordSummary, game: Game, start: number): void {
  summary.games++;
  summary.frames += game.rows.length;
  summary.returns.push(game.return);
  summary.lengths.push(game.rows.length - 1);
  summary.seconds = (performance.now() - start) / 1000;
  summary.framesPerSec = summary.frames / Math.max(summary.seconds, 1e-9);
}

/** The dataset's identity: the fields of the config that decide what is recorded. */
export function recordSpec(config: RecordConfig, player: Player, out: string): RecordSpec {
  const { seed, env, games, percentRandom, epsilon } = config;
  const agent = player.checkpoint &&
    { checkpoint: recordPath(out, config.agent), ...player.checkpoint };
  return JSON.parse(JSON.stringify({ seed, env, agent, games, percentRandom, epsilon }));
}

/**
 * True when `out` holds a finished recording of `spec`; false when there is no dataset; an error
 * naming the differences when it holds another dataset.
 */
async function finishedWith(out: string, spec: RecordSpec): Promise<boolean> {
  let manifest: DatasetManifest;
  try {
    manifest = JSON.parse(await readFile(join(out, MANIFEST_FILE), "utf8"));
  } catch {
    return false;
  }
  const recorded = manifest.meta?.record;
  if (recorded === undefined) {
    throw new Error(
      `${out} holds a dataset that deno task record did not write; choose another --out`,
    );
  }
  const diffs = valueDiffs(recorded, spec);
  if (diffs.length > 0) {
    throw new Error(
      `${out} holds a recording made with ${diffs.join(", ")}; choose another --out, or remove ` +
        `it to record again`,
    );
  }
  return true;
}
