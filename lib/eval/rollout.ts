/**
 * Evaluations of an action-conditioned world model on held-out episodes:
 *
 * - rollout error vs horizon: from the true latent s_0 of a window, the model predicts
 *   s_hat_1..s_hat_H feeding its own predictions back with the actions really taken; the error
 *   at horizon h is mean |s_hat_h - s_h| (the training L1, on layer-normed latents). Two
 *   baselines: copying the last latent (s_hat_h = s_0), and the same predictor trained with its
 *   actions blanked (what the actions are worth);
 * - action sensitivity: from one state, hold LEFT for h steps, and separately RIGHT; a linear
 *   probe fitted on real latents reads the paddle x of both predicted end states, and the model
 *   "moves the right way" when x(RIGHT) > x(LEFT). An action-blind model predicts the same end
 *   state for both, so it never does (ties count as wrong);
 * - a film strip of real frames, decoded real latents and decoded imagined latents, for a GIF.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { frameStackBatches, sequenceBatches } from "../data/batches.ts";
import type { Dataset } from "../data/reader.ts";
import type { FrozenEncoder } from "../models/encoder.ts";
import { decodePatches, type PixelDecoder } from "../models/pixel_decoder.ts";
import {
  actionOneHot,
  encodeLatents,
  gatherLatents,
  rollout,
  type WorldModel,
} from "../models/world_model.ts";
import { unpatchify } from "../nn/vit.ts";
import type { LatentData } from "../train/world_model.ts";
import { fitRidgeProbe, r2Score, type RidgeProbe } from "./probe.ts";

/** Rollout error at one horizon (mean absolute error on layer-normed latents). */
export interface RolloutErrorPoint {
  horizon: number;
  model: number;
  /** The action-blind predictor, when given. */
  blind?: number;
  /** Copying the last latent. */
  copy: number;
}

/** Which held-out windows {@linkcode heldOutWindows} samples. */
export interface HeldOutWindowsOptions {
  /** Episodes to draw the windows from (e.g. the validation split's). */
  episodes: number[];
  /** Steps after each window's first row: a window is `horizon + 1` consecutive rows. */
  horizon: number;
  /** How many windows to sample (at most; fewer when the episodes hold fewer). */
  count: number;
  /** Seed of the sample (a fixed sample for a seed). */
  seed: number;
}

/** Windows of `horizon + 1` held-out rows: row indices and actions, `[n, horizon + 1]`. */
export function heldOutWindows(
  data: LatentData,
  opts: HeldOutWindowsOptions,
): { rows: Int32Array; actions: Int32Array; n: number } {
  const { episodes, horizon, count, seed } = opts;
  const batch = sequenceBatches(data.ds, {
    episodes,
    batchSize: count,
    length: horizon + 1,
    seed,
    frames: false,
  }).next().value;
  if (!batch) {
    throw new Error(`rollout: no held-out episode is ${horizon + 1} steps long`);
  }
  return { rows: batch.indices, actions: batch.actions, n: batch.shape[0] };
}

/** How far {@linkcode rolloutWindows} rolls out, and whether the model is action-blind. */
export interface RolloutWindowsOptions {
  /** Steps predicted after each window's first latent (windows are `horizon + 1` rows long). */
  horizon: number;
  /** Blank the actions (for a predictor trained action-blind); default false. */
  blind?: boolean;
}

/**
 * Open-loop rollouts of `model` from the first latent of each window with the window's actions:
 * `[n, horizon, N, D]` predicted latents of steps 1..horizon.
 */
export function rolloutWindows(
  model: WorldModel,
  data: LatentData,
  windows: { rows: Int32Array; actions: Int32Array; n: number },
  opts: RolloutWindowsOptions,
): Float32Array {
  const { horizon, blind = false } = opts;
  const { tokens, dim, numActions } = data.spec;
  const per = tokens * dim;
  const len = horizon + 1;
  const first = Int32Array.from({ length: windows.n }, (_, i) => windows.rows[i * len]);
  const acts = actionOneHot(windows.actions, numActions, blind);
  const pred = tf.tidy(() => {
    const s0 = tf.tensor4d(gatherLatents(data.table, first, per), [windows.n, 1, tokens, dim]);
    const a = tf.tensor3d(acts, [windows.n, len, numActions]);
    const future = horizon > 1 ? a.slice([0, 1, 0], [-1, horizon - 1, -1]) : null;
    return rollout(model, s0, a.slice([0, 0, 0], [-1, 1, -1]), future as tf.Tensor3D | null);
  });
  const out = pred.dataSync() as Float32Array;
  pred.dispose();
  return out;
}

