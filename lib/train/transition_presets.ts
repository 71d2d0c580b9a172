/**
 * Model presets of the transition trainer (`transition.ts`): the VICReg JEPA, its EMA-only
 * ablation and the pixel encoder-decoder share them. `full` uses the reference encoder
 * (DESIGN.md 5) and VICReg's published weights, meant for a GPU; `small` gives a meaningful
 * comparison on a 2-core CPU; `smoke` trains in seconds (tests, CI).
 *
 * @module
 */

import type { Presets } from "../run/config.ts";
import { VICREG_DEFAULTS } from "../ssl/vicreg.ts";
import type { TransitionConfig } from "./transition.ts";

const fullModel: TransitionConfig = {
  seed: 0,
  stack: 4,
  valFraction: 0.2,
  encoder: { patch: 12, width: 192, depth: 4, heads: 3, mlpRatio: 4, cls: false },
  predictorHidden: 512,
  decoder: { width: 96, depth: 2, heads: 2, mlpRatio: 4 },
  vicreg: VICREG_DEFAULTS,
  ema: [0.996, 1.0],
  train: {
    steps: 10_000,
    batchSize: 64,
    lr: 1.5e-4,
    startLr: 2e-5,
    finalLr: 1e-6,
    warmupSteps: 500,
    weightDecay: [0.05, 0.05],
    clipGrad: 1.0,
    checkpointEvery: 500,
    monitorEvery: 500,
  },
  evalRows: 2000,
};

/** The presets. */
export const TRANSITION_PRESETS: Presets<TransitionConfig> = {
  smoke: {
    ...fullModel,
    encoder: { ...fullModel.encoder, width: 32, depth: 1, heads: 2 },
    predictorHidden: 64,
    decoder: { width: 32, depth: 1, heads: 2, mlpRatio: 2 },
    train: {
      ...fullModel.train,
      steps: 40,
      batchSize: 32,
      lr: 1e-3,
      startLr: 1e-4,
      warmupSteps: 5,
      checkpointEvery: 20,
      monitorEvery: 20,
    },
    evalRows: 256,
  },
  small: {
    ...fullModel,
    encoder: { ...fullModel.encoder, width: 64, depth: 2, heads: 2 },
    predictorHidden: 256,
    decoder: { width: 32, depth: 1, heads: 2, mlpRatio: 4 },
    train: {
      ...fullModel.train,
      steps: 1_000,
      batchSize: 64,
      lr: 5e-4,
      startLr: 5e-5,
      warmupSteps: 100,
      checkpointEvery: 100,
      monitorEvery: 100,
    },
    evalRows: 1000,
  },
  full: fullModel,
};
