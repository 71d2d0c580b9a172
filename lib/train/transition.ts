/**
 * The fifth seed project: a VICReg JEPA and a pixel encoder-decoder trained on the same
 * transitions `(s_t, a_t, s_t+1)` of one dataset, then compared (`lib/models/vicreg_jepa.ts`,
 * `lib/models/next_frame.ts`). Three methods:
 *
 * - `vicreg`:   the JEPA with MSE + VICReg variance and covariance terms (25 / 25 / 1);
 * - `ema-only`: the same JEPA with the VICReg terms off (what they prevent: collapse);
 * - `pixel`:    the ViT encoder + action-conditioned transformer decoder predicting the next
 *               frame's pixels.
 *
 * Each trains in the shared loop (`lib/train/loop.ts`: exact resume, NaN guard, checkpoints).
 * {@linkcode evaluateTransitionModel} measures, on held-out episodes: next-step prediction error
 * in the model's own latent space relative to the variance of the targets (1 = no better than
 * predicting the mean embedding; a collapsed encoder cannot look good on it) beside the
 * copy-the-last-latent baseline; collapse statistics of the pooled embeddings; and for `pixel` the
 * PSNR of the predicted frame beside copying the last frame.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { sequenceBatches, splitEpisodes } from "../data/batches.ts";
import type { Dataset } from "../data/reader.ts";
import { type CollapseStats, collapseStats } from "../eval/collapse.ts";
import type { FrozenEncoder } from "../models/encoder.ts";
import type { PredictorConfig } from "../models/ijepa.ts";
import {
  embedPatches,
  initVicregJepa,
  predictEmbedding,
  type VicregJepa,
  vicregJepaLoss,
} from "../models/vicreg_jepa.ts";
import {
  initNextFrame,
  nextFrameEmbedding,
  nextFrameLoss,
  type NextFrameModel,
  predictNextFrame,
} from "../models/next_frame.ts";
import { actionOneHot } from "../models/world_model.ts";
import { namedParams } from "../nn/params.ts";
import { patchify, type VitConfig, vitGrid } from "../nn/vit.ts";
import { linearRamp } from "./optim.ts";
import { emaUpdate } from "../ssl/ema.ts";
import type { VicregWeights } from "../ssl/vicreg.ts";
import { assignTensors, loadCheckpoint } from "../tensor/checkpoint.ts";
import { deriveSeed, Rng } from "../tensor/rng.ts";
import { type LoopHooks, type LoopResult, type LoopSchedule, trainLoop } from "./loop.ts";

/** The compared methods. */
export const TRANSITION_METHODS = ["vicreg", "ema-only", "pixel"] as const;
/** One of {@linkcode TRANSITION_METHODS}. */
export type TransitionMethod = typeof TRANSITION_METHODS[number];

/** Everything that defines a run of one method. */
export interface TransitionConfig {
  seed: number;
  /** Frames per stack. */
  stack: number;
  /** Fraction of episodes held out for evaluation. */
  valFraction: number;
  encoder: Omit<VitConfig, "imageSize" | "channels">;
  /** Hidden width of the JEPA's predictor MLP. */
  predictorHidden: number;
  /** The pixel model's decoder. */
  decoder: PredictorConfig;
  /** VICReg weights of the `vicreg` method (`ema-only` zeroes variance and covariance). */
  vicreg: VicregWeights;
  /** EMA momentum of the JEPA's target, linear from the first value to the second. */
  ema: [number, number];
  train: LoopSchedule & { monitorEvery: number };
  /** Held-out transitions the evaluation (and the monitors) use. */
  evalRows: number;
}

/** A batch of transitions as the models take them. */
export interface TransitionBatch {
  now: Float32Array;
  next: Float32Array;
  /** Patches of the newest frame of `s_t+1`: the pixel model's target. */
  nextFrame: Float32Array;
  /** The newest frame of `s_t` as patches: the copy-last-frame baseline. */
  lastFrame: Float32Array;
  actions: Float32Array;
  b: number;
}

/** A trained model of either kind, with what the evaluation needs. */
export type TransitionModel =
  | { method: "vicreg" | "ema-only"; model: VicregJepa }
  | { method: "pixel"; model: NextFrameModel };

/** The encoder's full config for a dataset's frames. */
export function transitionEncoder(cfg: TransitionConfig, frameShape: readonly number[]): VitConfig {
  return {
    ...cfg.encoder,
    imageSize: [frameShape[0], frameShape[1]],
    channels: frameShape[2] * cfg.stack,
  };
}