/** Rollout error vs horizon 1..H of the model, the action-blind model and the copy baseline. */
export function rolloutErrorCurve(
  models: { model: WorldModel; blind?: WorldModel },
  data: LatentData,
  episodes: number[],
  opts: { horizon: number; windows: number; seed: number },
): RolloutErrorPoint[] {
  const H = opts.horizon;
  const w = heldOutWindows(data, { episodes, horizon: H, count: opts.windows, seed: opts.seed });
  const per = data.spec.tokens * data.spec.dim;
  const truth = gatherLatents(data.table, w.rows, per);
  const err = (pred: (i: number, h: number) => Float32Array) =>
    Array.from({ length: H }, (_, k) => {
      let total = 0;
      for (let i = 0; i < w.n; i++) {
        const p = pred(i, k + 1);
        const t = truth.subarray((i * (H + 1) + k + 1) * per, (i * (H + 1) + k + 2) * per);
        for (let j = 0; j < per; j++) total += Math.abs(p[j] - t[j]);
      }
      return total / (w.n * per);
    });
  const fromRollout = (r: Float32Array) => (i: number, h: number) =>
    r.subarray((i * H + h - 1) * per, (i * H + h) * per);
  const model = err(fromRollout(rolloutWindows(models.model, data, w, { horizon: H })));
  const copy = err((i) => truth.subarray(i * (H + 1) * per, (i * (H + 1) + 1) * per));
  const blind = models.blind
    ? err(fromRollout(rolloutWindows(models.blind, data, w, { horizon: H, blind: true })))
    : undefined;
  return model.map((m, k) => ({
    horizon: k + 1,
    model: m,
    ...(blind ? { blind: blind[k] } : {}),
    copy: copy[k],
  }));
}

/**
 * Features a probe reads from world-model latents `[n, N, D]`: the token mean, or every token
 * (the frozen-encoder probes' feature sets are `EncoderFeatures`, in encoder_probe.ts).
 */
export type LatentFeatures = "pooled" | "flat";

/** The layout of the latents {@linkcode latentFeatures} reads, and the features to take. */
export interface LatentFeaturesOptions {
  /** Number of latents `n`. */
  n: number;
  /** Tokens per latent `N`. */
  tokens: number;
  /** Width of a token `D`. */
  dim: number;
  /** `pooled` (the token mean, `F = D`) or `flat` (every token, `F = N * D`). */
  features: LatentFeatures;
}

/** Probe features `[n, F]` of latents `[n, N, D]`. */
export function latentFeatures(
  latents: Float32Array,
  opts: LatentFeaturesOptions,
): { x: Float32Array; d: number } {
  const { n, tokens, dim, features } = opts;
  if (features === "flat") return { x: latents, d: tokens * dim };
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < tokens; t++) {
      for (let j = 0; j < dim; j++) x[i * dim + j] += latents[(i * tokens + t) * dim + j] / tokens;
    }
  }
  return { x, d: dim };
}

/** How often held LEFT / RIGHT rollouts move the probed paddle the right way. */
export interface SensitivityResult {
  /** Fraction of start states with x(RIGHT) > x(LEFT) (ties are wrong). */
  correct: number;
  /** Mean of x(RIGHT) - x(LEFT), in the probe's units (pixels). */
  meanShift: number;
  n: number;
}

/**
 * The action-sensitivity metric. `endFeatures(action)` returns the probe features `[n, d]` of
 * the predicted state after holding `action` for the chosen horizon from each of `n` starts;
 * `probe` reads the paddle x from them.
 */
export function actionSensitivity(
  endFeatures: (action: number) => Float32Array,
  probe: Pick<RidgeProbe, "predict">,
  n: number,
  actions: { left: number; right: number },
): SensitivityResult {
  const xl = probe.predict(endFeatures(actions.left), n);
  const xr = probe.predict(endFeatures(actions.right), n);
  let correct = 0;
  let shift = 0;
  for (let i = 0; i < n; i++) {
    if (xr[i] > xl[i]) correct++;
    shift += xr[i] - xl[i];
  }
  return { correct: correct / n, meanShift: shift / n, n };
}

