/**
 * Trainer presets of the V-JEPA 2-style world model: stage 1 (masked-latent pretraining, a
 * `pretrain` method), stage 2 (the action-conditioned predictor) and the pixel decoder. The
 * world-model study (`lib/studies/world_model/presets.ts`) composes them with its data and
 * evaluation settings.
 *
 * @module
 */

import type { Presets } from "../run/config.ts";
import { IJEPA_MASKS } from "../ssl/masks.ts";
import type { PretrainConfig } from "./pretrain.ts";
import type { DecoderTrainConfig, WorldModelTrainConfig } from "./world_model.ts";

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

/** stage1 presets of the world-model study. */
export const STAGE1_PRESETS: Presets<PretrainConfig> = {
  smoke: {
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
  small: {
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
  full: fullStage1,
};

/** stage2 presets of the world-model study. */
export const STAGE2_PRESETS: Presets<WorldModelTrainConfig> = {
  smoke: {
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
  small: {
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
  full: fullStage2,
};

/** decoder presets of the world-model study. */
export const DECODER_PRESETS: Presets<DecoderTrainConfig> = {
  smoke: {
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
  small: {
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
  full: fullDecoder,
};
