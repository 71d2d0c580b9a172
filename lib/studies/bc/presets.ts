/**
 * The behaviour-cloning study's config (`deno task bc`): where the demonstrations come from, the
 * model variants compared on them (encoder x target x predictor x loss, the softmax baseline
 * among them), the training schedule they share, and the closed-loop evaluation.
 *
 * @module
 */

import type { ActionJepaConfig } from "../../models/action_jepa.ts";
import type { Presets } from "../../run/config.ts";
import type { BcConfig } from "../../train/bc.ts";

/** One model of the comparison: a name and its changes to the base model. */
export interface BcVariant {
  name: string;
  encoder?: Partial<ActionJepaConfig["encoder"]>;
  target?: ActionJepaConfig["target"]["kind"];
  predictor?: ActionJepaConfig["predictor"]["kind"];
  loss?: ActionJepaConfig["loss"];
  masking?: number;
  /** Gaze supervision's weight (the data must have gaze). */
  gaze?: number;
}

/** Everything a study run does. */
export interface BcStudyConfig {
  seed: number;
  /**
   * The demonstrations: `synthetic` (frames that show the action: the seed's quick mode),
   * `record` (Atari-HEAD trials recorded here from `record.policy` or the PPO agent
   * `record.agent`, then converted), or `path` (an Atari-HEAD game folder or trial files, or a
   * project dataset).
   */
  data: {
    source: "synthetic" | "record" | "path";
    path: string;
    /** The game the demonstrations are of (recording, conversion, closed loop). */
    env: string;
    record: { policy: "scripted" | "random"; agent: string; trials: number; episodes: number };
    /** Frames of `size` (`[height, width]`), 4 actions. */
    synthetic: { episodes: number; steps: number; trials: number; size: [number, number] };
  };
  stack: number;
  valFraction: number;
  /** The model every variant starts from. */
  model: BcConfig["model"];
  variants: BcVariant[];
  train: BcConfig["train"];
  /** Closed loop: games per variant in the env (0: none), and the chance of a random action. */
  play: { games: number; epsilon: number; maxSteps: number };
}

const model: BcConfig["model"] = {
  encoder: { arch: "cnn", features: 256, init: "", frozen: false },
  target: { kind: "mlp", hidden: 64 },
  predictor: { kind: "mlp", width: 128, depth: 2, heads: 4 },
  loss: "infonce",
  embedDim: 64,
  temperature: 0.1,
  masking: { ratio: 0.3, patch: 12, weight: 0 },
  gaze: { weight: 0 },
};

/**
 * The variants of the small grid: the softmax baseline, each loss, predictor and target, masked
 * frames, and gaze supervision (the recorded trials carry a gaze stand-in on the ball).
 */
export const BC_VARIANTS: BcVariant[] = [
  { name: "softmax", loss: "softmax" },
  { name: "infonce-mlp", loss: "infonce" },
  { name: "cosine-mlp", loss: "cosine" },
  { name: "mse-mlp", loss: "mse" },
  { name: "infonce-residual", predictor: "residual" },
  { name: "infonce-transformer", predictor: "transformer" },
  { name: "infonce-table", target: "embedding" },
  { name: "infonce-masking", masking: 0.5 },
  { name: "infonce-gaze", gaze: 1 },
];

const train: BcConfig["train"] = {
  steps: 3000,
  batchSize: 64,
  lr: 1e-3,
  startLr: 1e-4,
  finalLr: 1e-5,
  warmupSteps: 100,
  weightDecay: [0.01, 0.01],
  clipGrad: 1,
  checkpointEvery: 500,
  earlyStop: { every: 250, patience: 4 },
};

const small: BcStudyConfig = {
  seed: 0,
  data: {
    source: "record",
    path: "",
    env: "native:breakout",
    record: { policy: "scripted", agent: "", trials: 8, episodes: 2 },
    synthetic: { episodes: 16, steps: 60, trials: 8, size: [84, 84] },
  },
  stack: 4,
  valFraction: 0.25,
  model,
  variants: BC_VARIANTS,
  train,
  play: { games: 8, epsilon: 0.05, maxSteps: 4500 },
};

/** The presets: `smoke` on synthetic frames in well under 2 minutes; `small` on recorded play. */
export const BC_PRESETS: Presets<BcStudyConfig> = {
  smoke: {
    ...small,
    // Small frames: the whole study in seconds, on any backend.
    data: {
      ...small.data,
      source: "synthetic",
      synthetic: { episodes: 8, steps: 40, trials: 4, size: [36, 36] },
    },
    stack: 2,
    model: { ...model, encoder: { ...model.encoder, features: 32 }, embedDim: 16 },
    variants: [{ name: "softmax", loss: "softmax" }, { name: "infonce-mlp", loss: "infonce" }],
    train: {
      ...train,
      steps: 80,
      batchSize: 32,
      lr: 3e-3,
      warmupSteps: 10,
      checkpointEvery: 40,
      earlyStop: { every: 0, patience: 0 },
    },
    play: { games: 0, epsilon: 0.05, maxSteps: 200 },
  },
  small,
  full: {
    ...small,
    data: { ...small.data, record: { ...small.data.record, trials: 20, episodes: 5 } },
    train: {
      ...train,
      steps: 20_000,
      checkpointEvery: 1000,
      earlyStop: { every: 500, patience: 6 },
    },
    play: { ...small.play, games: 30 },
  },
};

/** The model config of a variant. */
export function variantModel(base: BcConfig["model"], v: BcVariant): BcConfig["model"] {
  return {
    ...base,
    encoder: { ...base.encoder, ...v.encoder },
    target: { ...base.target, kind: v.target ?? base.target.kind },
    predictor: { ...base.predictor, kind: v.predictor ?? base.predictor.kind },
    loss: v.loss ?? base.loss,
    masking: { ...base.masking, weight: v.masking ?? base.masking.weight },
    gaze: { weight: v.gaze ?? base.gaze.weight },
  };
}

/** Checks what the types cannot; throws naming the field. */
export function checkBcStudyConfig(cfg: BcStudyConfig): void {
  const names = cfg.variants.map((v) => v.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`variants: the name '${dup}' is used twice`);
  for (const n of names) {
    if (!/^[\w.-]+$/.test(n)) {
      throw new Error(`variants: '${n}' may hold letters, digits, '.', '_', '-'`);
    }
  }
  if (cfg.variants.length === 0) throw new Error("variants: the list is empty");
  if (cfg.data.source === "path" && !cfg.data.path) {
    throw new Error("data.path: required with data.source 'path' (--data DIR)");
  }
}
