/**
 * Encoder pretraining on game frames: I-JEPA, the pixel autoencoder control, or V-JEPA-style
 * masked-latent pretraining (stage 1 of the world model), with the same data, encoder, optimiser
 * and schedules. Hyper-parameters live in {@linkcode PretrainConfig}; the presets are in
 * `PRETRAIN_PRESETS` (and the world model's stage 1 in `WORLDMODEL_PRESETS`).
 *
 * The loop itself (exact resume, NaN guard, checkpoints, early stopping) is the shared
 * `trainLoop` of `loop.ts`; this module supplies each method's variables, batches and loss.
 * Resuming is exact: the data order of every epoch, the masks of every step and all schedules
 * are functions of (seed, step), and checkpoints hold the weights and the optimiser moments, so a
 * run killed at any moment and resumed ends with the same weights as an uninterrupted one (on a
 * deterministic backend: cpu or wasm).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { frameStackBatches, splitEpisodes } from "../data/batches.ts";
import type { Dataset } from "../data/reader.ts";
import { collapseStats } from "../eval/collapse.ts";
import { autoencoderLoss, initAutoencoder } from "../models/autoencoder.ts";
import { embedFrames, type FrozenEncoder, saveEncoder } from "../models/encoder.ts";
import {
  ijepaLoss,
  initIJepa,
  type PooledRegulariser,
  type PredictorConfig,
} from "../models/ijepa.ts";
import { initVJepa, randomMaskBatch, vjepaLoss } from "../models/vjepa.ts";
import { namedParams } from "../nn/params.ts";
import { patchify, type VitConfig, vitGrid } from "../nn/vit.ts";
import {
  checkMultiBlock,
  multiBlockBatch,
  type MultiBlockConfig,
  patchMotion,
} from "../ssl/masks.ts";
import { linearRamp } from "./optim.ts";
import { emaUpdate } from "../ssl/ema.ts";
import { deriveSeed, Rng } from "../tensor/rng.ts";
import {
  type EarlyStopping,
  type LoopHooks,
  type LoopResult,
  trainLoop,
  type TrainMethod,
} from "./loop.ts";

export { evaluatedCheckpoint } from "./loop.ts";

/** Everything that defines a pretraining run. */
export interface PretrainConfig {
  seed: number;
  /** I-JEPA, the pixel autoencoder control, or V-JEPA-style random-mask pretraining. */
  method: "ijepa" | "ae" | "vjepa";
  /** Frames per input stack. */
  stack: number;
  /** I-JEPA: VICReg's variance and covariance terms on the pooled context output (none: off). */
  regulariser?: PooledRegulariser;
  /** I-JEPA: targets centred per position over the batch (`ijepaTargets`; unset: off). */
  centerTargets?: boolean;
  /**
   * I-JEPA: the context also sees every target position with the stack's newest frame blanked,
   * so a target is predicted from its own past (`PastAtTargets`; unset: off).
   */
  pastAtTargets?: boolean;
  /** Fraction of episodes held out (collapse monitors, probes). */
  valFraction: number;
  encoder: Omit<VitConfig, "imageSize" | "channels">;
  /**
   * The I-JEPA predictor, or the autoencoder's decoder; for V-JEPA an MLP with `depth` hidden
   * layers of `width` units (`heads` and `mlpRatio` unused).
   */
  predictor: PredictorConfig;
  masks: MultiBlockConfig & {
    /** Context tokens kept per sample (0: the batch minimum). */ contextKeep: number;
    /** V-JEPA: fraction of the patches masked at random (0.4). */
    ratio?: number;
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
    /** Held-out stacks for the collapse monitors (and the validation loss). */
    monitorFrames: number;
    /** Early stopping on the loss over the held-out stacks (none when absent). */
    earlyStop?: EarlyStopping;
  };
}

/** What the loop reports as it goes. */
export interface PretrainHooks extends LoopHooks {
  onMonitor?(info: { step: number; stdMean: number; stdMin: number; effectiveRank: number }): void;
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
  /** Whether early stopping ended the run, and where its best checkpoint is. */
  stoppedEarly: boolean;
  best?: LoopResult["best"];
}