/** What {@linkcode heldActionFeatures} rolls out, from where, and which features it returns. */
export interface HeldActionFeaturesOptions {
  /** Start rows: each row's true latent is the rollout's one-step context. */
  starts: Int32Array;
  /** The action held at every step. */
  action: number;
  /** Steps to hold it; the features are of the predicted latent at this step. */
  horizon: number;
  /** Probe features of the predicted latent: see {@linkcode LatentFeatures}. */
  features: LatentFeatures;
  /** Blank the actions (for a predictor trained action-blind); default false. */
  blind?: boolean;
}

/**
 * Probe features of the latent a world model predicts after holding `action` for `horizon`
 * steps from each start row (the row's true latent as a one-step context).
 */
export function heldActionFeatures(
  model: WorldModel,
  data: LatentData,
  opts: HeldActionFeaturesOptions,
): Float32Array {
  const { starts, action, horizon, features, blind = false } = opts;
  const { tokens, dim, numActions } = data.spec;
  const n = starts.length;
  const acts = actionOneHot(new Int32Array(n * horizon).fill(action), numActions, blind);
  const end = tf.tidy(() => {
    const s0 = tf.tensor4d(gatherLatents(data.table, starts, tokens * dim), [n, 1, tokens, dim]);
    const a = tf.tensor3d(acts, [n, horizon, numActions]);
    const future = horizon > 1 ? a.slice([0, 1, 0], [-1, horizon - 1, -1]) as tf.Tensor3D : null;
    const r = rollout(model, s0, a.slice([0, 0, 0], [-1, 1, -1]), future);
    return r.slice([0, horizon - 1, 0, 0], [-1, 1, -1, -1]);
  });
  const latents = end.dataSync() as Float32Array;
  end.dispose();
  return latentFeatures(latents, { n, tokens, dim, features }).x;
}

/** Newest frames `[n, h, w]` decoded from latents `[n, N, D]`. */
export function decodeFrames(
  dec: PixelDecoder,
  latents: Float32Array,
  n: number,
  size: [number, number],
): Uint8Array {
  const { tokens, dim, rows, cols } = dec.spec;
  const patches = tf.tidy(() =>
    tf.clipByValue(decodePatches(dec, tf.tensor3d(latents, [n, tokens, dim])), 0, 1)
  );
  const values = patches.dataSync() as Float32Array;
  patches.dispose();
  if (rows * dec.patch !== size[0] || cols * dec.patch !== size[1]) {
    throw new Error(
      `decodeFrames: a ${rows}x${cols} grid of ${dec.patch}-px patches is not ${size}`,
    );
  }
  return unpatchify(values, n, size[0], size[1], 1, dec.patch);
}

/**
 * Frames for a real-vs-imagined GIF of one held-out window: per step h = 0..H, the real newest
 * frame, the decoded real latent and the decoded imagined latent (the rollout from s_0 with the
 * real actions; at h = 0 the decoded s_0). Each entry is `[h, w]` gray.
 */
export function filmStrip(
  model: WorldModel,
  dec: PixelDecoder,
  data: LatentData,
  window: { rows: Int32Array; actions: Int32Array },
  horizon: number,
): { real: Uint8Array[]; decoded: Uint8Array[]; imagined: Uint8Array[] } {
  const [h, w] = data.ds.frameShape;
  const per = data.spec.tokens * data.spec.dim;
  const rows = window.rows.subarray(0, horizon + 1);
  const pred = rolloutWindows(model, data, {
    rows,
    actions: window.actions.subarray(0, horizon + 1),
    n: 1,
  }, { horizon });
  const truth = gatherLatents(data.table, rows, per);
  const imaginedLatents = new Float32Array((horizon + 1) * per);
  imaginedLatents.set(truth.subarray(0, per));
  imaginedLatents.set(pred, per);
  const split = (frames: Uint8Array) =>
    Array.from({ length: horizon + 1 }, (_, i) => frames.slice(i * h * w, (i + 1) * h * w));
  return {
    real: Array.from(rows, (r) => data.ds.frame(r).slice()),
    decoded: split(decodeFrames(dec, truth, horizon + 1, [h, w])),
    imagined: split(decodeFrames(dec, imaginedLatents, horizon + 1, [h, w])),
  };
}

