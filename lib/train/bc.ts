/**
 * Behaviour cloning with the frame-to-action JEPA (`lib/models/action_jepa.ts`) on a dataset of
 * play (Atari-HEAD trials converted by `lib/data/atari_head`, or any collected dataset): frame
 * stacks in, the action taken out. Held-out data is split by trial where the dataset has several
 * (by episode otherwise), never by frame. Trained through the shared loop (exact resume, NaN
 * guard, checkpoints, early stopping on the held-out loss), evaluated with `eval/action_metrics`
 * against the majority class and the action prior on the same held-out rows.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { frameStackBatches, splitEpisodes } from "../data/batches.ts";
import { SCREEN_SHAPE } from "../data/atari_head/mod.ts";
import type { Dataset } from "../data/reader.ts";
import { type ActionMetrics, actionMetrics, baselineMetrics } from "../eval/action_metrics.ts";
import {
  type ActionJepa,
  type ActionJepaConfig,
  actionJepaLoss,
  allParams,
  initActionJepa,
  scoreFrames,
  trainableParams,
} from "../models/action_jepa.ts";
import { deriveSeed, Rng } from "../tensor/rng.ts";
import {
  type EarlyStopping,
  type LoopHooks,
  type LoopResult,
  type LoopSchedule,
  trainLoop,
} from "./loop.ts";

/** Everything that defines a behaviour-cloning run. */
export interface BcConfig {
  seed: number;
  /** Frames per input stack. */
  stack: number;
  /** Share of trials (or episodes, with one trial) held out. */
  valFraction: number;
  model: Omit<ActionJepaConfig, "inputShape" | "numActions">;
  train: LoopSchedule & { earlyStop: EarlyStopping };
}

/** The held-out split: episode ids on each side, and what was split. */
export interface BcSplit {
  train: number[];
  val: number[];
  by: "trial" | "episode";
}

/**
 * Splits by trial when the dataset has a `trial` state with at least two trials (every episode
 * of a trial on one side), by episode otherwise; deterministic in the seed.
 */
export function splitByTrial(ds: Dataset, valFraction: number, seed: number): BcSplit {
  const episodes = ds.episodes();
  if (!ds.manifest.stateKeys.includes("trial")) {
    return { ...splitEpisodes(ds, { valFraction, seed }), by: "episode" };
  }
  const trial = ds.state("trial");
  const trialOf = new Map(episodes.map((e) => [e.episode, trial[e.start]]));
  const trials = [...new Set(trialOf.values())].sort((a, b) => a - b);
  if (trials.length < 2) return { ...splitEpisodes(ds, { valFraction, seed }), by: "episode" };
  const shuffled = new Rng(seed).shuffle(trials);
  const numVal = Math.min(Math.max(Math.round(trials.length * valFraction), 1), trials.length - 1);
  const held = new Set(shuffled.slice(0, numVal));
  const ids = episodes.map((e) => e.episode);
  return {
    train: ids.filter((id) => !held.has(trialOf.get(id)!)),
    val: ids.filter((id) => held.has(trialOf.get(id)!)),
    by: "trial",
  };
}

/**
 * The gaze of rows as screen fractions (NaN where a frame has none), from a converted
 * Atari-HEAD dataset's `gazeX`, `gazeY` state; a dataset without them is an error naming it.
 */
export function gazeTargets(ds: Dataset): (indices: Int32Array) => Float32Array {
  const missing = ["gazeX", "gazeY"].filter((k) => !ds.manifest.stateKeys.includes(k));
  if (missing.length) {
    throw new Error(
      `bc: gaze supervision needs gaze, and ${ds.path} has no state '${missing.join("', '")}' ` +
        `(Atari-HEAD trials converted by deno task atari-head have it)`,
    );
  }
  const x = ds.state("gazeX"), y = ds.state("gazeY");
  return (indices) => {
    const out = new Float32Array(indices.length * 2);
    indices.forEach((r, i) => {
      // Gaze is in pixels of Atari-HEAD's 210x160 screen.
      out[2 * i] = x[r] / SCREEN_SHAPE[1];
      out[2 * i + 1] = y[r] / SCREEN_SHAPE[0];
    });
    return out;
  };
}

/** The model config of a run on `ds`. */
export function bcModelConfig(cfg: BcConfig, ds: Dataset, numActions: number): ActionJepaConfig {
  const [h, w, c] = ds.frameShape;
  return { ...cfg.model, inputShape: [h, w, c * cfg.stack], numActions };
}

/** A trained (or resumed) run. */
export interface BcResult {
  model: ActionJepa;
  split: BcSplit;
  result: LoopResult;
}

