/**
 * Demonstrations from our own games in Atari-HEAD's layout (`deno task collect --format
 * atari-head`): whole games played by any policy, the 210x160 RGB screen of every decision
 * written as a trial (`trial.ts`) with ALE action ids, unclipped rewards, the score shown, episode
 * ids, and, where asked, a gaze stand-in. So the whole Atari-HEAD path (reader, conversion,
 * behaviour cloning) runs here, where the real dataset cannot be downloaded.
 *
 * Each trial is seeded on its own and written atomically; a trial already on disk is kept, so a
 * killed recording resumes with the next trial. The folder gets the game's files too, as
 * Atari-HEAD's have them: `action_enums.txt` and `meta_data.csv`, written once every trial is there
 * (a resumed recording writes them when it ends).
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type EnvConfig, makeEnv } from "../../envs/make.ts";
import type { Policy } from "../../envs/policies.ts";
import type { EnvSpec, StepInfo } from "../../envs/types.ts";
import type { OnStep } from "../../run/progress.ts";
import { Rng } from "../../tensor/rng.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import {
  ACTION_ENUMS_FILE,
  formatActionEnums,
  formatMetaData,
  META_DATA_FILE,
} from "./game_files.ts";
import { aleActionId, parseLabels } from "./labels.ts";
import { SCREEN_SHAPE, type TrialFiles, trialFiles, trialNumber, TrialWriter } from "./trial.ts";

/** A behaviour policy of `envs/policies.ts` (it reads the ground truth, not the screen). */
export function statePolicy(policy: Policy): ScreenPolicy {
  return { act: (_screen, info) => policy(info) };
}

/**
 * Chooses an action (an index of the game's minimal set) from the screen (210x160 RGB, the
 * recorded frame) and the env's step info. `reset` is called at the start of each game.
 */
export interface ScreenPolicy {
  act(screen: Uint8Array, info: StepInfo): number;
  reset?(): void;
}

/** What to record. */
export interface RecordConfig {
  /** The game and its frame skip, sticky actions, fire reset; frames are kept as raw screens. */
  env: EnvConfig;
  seed: number;
  trials: number;
  /** Whole games per trial. */
  episodes: number;
  /** The subject code in trial names and frame ids (Atari-HEAD: the player's initials). */
  subject: string;
  /**
   * `ball`: a gaze stand-in, one sample on the ball's position where it is visible (our players
   * have no eyes; this exercises the gaze path); `none`: `null` gaze, as in trials without
   * eye tracking.
   */
  gaze: "none" | "ball";
}

/** The env config a recording plays: raw RGB screens, whole games, unclipped rewards. */
export function recordingEnvConfig(env: EnvConfig): EnvConfig {
  return {
    ...env,
    grayscale: false,
    resize: null,
    perturbation: "clean",
    frameStack: 1,
    episodicLife: false,
    clipReward: false,
  };
}

/** The name of trial `n` (1-based) of a recording. */
export function recordedTrialName(cfg: Pick<RecordConfig, "seed" | "subject">, n: number): string {
  return `${n}_${cfg.subject}_${100000 + cfg.seed * 1000 + n}_seed-${cfg.seed}`;
}

/**
 * Records `cfg.trials` trials into `dir` with `makePolicy(rng, spec)` (a fresh policy per trial,
 * from the trial's random stream); returns every trial's files. `onStep` gets each game as loop
 * "record" (values: the game's return).
 */
export async function recordTrials(
  dir: string,
  cfg: RecordConfig,
  makePolicy: (rng: Rng, spec: EnvSpec) => ScreenPolicy,
  onStep?: OnStep,
): Promise<TrialFiles[]> {
  for (const [k, v] of Object.entries({ trials: cfg.trials, episodes: cfg.episodes })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be an integer >= 1, got ${v}`);
  }
  if (!/^[A-Za-z0-9]+$/.test(cfg.subject)) {
    throw new Error(
      `subject must be letters and digits (it is part of file names), got '${cfg.subject}'`,
    );
  }
  await mkdir(dir, { recursive: true });
  const envConfig = recordingEnvConfig(cfg.env);
  const out: TrialFiles[] = [];
  let game = 0;
  for (let n = 1; n <= cfg.trials; n++) {
    const name = recordedTrialName(cfg, n);
    const files = trialFiles(join(dir, `${name}.txt`));
    if (existsSync(files.labels) && existsSync(files.archive)) {
      out.push(files);
      game += cfg.episodes;
      continue;
    }
    const rng = new Rng(cfg.seed).fork(`trial/${n}`);
    const env = makeEnv(envConfig, rng.fork("env").uint32());
    const [h, w, c] = env.spec.obsShape;
    if (h !== SCREEN_SHAPE[0] || w !== SCREEN_SHAPE[1] || c !== 3) {
      env.close();
      throw new Error(`${cfg.env.id}: screens are ${w}x${h}x${c}, Atari-HEAD's are 160x210 RGB`);
    }
    const actions = env.spec.actionMeanings;
    const policy = makePolicy(rng.fork("policy"), env.spec);
    const writer = new TrialWriter(dir, name);
    try {
      for (let episode = 0; episode < cfg.episodes; episode++) {
        policy.reset?.();
        let { obs, info } = env.reset(rng.fork(`episode/${episode}`).uint32());
        let score = 0;
        for (;;) {
          const action = policy.act(obs, info);
          const r = env.step(action);
          writer.add(obs, {
            episodeId: episode,
            score,
            durationMs: null,
            unclippedReward: r.reward,
            action: aleActionId(action, actions),
            gaze: gazeOf(info, cfg.gaze),
          });
          score += r.reward;
          obs = r.obs;
          info = r.info;
          if (r.terminated || r.truncated) break;
        }
        // The screen after the game's end: no decision was made on it.
        writer.add(obs, {
          episodeId: episode,
          score,
          durationMs: null,
          unclippedReward: null,
          action: null,
          gaze: gazeOf(info, cfg.gaze),
        });
        onStep?.({
          loop: "record",
          step: ++game,
          total: cfg.trials * cfg.episodes,
          values: { return: score },
        });
      }
    } finally {
      env.close();
    }
    out.push(await writer.finish());
  }
  await writeGameFiles(dir, out, cfg.subject);
  // The trials as findTrials would give them: with the game's files beside them.
  const files = { actionEnums: join(dir, ACTION_ENUMS_FILE), metaData: join(dir, META_DATA_FILE) };
  return out.map((t) => ({ ...t, game: files }));
}

/** `action_enums.txt` and `meta_data.csv` of the recorded `trials`, from their labels. */
async function writeGameFiles(dir: string, trials: TrialFiles[], subject: string): Promise<void> {
  const rows = trials.map((t) => {
    const labels = parseLabels(readFileSync(t.labels, "utf8"), t.name);
    return {
      trial: trialNumber(t.name),
      subject,
      frames: labels.length,
      episodes: new Set(labels.map((r) => r.episodeId)).size,
      highestScore: labels.reduce((m, r) => Math.max(m, r.score ?? 0), 0),
    };
  });
  await writeFileAtomic(join(dir, ACTION_ENUMS_FILE), formatActionEnums());
  await writeFileAtomic(join(dir, META_DATA_FILE), formatMetaData(rows));
}

/** The gaze stand-in of a frame: the ball's position (screen pixels), where it is visible. */
function gazeOf(info: StepInfo, mode: RecordConfig["gaze"]): number[] | null {
  if (mode === "none") return null;
  const s = info.state;
  if (!s.ballVisible) return null;
  return [s.ballX, s.ballY];
}
