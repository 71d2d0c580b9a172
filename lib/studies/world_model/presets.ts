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

import type { ExploreConfig } from "../../data/collect.ts";
import type { GoalTaskConfig, PlannerConfig } from "../../plan/goal.ts";
import type { Presets } from "../../run/config.ts";
import type { LatentFeatures } from "../../eval/rollout.ts";
import type { PretrainConfig } from "../../train/pretrain.ts";
import type { DecoderTrainConfig, WorldModelTrainConfig } from "../../train/world_model.ts";
import {
  DECODER_PRESETS,
  STAGE1_PRESETS,
  STAGE2_PRESETS,
} from "../../train/world_model_presets.ts";

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
  probeFeatures: LatentFeatures;
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

const full: WorldModelTaskConfig = {
  data: { seed: 0, episodes: 120, size: 64, explore: { prob: 0.15, hold: [2, 8] } },
  stage1: STAGE1_PRESETS.full,
  stage2: STAGE2_PRESETS.full,
  decoder: DECODER_PRESETS.full,
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
    stage1: STAGE1_PRESETS.smoke,
    stage2: STAGE2_PRESETS.smoke,
    decoder: DECODER_PRESETS.smoke,
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
    stage1: STAGE1_PRESETS.small,
    stage2: STAGE2_PRESETS.small,
    decoder: DECODER_PRESETS.small,
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