/** Trains (or resumes) behaviour cloning on `ds` with `numActions` actions. */
export async function trainBc(
  cfg: BcConfig,
  ds: Dataset,
  numActions: number,
  opts: { checkpointDir: string; resume?: boolean; stopAfter?: number },
  hooks: LoopHooks = {},
): Promise<BcResult> {
  const split = splitByTrial(ds, cfg.valFraction, cfg.seed);
  const modelCfg = bcModelConfig(cfg, ds, numActions);
  const model = initActionJepa(new Rng(deriveSeed(cfg.seed, "init")), modelCfg);
  const action = ds.column("action");
  const rows = (episodes: number[]) => {
    const ids = new Set(episodes);
    return ds.episodes().filter((e) => ids.has(e.episode)).reduce(
      (n, e) => n + e.length - 1,
      0,
    );
  };
  const t = cfg.train;
  const perEpoch = Math.floor(rows(split.train) / t.batchSize);
  if (perEpoch < 1) {
    throw new Error(
      `bc: ${
        rows(split.train)
      } training decisions in ${ds.path}, fewer than a batch of ${t.batchSize}`,
    );
  }
  const batches = (episodes: number[], seed: number) =>
    frameStackBatches(ds, {
      episodes,
      batchSize: t.batchSize,
      stack: cfg.stack,
      seed,
      dropLast: true,
    });
  const actionsOf = (indices: Int32Array) => Int32Array.from(indices, (i) => action[i]);
  const gazeOf = modelCfg.gaze.weight > 0 ? gazeTargets(ds) : undefined;
  // A fixed set of held-out batches: the early-stopping loss is deterministic.
  const valBatches = [...batches(split.val, deriveSeed(cfg.seed, "val"))].slice(0, 8);
  const result = await trainLoop(
    {
      trainable: trainableParams(model),
      all: allParams(model),
      perEpoch,
      epoch: (epoch) => batches(split.train, deriveSeed(cfg.seed, `epoch/${epoch}`)),
      loss: (batch, step) =>
        actionJepaLoss(model, batch.frames, actionsOf(batch.indices), {
          maskRng: new Rng(deriveSeed(cfg.seed, `mask/${step}`)),
          gaze: gazeOf?.(batch.indices),
        }),
      validate: t.earlyStop.every > 0 && valBatches.length > 0
        ? {
          ...t.earlyStop,
          loss: () => {
            let sum = 0;
            for (const b of valBatches) {
              sum += tf.tidy(() =>
                actionJepaLoss(model, b.frames, actionsOf(b.indices)).dataSync()[0]
              );
            }
            return sum / valBatches.length;
          },
        }
        : undefined,
    },
    t,
    {
      checkpointDir: opts.checkpointDir,
      resume: opts.resume,
      stopAfter: opts.stopAfter,
      config: cfg,
      extra: { kind: "bc", model: modelCfg, split },
      label: "bc",
    },
    hooks,
  );
  return { model, split, result };
}

/** The model's and the baselines' metrics on held-out episodes. */
export interface BcEvaluation {
  model: ActionMetrics;
  majority: ActionMetrics;
  prior: ActionMetrics;
}

/**
 * Scores every decision (rows with an action) of `split.val` and compares with the baselines
 * fitted on `split.train`'s actions.
 */
export function evaluateBc(
  model: ActionJepa,
  ds: Dataset,
  split: BcSplit,
  stack: number,
): BcEvaluation {
  const action = ds.column("action");
  const A = model.cfg.numActions;
  const scores: number[] = [];
  const taken: number[] = [];
  for (const b of frameStackBatches(ds, { episodes: split.val, batchSize: 256, stack, seed: 0 })) {
    const s = scoreFrames(model, b.frames, b.indices.length);
    b.indices.forEach((row, i) => {
      if (action[row] < 0) return;
      taken.push(action[row]);
      for (let j = 0; j < A; j++) scores.push(s[i * A + j]);
    });
  }
  if (taken.length === 0) throw new Error(`bc: no held-out decisions in ${ds.path}`);
  const trainIds = new Set(split.train);
  const trainActions: number[] = [];
  for (const e of ds.episodes()) {
    if (!trainIds.has(e.episode)) continue;
    for (let r = e.start; r < e.start + e.length; r++) {
      if (action[r] >= 0) trainActions.push(action[r]);
    }
  }
  return {
    model: actionMetrics(Float32Array.from(scores), taken, A),
    ...baselineMetrics(trainActions, taken, A),
  };
}
