/**
 * The behaviour-cloning study run into a run directory: the demonstrations (`dataset/`, from
 * synthetic frames, trials recorded here under `trials/`, or given), then every model variant
 * trained on the same split (`variants/<name>/checkpoints/`, resumable; `result.json` once
 * evaluated, keyed by what made it so a changed variant is redone and the others kept), each
 * evaluated on the held-out trials (accuracy, top-3, MRR, confusion) and, on a game, in closed
 * loop: the model plays the game through the training wrappers (greedy, with a small chance of a
 * random action), against the demonstrator's own score and random play on the same games.
 *
 * @module
 */

import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { convertTrials, findTrials, recordTrials } from "../../data/atari_head/mod.ts";
import { type Dataset, openDataset } from "../../data/reader.ts";
import { writeSyntheticActions } from "../../data/synthetic_actions.ts";
import { CLEANRL_ATARI, gameActions, makeEnv } from "../../envs/make.ts";
import type { ActionMetrics } from "../../eval/action_metrics.ts";
import {
  type ActionJepa,
  allParams,
  disposeActionJepa,
  scoreFrames,
} from "../../models/action_jepa.ts";
import { recordingPlayer } from "../../rl/agent_policy.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import { configHash } from "../../run/config.ts";
import { type OnStep, stepRecorder } from "../../run/progress.ts";
import type { RunDir } from "../../run/run_dir.ts";
import { assignTensors, loadCheckpoint } from "../../tensor/checkpoint.ts";
import { deriveSeed, Rng } from "../../tensor/rng.ts";
import { type BcConfig, evaluateBc, splitByTrial, trainBc } from "../../train/bc.ts";
import { type BcStudyConfig, type BcVariant, checkBcStudyConfig, variantModel } from "./presets.ts";

/** A variant's results. */
export interface BcRow {
  variant: string;
  encoder: string;
  target: string;
  predictor: string;
  loss: string;
  masking: number;
  gaze: number;
  metrics: ActionMetrics;
  steps: number;
  seconds: number;
  /** Closed-loop returns, one per game (empty without a game). */
  play: number[];
}

/** The baselines of the same run. */
export interface BcBaselines {
  majority: ActionMetrics;
  prior: ActionMetrics;
  /** Returns of the demonstrator's held-out games. */
  demonstrator: number[];
  /** Random play on the closed-loop games. */
  random: number[];
}

/** What the run found. */
export interface BcStudyResult {
  rows: BcRow[];
  baselines: BcBaselines;
  split: { by: string; train: number; val: number };
  dataset: { path: string; frames: number; episodes: number; env: string };
  actionMeanings: string[];
}

