/**
 * Stage 2 of the world model: trains the action-conditioned predictor of
 * `lib/models/world_model.ts` (and its action-blind control) on the latents of a frozen encoder,
 * and the pixel decoder of `lib/models/pixel_decoder.ts` that makes its predictions visible.
 * Both run in the shared `trainLoop` (exact resume, NaN guard, checkpoints, early stopping).
 *
 * The frozen encoder's latents are computed once for every row of the dataset
 * ({@linkcode LatentData}); a training batch is then `sequenceBatches` windows of T+1 rows
 * looked up in that table.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { frameStackBatches, sequenceBatches, splitEpisodes } from "../data/batches.ts";
import type { Dataset } from "../data/reader.ts";
import { type FrozenEncoder, requireVit } from "../models/encoder.ts";
import {
  initPixelDecoder,
  type PixelDecoder,
  type PixelDecoderConfig,
  pixelDecoderLoss,
} from "../models/pixel_decoder.ts";
import {
  actionOneHot,
  deltaScale,
  gatherLatents,
  initWorldModel,
  type LatentSpec,
  latentSpec,
  latentTable,
  type WorldModel,
  type WorldModelConfig,
  worldModelLoss,
  type WorldModelLossConfig,
} from "../models/world_model.ts";
import { namedParams } from "../nn/params.ts";
import { patchify } from "../nn/vit.ts";
import { assignTensors, loadCheckpoint } from "../tensor/checkpoint.ts";
import { deriveSeed, Rng } from "../tensor/rng.ts";
import type { OnStep } from "../run/progress.ts";
import {
  type EarlyStopping,
  type LoopHooks,
  type LoopResult,
  type LoopSchedule,
  trainLoop,
  type TrainMethod,
  type ValidationReport,
} from "./loop.ts";

/** Everything that defines a stage-2 run (the predictor; the decoder has its own block). */
export interface WorldModelTrainConfig {
  seed: number;
  /** Fraction of episodes held out (validation, rollout evaluation). */
  valFraction: number;
  model: WorldModelConfig;
  loss: WorldModelLossConfig;
  train: LoopSchedule & {
    earlyStop: EarlyStopping;
    /** Held-out batches in the validation loss. */
    valBatches: number;
  };
}

/** The pixel decoder's config. */
export interface DecoderTrainConfig {
  seed: number;
  valFraction: number;
  model: PixelDecoderConfig;
  train: LoopSchedule;
}

/** A dataset with its frozen latents. */
export interface LatentData {
  ds: Dataset;
  /** `[numFrames, N, D]`: row i is the latent of the frame stack ending at row i. */
  table: Float32Array;
  spec: LatentSpec;
  /** Frames per stack the encoder reads. */
  stack: number;
  /** Encoder patch size (for decoding to pixels). */
  patch: number;
}

/**
 * Latents of every row of `ds` under a frozen encoder. The action count defaults to the largest
 * action in the dataset plus one (a dataset of exploratory play holds every action).
 */
export function latentData(
  enc: FrozenEncoder,
  ds: Dataset,
  tokens: WorldModelConfig["tokens"],
  opts: { numActions?: number; onStep?: OnStep } = {},
): LatentData {
  // The pixel decoder maps latents back to the encoder's patches, so this needs a ViT.
  const { cfg } = requireVit(enc, "a world model's latent data (its pixel decoder)");
  const stack = enc.cfg.channels / ds.frameShape[2];
  if (!Number.isInteger(stack)) {
    throw new Error(
      `the encoder reads ${enc.cfg.channels} channels, not a stack of ${
        ds.frameShape[2]
      }-channel frames`,
    );
  }
  const table = latentTable(enc, ds, stack, tokens, opts.onStep);
  const numActions = opts.numActions ?? ds.column("action").reduce((m, a) => Math.max(m, a), 0) + 1;
  const spec = latentSpec(enc, tokens, numActions);
  return { ds, table, spec, stack, patch: cfg.patch };
}

/** One stage-2 batch: `[B, T+1, N, D]` latents and `[B, T+1, A]` one-hot actions. */
interface SequenceLatents {
  s: Float32Array;
  a: Float32Array;
  b: number;
}

/** Validation report of stage 2, with the two parts of the loss. */
export interface WorldModelValidation extends ValidationReport {
  teacher: number;
  rollout: number;
}

/** Hooks of the stage-2 trainer. */
export interface WorldModelHooks extends Omit<LoopHooks, "onValidate"> {
  onValidate?(info: WorldModelValidation): void;
}