/** Builds the model of `method` (initialised from the seed). */
export function initTransitionModel(
  cfg: TransitionConfig,
  method: TransitionMethod,
  frameShape: readonly number[],
  numActions: number,
): TransitionModel {
  const encoder = transitionEncoder(cfg, frameShape);
  const rng = new Rng(deriveSeed(cfg.seed, `init/${method}`));
  return method === "pixel"
    ? { method, model: initNextFrame(rng, { encoder, decoder: cfg.decoder, numActions }) }
    : {
      method,
      model: initVicregJepa(rng, { encoder, hidden: cfg.predictorHidden, numActions }),
    };
}

/** Actions in the dataset's action set (the largest id taken, plus one). */
export function actionCount(ds: Dataset): number {
  let max = 0;
  for (const a of ds.column("action")) max = Math.max(max, a);
  return max + 1;
}

/** Variables of a model: trainable, and all (with the EMA target). */
function variables(m: TransitionModel) {
  if (m.method === "pixel") {
    const trainable = [
      ...namedParams("encoder", m.model.encoder),
      ...namedParams("decoder", m.model.decoder),
    ];
    return { trainable, all: trainable };
  }
  const trainable = [
    ...namedParams("online", m.model.online),
    ...namedParams("predictor", m.model.predictor),
  ];
  return { trainable, all: [...trainable, ...namedParams("target", m.model.target)] };
}

/**
 * Transition batches of `episodes`: windows of two rows inside an episode, as patches of
 * `cfg.encoder.patch` pixels over stacks of `cfg.stack` frames.
 */
export function* transitionBatches(
  ds: Dataset,
  cfg: { stack: number; encoder: { patch: number } },
  episodes: number[],
  batchSize: number,
  seed: number,
  dropLast: boolean,
): Generator<TransitionBatch> {
  const [h, w, c] = ds.frameShape;
  const k = c * cfg.stack;
  const p = cfg.encoder.patch;
  const frameBytes = h * w * k;
  const numActions = actionCount(ds);
  for (
    const batch of sequenceBatches(ds, {
      episodes,
      batchSize,
      stack: cfg.stack,
      length: 2,
      seed,
      dropLast,
    })
  ) {
    const b = batch.shape[0];
    const now = new Uint8Array(b * frameBytes);
    const next = new Uint8Array(b * frameBytes);
    const newestNext = new Uint8Array(b * h * w);
    const newestNow = new Uint8Array(b * h * w);
    for (let i = 0; i < b; i++) {
      now.set(batch.frames.subarray(2 * i * frameBytes, (2 * i + 1) * frameBytes), i * frameBytes);
      next.set(
        batch.frames.subarray((2 * i + 1) * frameBytes, (2 * i + 2) * frameBytes),
        i * frameBytes,
      );
      for (let q = 0; q < h * w; q++) {
        newestNow[i * h * w + q] = now[i * frameBytes + q * k + k - 1];
        newestNext[i * h * w + q] = next[i * frameBytes + q * k + k - 1];
      }
    }
    yield {
      now: patchify(now, b, h, w, k, p),
      next: patchify(next, b, h, w, k, p),
      nextFrame: patchify(newestNext, b, h, w, 1, p),
      lastFrame: patchify(newestNow, b, h, w, 1, p),
      actions: actionOneHot(
        Int32Array.from({ length: b }, (_, i) => batch.actions[2 * i]),
        numActions,
      ),
      b,
    };
  }
}

/** Transitions (windows of two rows) inside `episodes`. */
export function windowsIn(ds: Dataset, episodes: number[]): number {
  return ds.episodes().filter((e) => episodes.includes(e.episode))
    .reduce((n, e) => n + Math.max(0, e.length - 1), 0);
}

/** The held-out transitions the evaluation and monitors use (a fixed sample). */
export function heldOutTransitions(ds: Dataset, cfg: TransitionConfig): TransitionBatch {
  const { val } = splitEpisodes(ds, { valFraction: cfg.valFraction, seed: cfg.seed });
  if (val.length === 0) throw new Error("transition: the dataset needs held-out episodes");
  const batch = transitionBatches(ds, cfg, val, cfg.evalRows, cfg.seed, false).next().value;
  if (!batch) throw new Error("transition: no held-out transitions");
  return batch;
}