/** Runs the study of the module doc. */
export async function runBcStudy(
  run: RunDir,
  cfg: BcStudyConfig,
  hooks: { onStep?: OnStep } = {},
): Promise<BcStudyResult> {
  checkBcStudyConfig(cfg);
  const ds = await demonstrations(run, cfg, hooks.onStep);
  const actionMeanings = (ds.manifest.meta.actionMeanings as string[] | undefined) ??
    [...gameActions(ds.manifest.env)];
  const A = actionMeanings.length;
  const split = splitByTrial(ds, cfg.valFraction, cfg.seed);
  run.log(
    `${ds.path}: ${ds.numFrames} frames, ${ds.episodes().length} episodes; held out by ` +
      `${split.by}: ${split.val.length} episodes`,
  );
  const playable = ds.manifest.env !== "synthetic:actions" && cfg.play.games > 0;
  const rows: BcRow[] = [];
  let baselines: Omit<BcBaselines, "random" | "demonstrator"> | null = null;
  for (const v of cfg.variants) {
    const bc: BcConfig = {
      seed: cfg.seed,
      stack: cfg.stack,
      valFraction: cfg.valFraction,
      model: variantModel(cfg.model, v),
      train: cfg.train,
    };
    const dir = run.path("variants", v.name);
    const key = configHash({ bc, data: ds.manifest.steps.sha256, play: cfg.play });
    const file = join(dir, "result.json");
    const stored = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null;
    if (stored?.key === key) {
      rows.push(stored.row);
      baselines ??= stored.baselines;
      run.log(`${v.name}: evaluated before, kept`);
      continue;
    }
    // A variant whose config changed starts over; an interrupted one resumes.
    const keyFile = join(dir, "key.txt");
    if (existsSync(keyFile) && readFileSync(keyFile, "utf8") !== key) {
      run.log(`${v.name}: its config changed, starting over`);
      rmSync(dir, { recursive: true, force: true });
    }
    mkdirSync(dir, { recursive: true });
    await writeFileAtomic(keyFile, key);
    const t0 = performance.now();
    const trained = await trainBc(bc, ds, A, {
      checkpointDir: join(dir, "checkpoints"),
      resume: true,
    }, {
      log: (line) => run.log(`${v.name}: ${line}`),
      onStep: stepRecorder({
        metric: (r) => run.metric(r),
        fields: { kind: "train", variant: v.name },
        loop: v.name,
        then: hooks.onStep,
      }),
    });
    const seconds = (performance.now() - t0) / 1000;
    const model = trained.model;
    try {
      // Under early stopping the best held-out loss's weights are the model's.
      if (trained.result.best) {
        assignTensors(
          allParams(model),
          loadCheckpoint(trained.result.best.dir).tensors,
          trained.result.best.dir,
        );
      }
      const ev = evaluateBc(model, ds, trained.split, cfg.stack);
      baselines ??= { majority: ev.majority, prior: ev.prior };
      const play = playable ? playGames(cfg, (rng) => greedy(model, cfg, rng)) : [];
      const row: BcRow = {
        variant: v.name,
        ...describe(bc.model, v),
        metrics: ev.model,
        steps: trained.result.steps,
        seconds,
        play,
      };
      run.log(
        `${v.name}: held-out accuracy ${ev.model.accuracy.toFixed(3)} (majority ` +
          `${ev.majority.accuracy.toFixed(3)}), MRR ${ev.model.mrr.toFixed(3)}` +
          (play.length ? `, closed loop ${mean(play).toFixed(2)} per game` : ""),
      );
      await writeFileAtomic(file, JSON.stringify({ key, row, baselines }) + "\n");
      rows.push(row);
    } finally {
      disposeActionJepa(model);
    }
  }
  const demonstrator = ds.manifest.env === "synthetic:actions" ? [] : episodeReturns(ds, split.val);
  const random = playable ? playGames(cfg, (rng) => () => rng.int(A)) : [];
  return {
    rows,
    baselines: { ...baselines!, demonstrator, random },
    split: { by: split.by, train: split.train.length, val: split.val.length },
    dataset: {
      path: ds.path,
      frames: ds.numFrames,
      episodes: ds.episodes().length,
      env: ds.manifest.env,
    },
    actionMeanings,
  };
}