/** A trained predictor and its run. */
export interface WorldModelResult {
  model: WorldModel;
  blind: boolean;
  result: LoopResult;
  /** Every variable by checkpoint name (for comparing runs). */
  tensors: [string, tf.Variable][];
}

function perFrame(spec: LatentSpec): number {
  return spec.tokens * spec.dim;
}

/** Windows of `length` rows in the given episodes. */
function countWindows(ds: Dataset, episodes: number[], length: number): number {
  return ds.episodes().filter((e) => episodes.includes(e.episode)).reduce(
    (n, e) => n + Math.max(0, e.length - length + 1),
    0,
  );
}

function toSequences(
  data: LatentData,
  batch: { indices: Int32Array; actions: Int32Array },
  blind: boolean,
): SequenceLatents {
  return {
    s: gatherLatents(data.table, batch.indices, perFrame(data.spec)),
    a: actionOneHot(batch.actions, data.spec.numActions, blind),
    b: batch.indices.length,
  };
}

function sequenceTensors(data: LatentData, x: SequenceLatents, length: number) {
  const { tokens, dim, numActions } = data.spec;
  const b = x.b / length;
  return {
    s: tf.tensor4d(x.s, [b, length, tokens, dim]),
    a: tf.tensor3d(x.a, [b, length, numActions]),
  };
}

/** The checkpoint's name for a predictor's variables. */
const GROUP = "predictor";

/**
 * Trains (or resumes) a world model on latent sequences; `blind` trains the action-blind
 * control (every action token blanked).
 */
export async function trainWorldModel(
  cfg: WorldModelTrainConfig,
  data: LatentData,
  opts: { checkpointDir: string; resume?: boolean; stopAfter?: number; blind?: boolean },
  hooks: WorldModelHooks = {},
): Promise<WorldModelResult> {
  const blind = opts.blind ?? false;
  const model = initWorldModel(
    new Rng(deriveSeed(cfg.seed, blind ? "init/blind" : "init")),
    cfg.model,
    data.spec,
  );
  const T = cfg.model.steps;
  const length = T + 1;
  const t = cfg.train;
  const { ds } = data;
  const { train, val } = splitEpisodes(ds, { valFraction: cfg.valFraction, seed: cfg.seed });
  const perEpoch = Math.floor(countWindows(ds, train, length) / t.batchSize);
  if (perEpoch < 1) {
    throw new Error(
      `world model: the training episodes hold fewer than ${t.batchSize} windows of ${length} steps`,
    );
  }
  const trainable = namedParams(GROUP, model.params);
  const spans = ds.episodes().filter((e) => train.includes(e.episode));
  const scale = deltaScale(data.table, spans, perFrame(data.spec));
  (model.stats.deltaScale as tf.Variable).assign(
    tf.tensor2d(scale, [data.spec.tokens, data.spec.dim]),
  );
  const all = [...trainable, ...namedParams("stats", model.stats)];
  const lossOf = (x: SequenceLatents) =>
    tf.tidy(() => {
      const { s, a } = sequenceTensors(data, x, length);
      return worldModelLoss(model, s, a, cfg.loss);
    });

  const valSet: SequenceLatents[] = [];
  if (val.length && t.earlyStop.every > 0) {
    const it = sequenceBatches(ds, {
      episodes: val,
      batchSize: t.batchSize,
      length,
      seed: deriveSeed(cfg.seed, "validation"),
      frames: false,
    });
    for (const batch of it) {
      valSet.push(toSequences(data, batch, blind));
      if (valSet.length >= t.valBatches) break;
    }
  }
  let parts = { teacher: NaN, rollout: NaN };
  const method: TrainMethod<SequenceLatents> = {
    trainable,
    all,
    perEpoch,
    epoch: function* (epoch) {
      const batches = sequenceBatches(ds, {
        episodes: train,
        batchSize: t.batchSize,
        length,
        seed: deriveSeed(cfg.seed, `epoch/${epoch}`),
        dropLast: true,
        frames: false,
      });
      for (const batch of batches) yield toSequences(data, batch, blind);
    },
    loss: (x) => {
      const { s, a } = sequenceTensors(data, x, length);
      return worldModelLoss(model, s, a, cfg.loss).loss;
    },
  };
  if (valSet.length) {
    method.validate = {
      ...t.earlyStop,
      loss: () => {
        let total = 0;
        let teacher = 0;
        let rollout = 0;
        for (const x of valSet) {
          const r = lossOf(x);
          total += r.loss.dataSync()[0];
          teacher += r.teacher.dataSync()[0];
          rollout += r.rollout.dataSync()[0];
          tf.dispose([r.loss, r.teacher, r.rollout]);
        }
        parts = { teacher: teacher / valSet.length, rollout: rollout / valSet.length };
        return total / valSet.length;
      },
    };
  }
  const result = await trainLoop(method, t, {
    checkpointDir: opts.checkpointDir,
    resume: opts.resume,
    stopAfter: opts.stopAfter,
    config: { ...cfg, blind },
    extra: { kind: "world-model", spec: data.spec, blind },
    label: blind ? "action-blind world model" : "world model",
  }, {
    ...hooks,
    onValidate: (info) => hooks.onValidate?.({ ...info, ...parts }),
  });
  return { model, blind, result, tensors: all };
}

