/**
 * Presets of the two-stage V-JEPA 2-style world model (`deno task worldmodel`) and of latent
 * planning (`deno task plan`). `full` follows the published two-stage Breakout world model
 * (4 stacked 64x64 gray frames, 40% random masking, EMA 0.996, L1, weight decay 0.05, early
 * stopping, gradient clipping; stage 2 on windows of 8 steps, 4 rollout steps, 0.7 / 0.3) with
 * the reference ViT width of DESIGN.md, meant for a GPU; `small` is meaningful on a 2-core CPU
 * in about half an hour per stage; `smoke` runs each stage in well under two minutes (tests,
 * notebooks, CI).
 *
 * @module
 */

import type { ExploreConfig } from "../data/collect.ts";
import type { GoalTaskConfig, PlannerConfig } from "../plan/goal.ts";
import type { Presets } from "../run/config.ts";
import { IJEPA_MASKS } from "../ssl/masks.ts";
import type { ProbeFeatures } from "../eval/rollout.ts";
import type { PretrainConfig } from "./pretrain.ts";
import type { DecoderTrainConfig, WorldModelTrainConfig } from "./world_model.ts";

/** The dataset both stages train on: scripted play mixed with held random actions. */
export interface WorldModelData {
  seed: number;
  episodes: number;
  /** Frames are resized to size x size gray. */
  size: number;
  explore: ExploreConfig;
}

/** Evaluation of stage 2. */
export interface WorldModelEval {
  seed: number;
  /** Rollout error is measured at horizons 1..horizon. */
  horizon: number;
  /** Held-out windows the rollout error averages over. */
  windows: number;
  /** Action sensitivity: LEFT / RIGHT held for this many steps from this many starts. */
  sensitivityHorizon: number;
  sensitivityStarts: number;
  /** Rows to fit (and to check) the paddle-x probe on. */
  probeRows: number;
  probeFeatures: ProbeFeatures;
}

/** Everything `deno task worldmodel` runs. */
export interface WorldModelTaskConfig {
  data: WorldModelData;
  /** Stage 1: V-JEPA-style masked-latent pretraining (a `pretrain` method). */
  stage1: PretrainConfig;
  /** Stage 2: the action-conditioned predictor (and its action-blind control). */
  stage2: WorldModelTrainConfig;
  decoder: DecoderTrainConfig;
  eval: WorldModelEval;
}

const fullStage1: PretrainConfig = {
  seed: 0,
  method: "vjepa",
  stack: 4,
  valFraction: 0.2,
  encoder: { patch: 8, width: 192, depth: 4, heads: 3, mlpRatio: 4, cls: false },
  predictor: { width: 384, depth: 2, heads: 1, mlpRatio: 1 },
  // The multi-block fields are I-JEPA's and unused here; `ratio` is V-JEPA's random masking.
  masks: { ...IJEPA_MASKS, contextKeep: 0, ratio: 0.4 },
  train: {
    steps: 20_000,
    batchSize: 64,
    lr: 1.5e-4,
    startLr: 2e-5,
    finalLr: 1e-6,
    warmupSteps: 1_000,
    weightDecay: [0.05, 0.05],
    ema: [0.996, 0.996],
    clipGrad: 1.0,
    checkpointEvery: 500,
    monitorEvery: 500,
    monitorFrames: 512,
    earlyStop: { every: 500, patience: 5 },
  },
};

const fullStage2: WorldModelTrainConfig = {
  seed: 0,
  valFraction: 0.2,
  model: {
    tokens: "patch",
    width: 192,
    depth: 4,
    heads: 4,
    mlpRatio: 4,
    steps: 8,
    residual: true,
  },
  loss: { rollout: 4, teacherWeight: 0.7, rolloutWeight: 0.3, kind: "l1", beta: 0.05 },
  train: {
    steps: 20_000,
    batchSize: 32,
    lr: 3e-4,
    startLr: 3e-5,
    finalLr: 1e-6,
    warmupSteps: 1_000,
    weightDecay: [0.05, 0.05],
    clipGrad: 1.0,
    checkpointEvery: 500,
    earlyStop: { every: 500, patience: 5 },
    valBatches: 16,
  },
};

const fullDecoder: DecoderTrainConfig = {
  seed: 0,
  valFraction: 0.2,
  model: { width: 128, depth: 2, heads: 4, mlpRatio: 4 },
  train: {
    steps: 5_000,
    batchSize: 64,
    lr: 1e-3,
    startLr: 1e-4,
    finalLr: 1e-5,
    warmupSteps: 200,
    weightDecay: [0.05, 0.05],
    clipGrad: 1.0,
    checkpointEvery: 500,
  },
};