function describe(m: BcConfig["model"], v: BcVariant) {
  return {
    encoder: m.encoder.arch + (m.encoder.init ? " (I-JEPA init)" : "") +
      (m.encoder.frozen ? ", frozen" : ""),
    target: m.loss === "softmax" ? "-" : m.target.kind,
    predictor: m.predictor.kind,
    loss: m.loss,
    masking: v.masking ?? m.masking.weight,
    gaze: v.gaze ?? m.gaze.weight,
  };
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The dataset of demonstrations the config asks for, made (or found made) under the run. */
async function demonstrations(run: RunDir, cfg: BcStudyConfig, onStep?: OnStep): Promise<Dataset> {
  const d = cfg.data;
  const out = run.path("dataset");
  const current = async (spec: unknown) => {
    if (!existsSync(join(out, "manifest.json"))) return null;
    const ds = await openDataset(out);
    return configHash(ds.manifest.meta.spec ?? null) === configHash(spec) ? ds : null;
  };
  if (d.source === "path" && existsSync(join(d.path, "manifest.json"))) {
    return await openDataset(d.path);
  }
  if (d.source === "synthetic") {
    const spec = { synthetic: d.synthetic, seed: cfg.seed };
    const have = await current(spec);
    if (have) return have;
    run.log(`writing synthetic demonstrations to ${out}`);
    await writeSyntheticActions(out, {
      seed: cfg.seed,
      episodes: d.synthetic.episodes,
      steps: d.synthetic.steps,
      size: d.synthetic.size,
      numActions: 4,
      episodesPerTrial: Math.max(1, Math.round(d.synthetic.episodes / d.synthetic.trials)),
      meta: { spec },
    });
    return await openDataset(out);
  }
  let trials;
  if (d.source === "record") {
    const recording = run.path("trials");
    run.log(
      `recording ${d.record.trials} trials of ${d.env} (${
        d.record.agent || d.record.policy
      }) in ${recording}`,
    );
    const player = recordingPlayer({
      env: { ...CLEANRL_ATARI, id: d.env },
      policy: d.record.policy,
      agent: d.record.agent,
    });
    trials = await recordTrials(
      recording,
      {
        env: player.env,
        seed: cfg.seed,
        trials: d.record.trials,
        episodes: d.record.episodes,
        subject: player.subject,
        gaze: "ball",
      },
      player.makePolicy,
      onStep,
    );
  } else trials = await findTrials(d.path);
  const spec = {
    trials: trials.map((t) => t.name),
    env: d.env,
    source: d.source,
    record: d.record,
  };
  const have = await current(spec);
  if (have) return have;
  run.log(`converting ${trials.length} trials into ${out}`);
  const summary = await convertTrials(trials, out, {
    env: d.env,
    actionMeanings: gameActions(d.env),
    frame: CLEANRL_ATARI,
    meta: { spec },
  }, onStep);
  for (const note of summary.notes) run.log(`note: ${note}`);
  return await openDataset(out);
}

/** The sum of rewards of each of `episodes`. */
function episodeReturns(ds: Dataset, episodes: number[]): number[] {
  const reward = ds.column("reward");
  const ids = new Set(episodes);
  return ds.episodes().filter((e) => ids.has(e.episode)).map((e) => {
    let sum = 0;
    for (let r = e.start; r < e.start + e.length; r++) sum += reward[r];
    return sum;
  });
}

/** The model's action on a frame stack: the top-scored one, or with `epsilon` a random one. */
function greedy(model: ActionJepa, cfg: BcStudyConfig, rng: Rng) {
  const A = model.cfg.numActions;
  return (stack: Uint8Array) => {
    if (rng.float() < cfg.play.epsilon) return rng.int(A);
    const s = scoreFrames(model, stack, 1);
    let best = 0;
    for (let j = 1; j < A; j++) if (s[j] > s[best]) best = j;
    return best;
  };
}

/**
 * Whole games of the demonstrations' game through the training wrappers (whole games, raw
 * scores), each seeded the same for every player; returns one score per game.
 */
function playGames(
  cfg: BcStudyConfig,
  player: (rng: Rng) => (stack: Uint8Array) => number,
): number[] {
  const env = makeEnv({
    ...CLEANRL_ATARI,
    id: cfg.data.env,
    episodicLife: false,
    clipReward: false,
    frameStack: cfg.stack,
    maxEpisodeSteps: cfg.play.maxSteps,
  });
  try {
    const scores: number[] = [];
    for (let g = 0; g < cfg.play.games; g++) {
      const act = player(new Rng(deriveSeed(cfg.seed, `play/policy/${g}`)));
      let obs = env.reset(deriveSeed(cfg.seed, `play/game/${g}`)).obs;
      let total = 0;
      for (;;) {
        const r = env.step(act(obs));
        total += r.reward;
        obs = r.obs;
        if (r.terminated || r.truncated) break;
      }
      scores.push(total);
    }
    return scores;
  } finally {
    env.close();
  }
}
