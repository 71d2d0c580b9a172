/**
 * The neural-Breakout study's config: the videos it learns from (play collected here, or a
 * recorded dataset), the latent-action model and its schedule, and the report's GIF; presets
 * smoke (seconds), small (a 2-core CPU, about an hour), full (the seed's codebook, for a GPU).
 *
 * @module
 */

import type { ExploreConfig } from "../../data/collect.ts";
import type { PolicyName } from "../../envs/policies.ts";
import type { Presets } from "../../run/config.ts";
import type { LatentActionTrainConfig } from "../../train/latent_action.ts";

/** Everything `deno task latent-action` runs. */
export interface NeuralBreakoutConfig {
  /**
   * Videos collected here when no dataset is given: the policy with random action segments, so
   * that every action shows its effect (the seed records its DQN with 15-20% random actions).
   */
  data: { env: string; policy: PolicyName; episodes: number; explore: ExploreConfig };
  model: LatentActionTrainConfig;
  /** The action -> latent mapping: at most this many transitions per split. */
  mapping: { rows: number };
  /** Steps of the report's GIF (real play beside rollouts with inferred and random codes). */
  report: { gifSteps: number };
}

const small: NeuralBreakoutConfig = {
  data: {
    env: "native:breakout",
    // Random play: an action drawn anew at every step cannot be read off the stack, so the
    // decoder needs the code (scripted play moves the paddle where the ball goes, and its
    // codes never controlled the model: results/reference/neural-breakout/ABLATION.md).
    policy: "random",
    episodes: 80,
    explore: { prob: 0.2, hold: [2, 8] },
  },
  model: {
    seed: 0,
    stack: 2,
    valFraction: 0.2,
    encoder: { patch: 12, width: 64, depth: 2, heads: 2, mlpRatio: 2, cls: false },
    actionEncoder: { width: 64, depth: 2, heads: 2, mlpRatio: 2, cls: false },
    decoder: { width: 64, depth: 2, heads: 2, mlpRatio: 2 },
    codes: 16,
    codeDim: 16,
    commitment: 0.25,
    // The change between the frames: the codes then control the model (delta-t PSNR 2.6 and
    // 3.4 dB on two seeds, against 0 with the frames themselves; ABLATION.md).
    pairInput: "difference",
    changeWeight: 0,
    // Without it the codebook collapses onto one point (results/reference/neural-breakout/
    // ABLATION.md): the encoder's outputs are kept apart by VICReg's variance hinge.
    spreadWeight: 1,
    contextNoise: 0,
    usage: { decay: 0.99, deadThreshold: 0.1, resetEvery: 100 },
    train: {
      steps: 4000,
      batchSize: 32,
      lr: 1e-3,
      startLr: 1e-4,
      finalLr: 1e-5,
      warmupSteps: 200,
      weightDecay: [0.01, 0.01],
      clipGrad: 1,
      checkpointEvery: 250,
    },
    eval: { rows: 512, horizon: 8, deltaAt: 4 },
  },
  mapping: { rows: 20_000 },
  report: { gifSteps: 16 },
};

export const NEURAL_BREAKOUT_PRESETS: Presets<NeuralBreakoutConfig> = {
  smoke: {
    data: { ...small.data, episodes: 3 },
    model: {
      ...small.model,
      encoder: { ...small.model.encoder, width: 32, depth: 1 },
      actionEncoder: { ...small.model.actionEncoder, width: 32, depth: 1 },
      decoder: { width: 32, depth: 1, heads: 2, mlpRatio: 2 },
      codes: 8,
      codeDim: 8,
      usage: { decay: 0.9, deadThreshold: 0.1, resetEvery: 10 },
      train: {
        ...small.model.train,
        steps: 40,
        batchSize: 16,
        warmupSteps: 5,
        checkpointEvery: 20,
      },
      eval: { rows: 64, horizon: 4, deltaAt: 4 },
    },
    mapping: { rows: 2000 },
    report: { gifSteps: 4 },
  },
  small,
  full: {
    ...small,
    data: { ...small.data, episodes: 200 },
    model: {
      ...small.model,
      encoder: { ...small.model.encoder, width: 192, depth: 4, heads: 3 },
      actionEncoder: { ...small.model.actionEncoder, width: 192, depth: 4, heads: 3 },
      decoder: { width: 192, depth: 4, heads: 3, mlpRatio: 4 },
      codes: 256,
      codeDim: 32,
      train: { ...small.model.train, steps: 50_000, batchSize: 64, checkpointEvery: 1000 },
      eval: { rows: 2000, horizon: 16, deltaAt: 4 },
    },
  },
};

/** Checks what the types cannot; the error names the field. */
export function checkNeuralBreakoutConfig(cfg: NeuralBreakoutConfig): void {
  const m = cfg.model;
  if (!(Number.isInteger(m.codes) && m.codes >= 2)) {
    throw new Error(`model.codes must be an integer >= 2, got ${m.codes}`);
  }
  if (!(m.eval.deltaAt >= 1 && m.eval.deltaAt <= m.eval.horizon)) {
    throw new Error(
      `model.eval.deltaAt must be in [1, horizon = ${m.eval.horizon}], got ${m.eval.deltaAt}`,
    );
  }
  if (!(Number.isInteger(m.stack) && m.stack >= 1)) {
    throw new Error(`model.stack must be an integer >= 1, got ${m.stack}`);
  }
  if (!(cfg.data.episodes >= 2)) {
    throw new Error(`data.episodes must be >= 2 (some are held out), got ${cfg.data.episodes}`);
  }
}