const full: WorldModelTaskConfig = {
  data: { seed: 0, episodes: 120, size: 64, explore: { prob: 0.15, hold: [2, 8] } },
  stage1: fullStage1,
  stage2: fullStage2,
  decoder: fullDecoder,
  eval: {
    seed: 0,
    horizon: 16,
    windows: 256,
    sensitivityHorizon: 3,
    sensitivityStarts: 256,
    probeRows: 4000,
    probeFeatures: "pooled",
  },
};

/** The presets of `deno task worldmodel`. */
export const WORLDMODEL_PRESETS: Presets<WorldModelTaskConfig> = {
  smoke: {
    data: { ...full.data, episodes: 3 },
    stage1: {
      ...fullStage1,
      encoder: { ...fullStage1.encoder, patch: 16, width: 32, depth: 1, heads: 2 },
      predictor: { ...fullStage1.predictor, width: 64, depth: 1 },
      train: {
        ...fullStage1.train,
        steps: 60,
        batchSize: 32,
        lr: 1e-3,
        startLr: 1e-4,
        warmupSteps: 10,
        checkpointEvery: 20,
        monitorEvery: 20,
        monitorFrames: 128,
        earlyStop: { every: 20, patience: 2 },
      },
    },
    stage2: {
      ...fullStage2,
      model: { ...fullStage2.model, width: 32, depth: 1, heads: 2 },
      train: {
        ...fullStage2.train,
        steps: 60,
        batchSize: 16,
        lr: 2e-3,
        startLr: 2e-4,
        warmupSteps: 5,
        checkpointEvery: 10,
        earlyStop: { every: 10, patience: 2 },
        valBatches: 4,
      },
    },
    decoder: {
      ...fullDecoder,
      model: { width: 32, depth: 1, heads: 2, mlpRatio: 2 },
      train: {
        ...fullDecoder.train,
        steps: 200,
        batchSize: 32,
        lr: 2e-3,
        warmupSteps: 10,
        checkpointEvery: 50,
      },
    },
    eval: {
      ...full.eval,
      windows: 32,
      sensitivityStarts: 64,
      probeRows: 1500,
      probeFeatures: "flat",
    },
  },
  small: {
    data: { ...full.data, episodes: 20 },
    stage1: {
      ...fullStage1,
      encoder: { ...fullStage1.encoder, patch: 16, width: 64, depth: 2, heads: 2 },
      predictor: { ...fullStage1.predictor, width: 128, depth: 1 },
      train: {
        ...fullStage1.train,
        steps: 4_000,
        batchSize: 64,
        lr: 5e-4,
        startLr: 5e-5,
        warmupSteps: 200,
        checkpointEvery: 200,
        monitorEvery: 200,
        monitorFrames: 512,
        earlyStop: { every: 200, patience: 5 },
      },
    },
    stage2: {
      ...fullStage2,
      model: { ...fullStage2.model, width: 64, depth: 2, heads: 2 },
      train: {
        ...fullStage2.train,
        steps: 1_200,
        batchSize: 32,
        lr: 1e-3,
        startLr: 1e-4,
        warmupSteps: 100,
        checkpointEvery: 100,
        earlyStop: { every: 100, patience: 5 },
        valBatches: 8,
      },
    },
    decoder: {
      ...fullDecoder,
      model: { width: 64, depth: 1, heads: 2, mlpRatio: 4 },
      train: {
        ...fullDecoder.train,
        steps: 800,
        batchSize: 64,
        warmupSteps: 50,
        checkpointEvery: 100,
      },
    },
    eval: {
      ...full.eval,
      windows: 128,
      sensitivityStarts: 128,
      probeRows: 3000,
      probeFeatures: "flat",
    },
  },
  full,
};

/** Everything `deno task plan` runs. */
export interface PlanTaskConfig {
  goal: GoalTaskConfig;
  planner: PlannerConfig;
}

const fullPlan: PlanTaskConfig = {
  goal: { seed: 0, tasks: 100, horizon: 6, tolerance: 10, warmup: [20, 200], shift: [30, 90] },
  planner: {
    samples: 256,
    iterations: 10,
    elites: 10,
    initStd: 1,
    minStd: 0.05,
    bounds: [-1, 1],
    replan: true,
  },
};

/** The presets of `deno task plan`. */
export const PLAN_PRESETS: Presets<PlanTaskConfig> = {
  smoke: {
    goal: { ...fullPlan.goal, tasks: 12 },
    planner: { ...fullPlan.planner, samples: 64, iterations: 3, elites: 8, replan: false },
  },
  small: {
    goal: { ...fullPlan.goal, tasks: 50 },
    planner: { ...fullPlan.planner, samples: 128, iterations: 4, elites: 10, replan: true },
  },
  full: fullPlan,
};
