/**
 * Encoder pretraining on game frames: I-JEPA, or the pixel autoencoder control, with the same
 * data, encoder, optimiser and schedules. Hyper-parameters live in {@linkcode PretrainConfig};
 * the presets are in `PRETRAIN_PRESETS`.
 *
 * Resuming is exact: the data order of every epoch, the masks of every step and all schedules
 * are functions of (seed, step), and checkpoints hold the weights and the optimiser moments, so a
 * run killed at any moment and resumed ends with the same weights as an uninterrupted one (on a
 * deterministic backend: cpu or wasm).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { type Dataset, frameStackBatches, splitEpisodes } from "../data/dataset.ts";
import { collapseStats } from "../eval/collapse.ts";
import { autoencoderLoss, initAutoencoder } from "../models/autoencoder.ts";
import { embedFrames, type FrozenEncoder } from "../models/encoder.ts";
import { ijepaLoss, initIJepa, type PredictorConfig } from "../models/ijepa.ts";
import { flattenParams, type Params } from "../nn/params.ts";
import { patchify, type VitConfig, vitGrid } from "../nn/vit.ts";
import { checkMultiBlock, multiBlockBatch, type MultiBlockConfig } from "../ssl/masks.ts";
import {
  AdamW,
  clipByGlobalNorm,
  cosineRamp,
  emaUpdate,
  linearRamp,
  warmupCosine,
} from "../ssl/optim.ts";
import {
  assignTensors,
  hasCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from "../tensor/checkpoint.ts";
import { deriveSeed, Rng } from "../tensor/rng.ts";

/** Everything that defines a pretraining run. */
export interface PretrainConfig {
  seed: number;
  method: "ijepa" | "ae";
  /** Frames per input stack. */
  stack: number;
  /** Fraction of episodes held out (collapse monitors, probes). */
  valFraction: number;
  encoder: Omit<VitConfig, "imageSize" | "channels">;
  /** The I-JEPA predictor, or the autoencoder's decoder. */
  predictor: PredictorConfig;
  masks: MultiBlockConfig & {
    /** Context tokens kept per sample (0: the batch minimum). */ contextKeep: number;
  };
  train: {
    steps: number;
    batchSize: number;
    lr: number;
    startLr: number;
    finalLr: number;
    warmupSteps: number;
    weightDecay: [number, number];
    ema: [number, number];
    clipGrad: number;
    checkpointEvery: number;
    monitorEvery: number;
    monitorFrames: number;
  };
}

/** What the loop reports as it goes. */
export interface PretrainHooks {
  onStep?(
    info: { step: number; loss: number; lr: number; samplesPerSec: number; gradNorm: number },
  ): void;
  onMonitor?(info: { step: number; stdMean: number; stdMin: number; effectiveRank: number }): void;
  log?(line: string): void;
}

/** Options of one call. */
export interface PretrainOptions {
  /** Checkpoint directory. */
  checkpointDir: string;
  resume?: boolean;
  /** Stop (throwing) after this many steps in this call: simulates a kill in tests. */
  stopAfter?: number;
}

/** A finished run. */
export interface PretrainResult {
  /** The encoder to evaluate: the EMA target for I-JEPA, the encoder for the autoencoder. */
  encoder: FrozenEncoder;
  steps: number;
  lastLoss: number;
  /** Every variable, by checkpoint name (for comparing runs). */
  tensors: [string, tf.Variable][];
}

/** A loss that became NaN or infinite: the run stops and keeps its last good checkpoint. */
export class NonFiniteLossError extends Error {}

interface Method {
  trainable: [string, tf.Variable][];
  all: [string, tf.Variable][];
  loss(patches: Float32Array, b: number, step: number): tf.Scalar;
  afterStep(step: number): void;
  encoder: FrozenEncoder;
}

function prefixed(group: string, p: Params): [string, tf.Variable][] {
  return flattenParams(p).map(([k, v]) => [`${group}/${k}`, v]);
}

/** The encoder's full config for frames of `shape` stacked `stack` times. */
export function encoderConfig(cfg: PretrainConfig, frameShape: readonly number[]): VitConfig {
  return {
    ...cfg.encoder,
    imageSize: [frameShape[0], frameShape[1]],
    channels: frameShape[2] * cfg.stack,
  };
}