/** A method's model: its variables, its loss, and the encoder it trains. */
interface Method {
  trainable: [string, tf.Variable][];
  all: [string, tf.Variable][];
  /** The loss of a batch of patches; masks come from `maskRng`. */
  loss(patches: Float32Array, b: number, maskRng: Rng): tf.Scalar;
  afterStep(step: number): void;
  encoder: FrozenEncoder;
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
  const { rows, cols, patchDim } = vitGrid(enc);
  if (cfg.method === "ijepa") {
    checkMultiBlock(rows, cols, cfg.masks);
    const model = initIJepa(rng, { encoder: enc, predictor: cfg.predictor });
    const context = namedParams("context", model.context);
    const target = namedParams("target", model.target);
    const trainable = [...context, ...namedParams("predictor", model.predictor)];
    const contextAsTarget = context.map(([k, v]) =>
      [k.replace(/^context/, "target"), v] as [string, tf.Variable]
    );
    return {
      trainable,
      all: [...trainable, ...target],
      loss: (patches, b, maskRng) => {
        const motion = cfg.masks.motionTargets
          ? patchMotion(patches, {
            batch: b,
            tokens: rows * cols,
            patchDim,
            channels: enc.channels,
          })
          : undefined;
        const masks = multiBlockBatch(maskRng, cfg.masks, {
          batch: b,
          rows,
          cols,
          contextKeep: cfg.masks.contextKeep || undefined,
          motion,
        });
        return ijepaLoss(model, patches, b, masks, {
          regulariser: cfg.regulariser,
          centerTargets: cfg.centerTargets,
          pastAtTargets: cfg.pastAtTargets
            ? { channels: enc.channels, newestChannels: enc.channels / cfg.stack }
            : undefined,
        });
      },
      afterStep: (step) =>
        emaUpdate(target, contextAsTarget, linearRamp(step + 1, cfg.train.steps, ...cfg.train.ema)),
      encoder: { name: "ijepa", cfg: enc, params: model.target },
    };
  }
  if (cfg.method === "vjepa") {
    const ratio = cfg.masks.ratio ?? 0.4;
    const model = initVJepa(rng, {
      encoder: enc,
      predictor: { hidden: cfg.predictor.width, depth: cfg.predictor.depth },
    });
    const online = namedParams("online", model.online);
    const target = namedParams("target", model.target);
    const trainable = [...online, ...namedParams("predictor", model.predictor)];
    const onlineAsTarget = online.map(([k, v]) =>
      [k.replace(/^online/, "target"), v] as [string, tf.Variable]
    );
    return {
      trainable,
      all: [...trainable, ...target],
      loss: (patches, b, maskRng) =>
        vjepaLoss(
          model,
          patches,
          b,
          randomMaskBatch(maskRng, { batch: b, tokens: rows * cols, ratio }),
        ),
      afterStep: (step) =>
        emaUpdate(target, onlineAsTarget, linearRamp(step + 1, cfg.train.steps, ...cfg.train.ema)),
      encoder: { name: "vjepa", cfg: enc, params: model.target },
    };
  }
  const model = initAutoencoder(rng, { encoder: enc, decoder: cfg.predictor });
  const trainable = [
    ...namedParams("encoder", model.encoder),
    ...namedParams("decoder", model.decoder),
  ];
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
  const t = cfg.train;

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
  const toPatches = (frames: Uint8Array, b: number) => patchify(frames, b, h, w, c, enc.patch);

  const loop: TrainMethod<Float32Array> = {
    trainable: method.trainable,
    all: method.all,
    perEpoch,
    epoch: function* (epoch) {
      const batches = frameStackBatches(ds, {
        episodes: train,
        batchSize: t.batchSize,
        stack: cfg.stack,
        seed: deriveSeed(cfg.seed, `epoch/${epoch}`),
        dropLast: true,
      });
      for (const batch of batches) yield toPatches(batch.frames, t.batchSize);
    },
    loss: (patches, step) =>
      method.loss(patches, t.batchSize, new Rng(deriveSeed(cfg.seed, `mask/${step}`))),
    afterStep: (step) => method.afterStep(step),
    onSave: async (dir, step) => {
      // The probes split episodes as pretraining did: they need its seed and held-out fraction.
      const { method: name, seed, stack, valFraction } = cfg;
      await saveEncoder(dir, method.encoder, {
        step,
        source: { method: name, seed, stack, valFraction },
      });
    },
    monitor: {
      every: t.monitorEvery,
      run: (done) => {
        const emb = embedFrames(method.encoder, monitor.frames, monitor.n);
        hooks.onMonitor?.({ step: done, ...collapseStats(emb, monitor.n, enc.width) });
      },
    },
  };
  if (t.earlyStop && t.earlyStop.every > 0) {
    loop.validate = { ...t.earlyStop, loss: () => heldOutLoss(method, cfg, monitor, toPatches) };
  }
  const result = await trainLoop(loop, t, {
    checkpointDir: opts.checkpointDir,
    resume: opts.resume,
    stopAfter: opts.stopAfter,
    config: cfg,
    extra: { method: cfg.method, encoder: enc },
    label: "pretrain",
  }, hooks);
  return {
    encoder: method.encoder,
    steps: result.steps,
    lastLoss: result.lastLoss,
    tensors: method.all,
    stoppedEarly: result.stoppedEarly,
    best: result.best,
  };
}

/**
 * The method's loss over the held-out stacks, in batches of the training size, with masks
 * drawn from one fixed stream: the same every time it is asked, so evaluations compare.
 */
function heldOutLoss(
  method: Method,
  cfg: PretrainConfig,
  held: { frames: Uint8Array; n: number },
  toPatches: (frames: Uint8Array, b: number) => Float32Array,
): number {
  const b = Math.min(cfg.train.batchSize, held.n);
  const bytes = held.frames.length / held.n;
  const rng = new Rng(deriveSeed(cfg.seed, "validation-masks"));
  let total = 0;
  let count = 0;
  for (let at = 0; at + b <= held.n; at += b) {
    const patches = toPatches(held.frames.subarray(at * bytes, (at + b) * bytes), b);
    const loss = tf.tidy(() => method.loss(patches, b, rng));
    total += loss.dataSync()[0];
    loss.dispose();
    count++;
  }
  return total / count;
}

/** Patch tokens per image and their width, for logs. */
export function tokenInfo(
  cfg: PretrainConfig,
  frameShape: readonly number[],
): { tokens: number; patchDim: number } {
  const { tokens, patchDim } = vitGrid(encoderConfig(cfg, frameShape));
  return { tokens, patchDim };
}