/** Settings of {@linkcode evaluateWorldModel}. */
export interface WorldModelEvalConfig {
  seed: number;
  horizon: number;
  windows: number;
  sensitivityHorizon: number;
  sensitivityStarts: number;
  probeRows: number;
  probeFeatures: LatentFeatures;
}

/** Everything {@linkcode evaluateWorldModel} measures. */
export interface WorldModelEvaluation {
  curve: RolloutErrorPoint[];
  /** The paddle-x probe on real latents: its held-out R^2. */
  probeR2: number;
  sensitivity: { model: SensitivityResult; blind?: SensitivityResult };
}

/** Rows sampled from the given episodes (a fixed sample for a seed). */
export function sampleRows(data: LatentData, episodes: number[], count: number, seed: number) {
  return heldOutWindows(data, { episodes, horizon: 0, count, seed }).rows;
}

/**
 * Rollout error vs horizon on held-out episodes (model, action-blind model, copy), the paddle-x
 * probe (fitted on training rows, checked on held-out ones) and the action sensitivity of both
 * models from held-out starts.
 */
export function evaluateWorldModel(
  models: { model: WorldModel; blind?: WorldModel },
  data: LatentData,
  split: { train: number[]; val: number[] },
  cfg: WorldModelEvalConfig,
  actions: { left: number; right: number },
): WorldModelEvaluation {
  const curve = rolloutErrorCurve(models, data, split.val, cfg);
  const { tokens, dim } = data.spec;
  const per = tokens * dim;
  const paddle = data.ds.state("paddleX");
  const episode = data.ds.column("episode");
  const probeSet = (episodes: number[], seed: number) => {
    const rows = sampleRows(data, episodes, cfg.probeRows, seed);
    const { x, d } = latentFeatures(gatherLatents(data.table, rows, per), {
      n: rows.length,
      tokens,
      dim,
      features: cfg.probeFeatures,
    });
    const y = Float64Array.from(rows, (r) => paddle[r]);
    return { x, d, y, n: rows.length, groups: Int32Array.from(rows, (r) => episode[r]) };
  };
  // With the rows' episodes, the penalty is validated on whole held-out training episodes.
  const probe = fitRidgeProbe(probeSet(split.train, cfg.seed));
  const test = probeSet(split.val, cfg.seed + 1);
  const starts = heldOutWindows(data, {
    episodes: split.val,
    horizon: cfg.sensitivityHorizon,
    count: cfg.sensitivityStarts,
    seed: cfg.seed + 2,
  }).rows.filter((_, i) => i % (cfg.sensitivityHorizon + 1) === 0);
  const sensitivity = (m: WorldModel, blind: boolean) =>
    actionSensitivity(
      (a) =>
        heldActionFeatures(m, data, {
          starts,
          action: a,
          horizon: cfg.sensitivityHorizon,
          features: cfg.probeFeatures,
          blind,
        }),
      probe,
      starts.length,
      actions,
    );
  return {
    curve,
    probeR2: r2Score(test.y, probe.predict(test.x, test.n)),
    sensitivity: {
      model: sensitivity(models.model, false),
      ...(models.blind ? { blind: sensitivity(models.blind, true) } : {}),
    },
  };
}

/** Which frame stacks {@linkcode encodeLatentsFor} samples and encodes. */
export interface EncodeLatentsForOptions {
  /** Frames per stack (the encoder's input channels). */
  stack: number;
  /** Episodes to sample the stacks from. */
  episodes: number[];
  /** How many stacks to sample (at most; fewer when the episodes hold fewer). */
  count: number;
  /** Seed of the sample (a fixed sample for a seed). */
  seed: number;
}

/**
 * Pooled latents `[n, D]` of up to `count` frame stacks sampled from `episodes` (a fixed sample
 * for a seed), with their rows: the features of a quick probe of a frozen encoder.
 */
export function encodeLatentsFor(
  enc: FrozenEncoder,
  ds: Dataset,
  opts: EncodeLatentsForOptions,
): { x: Float32Array; rows: Int32Array } {
  const { stack, episodes, count, seed } = opts;
  const batch = frameStackBatches(ds, { episodes, batchSize: count, stack, seed }).next().value;
  if (!batch) throw new Error("encodeLatentsFor: no frames in the chosen episodes");
  return { x: encodeLatents(enc, batch.frames, batch.shape[0], "pooled"), rows: batch.indices };
}