function buildMethod(cfg: PretrainConfig, enc: VitConfig): Method {
  const rng = new Rng(deriveSeed(cfg.seed, "init"));
  const { rows, cols } = vitGrid(enc);
  if (cfg.method === "ijepa") {
    checkMultiBlock(rows, cols, cfg.masks);
    const model = initIJepa(rng, { encoder: enc, predictor: cfg.predictor });
    const context = prefixed("context", model.context);
    const target = prefixed("target", model.target);
    const trainable = [...context, ...prefixed("predictor", model.predictor)];
    const contextAsTarget = context.map(([k, v]) =>
      [k.replace(/^context/, "target"), v] as [string, tf.Variable]
    );
    return {
      trainable,
      all: [...trainable, ...target],
      loss: (patches, b, step) => {
        const masks = multiBlockBatch(
          new Rng(deriveSeed(cfg.seed, `mask/${step}`)),
          b,
          rows,
          cols,
          cfg.masks,
          cfg.masks.contextKeep || undefined,
        );
        return ijepaLoss(model, patches, b, masks);
      },
      afterStep: (step) =>
        emaUpdate(target, contextAsTarget, linearRamp(step + 1, cfg.train.steps, ...cfg.train.ema)),
      encoder: { name: "ijepa", cfg: enc, params: model.target },
    };
  }
  const model = initAutoencoder(rng, { encoder: enc, decoder: cfg.predictor });
  const trainable = [...prefixed("encoder", model.encoder), ...prefixed("decoder", model.decoder)];
  return {
    trainable,
    all: trainable,
    loss: (patches, b) => autoencoderLoss(model, patches, b),
    afterStep: () => {},
    encoder: { name: "ae", cfg: enc, params: model.encoder },
  };
}

/** Frame stacks `[n, h, w, c * stack]` of the held-out episodes, for the collapse monitors. */
export function validationStacks(
  ds: Dataset,
  cfg: PretrainConfig,
  count: number,
): { frames: Uint8Array; n: number } {
  const { val } = splitEpisodes(ds, { valFraction: cfg.valFraction, seed: cfg.seed });
  const it = frameStackBatches(ds, {
    episodes: val.length ? val : undefined,
    batchSize: count,
    stack: cfg.stack,
    seed: cfg.seed,
  });
  const batch = it.next().value;
  if (!batch) throw new Error("pretrain: the dataset has no frames for the monitors");
  return { frames: batch.frames, n: batch.shape[0] };
}