/** Rebuilds a world model from its checkpoint directory. */
export function loadWorldModel(checkpointDir: string): { model: WorldModel; blind: boolean } {
  const { meta, tensors } = loadCheckpoint(checkpointDir);
  if (meta.extra.kind !== "world-model") {
    throw new Error(`${checkpointDir}: not a world-model checkpoint`);
  }
  const cfg = meta.config as WorldModelTrainConfig & { blind: boolean };
  const model = initWorldModel(new Rng(0), cfg.model, meta.extra.spec as LatentSpec);
  assignTensors(
    [...namedParams(GROUP, model.params), ...namedParams("stats", model.stats)],
    tensors,
    checkpointDir,
  );
  return { model, blind: cfg.blind };
}

/** One decoder batch: latents `[B, N, D]` and the newest frames as patches `[B, G, p * p]`. */
interface DecoderBatch {
  latents: Float32Array;
  patches: Float32Array;
  b: number;
}

/** Trains (or resumes) the pixel decoder on frozen latents. */
export async function trainPixelDecoder(
  cfg: DecoderTrainConfig,
  data: LatentData,
  opts: { checkpointDir: string; resume?: boolean; stopAfter?: number },
  hooks: LoopHooks = {},
): Promise<{ decoder: PixelDecoder; result: LoopResult; tensors: [string, tf.Variable][] }> {
  const { ds, spec } = data;
  const [h, w, c] = ds.frameShape;
  if (c !== 1) throw new Error("pixel decoder: gray frames only");
  const decoder = initPixelDecoder(
    new Rng(deriveSeed(cfg.seed, "decoder")),
    cfg.model,
    spec,
    data.patch,
  );
  const t = cfg.train;
  const { train } = splitEpisodes(ds, { valFraction: cfg.valFraction, seed: cfg.seed });
  const frames = ds.episodes().filter((e) => train.includes(e.episode)).reduce(
    (n, e) => n + e.length,
    0,
  );
  const all = namedParams("decoder", decoder.params);
  const grid = spec.rows * spec.cols;
  const p = data.patch;
  const result = await trainLoop<DecoderBatch>(
    {
      trainable: all,
      all,
      perEpoch: Math.floor(frames / t.batchSize),
      epoch: function* (epoch) {
        const batches = frameStackBatches(ds, {
          episodes: train,
          batchSize: t.batchSize,
          stack: 1,
          seed: deriveSeed(cfg.seed, `decoder-epoch/${epoch}`),
          dropLast: true,
        });
        for (const batch of batches) {
          const b = batch.shape[0];
          yield {
            latents: gatherLatents(data.table, batch.indices, perFrame(spec)),
            patches: patchify(batch.frames, b, h, w, 1, p),
            b,
          };
        }
      },
      loss: (x) =>
        pixelDecoderLoss(
          decoder,
          tf.tensor3d(x.latents, [x.b, spec.tokens, spec.dim]),
          tf.tensor3d(x.patches, [x.b, grid, p * p]),
        ),
    },
    t,
    {
      checkpointDir: opts.checkpointDir,
      resume: opts.resume,
      stopAfter: opts.stopAfter,
      config: cfg,
      extra: { kind: "pixel-decoder", spec, patch: p },
      label: "pixel decoder",
    },
    hooks,
  );
  return { decoder, result, tensors: all };
}

/** Rebuilds a pixel decoder from its checkpoint directory. */
export function loadPixelDecoder(checkpointDir: string): PixelDecoder {
  const { meta, tensors } = loadCheckpoint(checkpointDir);
  if (meta.extra.kind !== "pixel-decoder") {
    throw new Error(`${checkpointDir}: not a pixel-decoder checkpoint`);
  }
  const cfg = meta.config as DecoderTrainConfig;
  const decoder = initPixelDecoder(
    new Rng(0),
    cfg.model,
    meta.extra.spec as LatentSpec,
    meta.extra.patch as number,
  );
  assignTensors(namedParams("decoder", decoder.params), tensors, checkpointDir);
  return decoder;
}