function tensors(cfg: TransitionConfig, ds: Dataset, x: TransitionBatch) {
  const enc = transitionEncoder(cfg, ds.frameShape);
  const { tokens, patchDim } = vitGrid(enc);
  const p = enc.patch;
  return {
    now: tf.tensor3d(x.now, [x.b, tokens, patchDim]),
    next: tf.tensor3d(x.next, [x.b, tokens, patchDim]),
    nextFrame: tf.tensor3d(x.nextFrame, [x.b, tokens, p * p]),
    actions: tf.tensor2d(x.actions, [x.b, x.actions.length / x.b]),
  };
}

/** Hooks of a training run: the loop's, plus collapse monitors on held-out transitions. */
export interface TransitionHooks extends LoopHooks {
  onMonitor?(info: { step: number } & CollapseStats): void;
}

/** Trains (or resumes) `method` on `ds`; returns the trained model and the loop's result. */
export async function trainTransitionModel(
  cfg: TransitionConfig,
  method: TransitionMethod,
  ds: Dataset,
  opts: { checkpointDir: string; resume?: boolean; stopAfter?: number },
  hooks: TransitionHooks = {},
): Promise<{ model: TransitionModel; result: LoopResult }> {
  const m = initTransitionModel(cfg, method, ds.frameShape, actionCount(ds));
  const { trainable, all } = variables(m);
  const { train } = splitEpisodes(ds, { valFraction: cfg.valFraction, seed: cfg.seed });
  const t = cfg.train;
  const weights: VicregWeights = method === "ema-only"
    ? { ...cfg.vicreg, variance: 0, covariance: 0 }
    : cfg.vicreg;
  const monitorBatch = heldOutTransitions(ds, cfg);
  const onlinePairs = m.method === "pixel" ? [] : namedParams("target", m.model.online);
  const targets = m.method === "pixel" ? [] : namedParams("target", m.model.target);
  const result = await trainLoop<TransitionBatch>(
    {
      trainable,
      all,
      perEpoch: Math.floor(windowsIn(ds, train) / t.batchSize),
      epoch: (e) =>
        transitionBatches(ds, cfg, train, t.batchSize, deriveSeed(cfg.seed, `epoch/${e}`), true),
      loss: (batch) => {
        const x = tensors(cfg, ds, batch);
        return m.method === "pixel"
          ? nextFrameLoss(m.model, x.now, x.actions, x.nextFrame)
          : vicregJepaLoss(m.model, x.now, x.next, x.actions, weights).total;
      },
      afterStep: (step) => {
        if (m.method !== "pixel") {
          emaUpdate(targets, onlinePairs, linearRamp(step + 1, t.steps, ...cfg.ema));
        }
      },
      monitor: {
        every: t.monitorEvery,
        run: (done) => {
          const z = embedBatch(cfg, ds, m, monitorBatch);
          hooks.onMonitor?.({ step: done, ...collapseStats(z, monitorBatch.b, cfg.encoder.width) });
        },
      },
    },
    t,
    {
      checkpointDir: opts.checkpointDir,
      resume: opts.resume,
      stopAfter: opts.stopAfter,
      config: { ...cfg, method },
      extra: { method, frameShape: ds.frameShape, numActions: actionCount(ds) },
      label: `transition ${method}`,
    },
    hooks,
  );
  return { model: m, result };
}

/** Rebuilds a trained model from its checkpoint directory. */
export function loadTransitionModel(checkpointDir: string): TransitionModel {
  const { meta, tensors: saved } = loadCheckpoint(checkpointDir);
  const { method, ...cfg } = meta.config as TransitionConfig & { method: TransitionMethod };
  const extra = meta.extra as { frameShape: number[]; numActions: number };
  const m = initTransitionModel(cfg, method, extra.frameShape, extra.numActions);
  assignTensors(variables(m).all, saved, checkpointDir);
  return m;
}

/** The encoder a probe reads: the EMA target of a JEPA, the pixel model's encoder. */
export function transitionFrozenEncoder(m: TransitionModel): FrozenEncoder {
  return m.method === "pixel"
    ? { name: m.method, cfg: m.model.cfg.encoder, params: m.model.encoder }
    : { name: m.method, cfg: m.model.cfg.encoder, params: m.model.target };
}