/** Trains (or resumes) a run on `ds`. */
export async function pretrain(
  cfg: PretrainConfig,
  ds: Dataset,
  opts: PretrainOptions,
  hooks: PretrainHooks = {},
): Promise<PretrainResult> {
  const enc = encoderConfig(cfg, ds.frameShape);
  const method = buildMethod(cfg, enc);
  const optimizer = new AdamW(method.trainable);
  const saved = () => [
    ...method.all,
    ...optimizer.stateTensors().map(([k, v]) => [`opt/${k}`, v] as [string, tf.Variable]),
  ];
  const t = cfg.train;

  let start = 0;
  if (opts.resume && hasCheckpoint(opts.checkpointDir)) {
    const { meta, tensors } = loadCheckpoint(opts.checkpointDir);
    if (JSON.stringify(meta.config) !== JSON.stringify(cfg)) {
      throw new Error(
        `${opts.checkpointDir}: the checkpoint was made with a different config; start a new run`,
      );
    }
    assignTensors(saved(), tensors, opts.checkpointDir);
    optimizer.step = meta.step;
    start = meta.step;
    hooks.log?.(`resumed from step ${start} (${opts.checkpointDir})`);
  }

  const { train } = splitEpisodes(ds, { valFraction: cfg.valFraction, seed: cfg.seed });
  const trainFrames = ds.episodes().filter((e) => train.includes(e.episode)).reduce(
    (n, e) => n + e.length,
    0,
  );
  const perEpoch = Math.floor(trainFrames / t.batchSize);
  if (perEpoch < 1) {
    throw new Error(
      `pretrain: ${trainFrames} training frames are fewer than one batch of ${t.batchSize}`,
    );
  }
  const monitor = validationStacks(ds, cfg, t.monitorFrames);
  const [h, w, c] = [enc.imageSize[0], enc.imageSize[1], enc.channels];

  let batches: Generator<{ frames: Uint8Array }> | null = null;
  let lastLoss = NaN;
  let lastCheckpoint = start;
  let timer = performance.now();
  let timedSteps = 0;
  for (let step = start; step < t.steps; step++) {
    if (opts.stopAfter !== undefined && step - start >= opts.stopAfter) {
      throw new Error(`stopped after ${opts.stopAfter} steps`);
    }
    const epoch = Math.floor(step / perEpoch);
    if (!batches || step % perEpoch === 0) {
      batches = frameStackBatches(ds, {
        episodes: train,
        batchSize: t.batchSize,
        stack: cfg.stack,
        seed: deriveSeed(cfg.seed, `epoch/${epoch}`),
        dropLast: true,
      });
      // On resume mid-epoch, skip the batches already trained on.
      for (let k = 0; k < step % perEpoch; k++) batches.next();
    }
    const batch = batches.next().value!;
    const patches = patchify(batch.frames, t.batchSize, h, w, c, enc.patch);
    const lr = warmupCosine(step, t.steps, t.warmupSteps, t.lr, t.finalLr, t.startLr);
    const wd = cosineRamp(step, t.steps, ...t.weightDecay);

    const { value, grads } = tf.variableGrads(
      () => method.loss(patches, t.batchSize, step),
      method.trainable.map(([, v]) => v),
    );
    const loss = (await value.data())[0];
    if (!Number.isFinite(loss)) {
      tf.dispose([value, ...Object.values(grads)]);
      throw new NonFiniteLossError(
        `loss became ${loss} at step ${step} (epoch ${epoch}); no update was applied. The last good ` +
          `checkpoint (step ${lastCheckpoint}) is in ${opts.checkpointDir}`,
      );
    }
    const named: Record<string, tf.Tensor> = {};
    method.trainable.forEach(([name, v]) => (named[name] = grads[v.name]));
    const gradNorm = tf.tidy(() => {
      const clipped = clipByGlobalNorm(named, t.clipGrad);
      optimizer.apply(clipped.grads, lr, wd);
      return clipped.norm.dataSync()[0];
    });
    tf.dispose([value, ...Object.values(grads)]);
    method.afterStep(step);
    lastLoss = loss;
    timedSteps++;
    const elapsed = (performance.now() - timer) / 1000;
    hooks.onStep?.({
      step: step + 1,
      loss,
      lr,
      gradNorm,
      samplesPerSec: (timedSteps * t.batchSize) / elapsed,
    });

    const done = step + 1;
    if (done % t.monitorEvery === 0 || done === t.steps) {
      const emb = embedFrames(method.encoder, monitor.frames, monitor.n);
      hooks.onMonitor?.({ step: done, ...collapseStats(emb, monitor.n, enc.width) });
    }
    if (done % t.checkpointEvery === 0 || done === t.steps) {
      await saveCheckpoint(opts.checkpointDir, done, saved(), cfg, {
        method: cfg.method,
        encoder: enc,
      });
      lastCheckpoint = done;
      timer = performance.now();
      timedSteps = 0;
    }
  }
  return { encoder: method.encoder, steps: t.steps, lastLoss, tensors: method.all };
}

/** Rebuilds the evaluated encoder of a finished (or partial) run from its checkpoint. */
export function loadPretrainedEncoder(
  checkpointDir: string,
): { encoder: FrozenEncoder; cfg: PretrainConfig; step: number } {
  const { meta, tensors } = loadCheckpoint(checkpointDir);
  const cfg = meta.config as PretrainConfig;
  const enc = meta.extra.encoder as VitConfig;
  const method = buildMethod(cfg, enc);
  assignTensors(method.all, tensors, checkpointDir);
  return { encoder: method.encoder, cfg, step: meta.step };
}

/** A randomly initialised encoder of the same shape (the untrained control). */
export function randomEncoder(
  cfg: PretrainConfig,
  frameShape: readonly number[],
  seed = cfg.seed,
): FrozenEncoder {
  const enc = encoderConfig(cfg, frameShape);
  const method = buildMethod({ ...cfg, seed, method: "ae" }, enc);
  return { ...method.encoder, name: "random" };
}

/** Patch tokens per image and their width, for logs. */
export function tokenInfo(
  cfg: PretrainConfig,
  frameShape: readonly number[],
): { tokens: number; patchDim: number } {
  const { tokens, patchDim } = vitGrid(encoderConfig(cfg, frameShape));
  return { tokens, patchDim };
}