function embedBatch(
  cfg: TransitionConfig,
  ds: Dataset,
  m: TransitionModel,
  batch: TransitionBatch,
): Float32Array {
  return tf.tidy(() => {
    const x = tensors(cfg, ds, batch);
    const z = m.method === "pixel"
      ? nextFrameEmbedding(m.model, x.now)
      : embedPatches(m.model, m.model.target, x.now);
    return z.dataSync() as Float32Array;
  });
}

/** What {@linkcode evaluateTransitionModel} reports. */
export interface TransitionEval extends CollapseStats {
  method: TransitionMethod;
  /** Next-step error in the model's latent space over the targets' variance (lower is better). */
  latentError: number;
  /** The same for predicting "no change" (copying the latent the predictor reads). */
  copyLatentError: number;
  /** Pixel model only: PSNR (dB) of the predicted next frame, and of copying the last one. */
  psnr?: number;
  copyPsnr?: number;
  rows: number;
}

/** Mean squared distance between rows over the rows' variance around their mean. */
function relativeError(pred: Float32Array, target: Float32Array, n: number, d: number): number {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += target[i * d + j] / n;
  let err = 0;
  let spread = 0;
  for (let i = 0; i < n * d; i++) {
    err += (pred[i] - target[i]) ** 2;
    spread += (target[i] - mean[i % d]) ** 2;
  }
  return spread > 0 ? err / spread : Infinity;
}

function psnr(pred: Float32Array, target: Float32Array): number {
  let se = 0;
  for (let i = 0; i < pred.length; i++) se += (Math.min(1, Math.max(0, pred[i])) - target[i]) ** 2;
  return 10 * Math.log10(1 / Math.max(se / pred.length, 1e-12));
}

/** Evaluates a trained model on the held-out transitions; see the module doc. */
export function evaluateTransitionModel(
  cfg: TransitionConfig,
  ds: Dataset,
  m: TransitionModel,
): TransitionEval {
  const batch = heldOutTransitions(ds, cfg);
  const { b } = batch;
  const d = cfg.encoder.width;
  // `current` is what "no change" copies; `frozen` the embeddings of s_t that probes read.
  type Arrays = {
    pred: Float32Array;
    target: Float32Array;
    current: Float32Array;
    frozen: Float32Array;
  };
  let out!: Arrays & { frame: Float32Array | null };
  const data = (t: tf.Tensor) => t.dataSync() as Float32Array;
  // Typed arrays out, every tensor of the evaluation freed.
  tf.tidy(() => {
    const x = tensors(cfg, ds, batch);
    if (m.method === "pixel") {
      const frame = predictNextFrame(m.model, x.now, x.actions);
      // Latent space of the pixel model: embed the predicted next stack (s_t's last frames and
      // the predicted one) and the real one.
      const enc = m.model.cfg.encoder;
      const { tokens, patchDim } = vitGrid(enc);
      const p = enc.patch;
      const k = enc.channels;
      const mixed = new Float32Array(batch.next);
      const predicted = data(frame);
      for (let i = 0; i < b * tokens; i++) {
        for (let px = 0; px < p * p; px++) {
          mixed[i * patchDim + px * k + k - 1] = predicted[i * p * p + px];
        }
      }
      const current = data(nextFrameEmbedding(m.model, x.now));
      out = {
        pred: data(nextFrameEmbedding(m.model, tf.tensor3d(mixed, [b, tokens, patchDim]))),
        target: data(nextFrameEmbedding(m.model, x.next)),
        current,
        frozen: current,
        frame: predicted,
      };
      return;
    }
    // The predictor reads the online encoder's embedding of s_t and aims at the EMA target's
    // embedding of s_t+1; "no change" is judged from the same input, so both errors include how
    // far the online encoder has moved from its EMA.
    const current = embedPatches(m.model, m.model.online, x.now);
    out = {
      pred: data(predictEmbedding(m.model, current, x.actions)),
      target: data(embedPatches(m.model, m.model.target, x.next)),
      current: data(current),
      frozen: data(embedPatches(m.model, m.model.target, x.now)),
      frame: null,
    };
  });
  const result: TransitionEval = {
    method: m.method,
    latentError: relativeError(out.pred, out.target, b, d),
    copyLatentError: relativeError(out.current, out.target, b, d),
    ...collapseStats(out.frozen, b, d),
    rows: b,
  };
  if (out.frame) {
    result.psnr = psnr(out.frame, batch.nextFrame);
    result.copyPsnr = psnr(batch.lastFrame, batch.nextFrame);
  }
  return result;
}
