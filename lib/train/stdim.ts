/**
 * ST-DIM pretraining (`lib/models/stdim.ts`) of a Nature CNN on consecutive frame stacks of a
 * dataset's training episodes, through the shared `trainLoop` (exact resume, NaN guard,
 * checkpoints). Each checkpoint gets the encoder artifact beside it (`encoder.safetensors`, a
 * CNN), so the probes and agents load it with `loadEncoder` like any other encoder.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { type SequenceBatch, sequenceBatches, splitEpisodes } from "../data/batches.ts";
import type { Dataset } from "../data/reader.ts";
import { type CnnConfig, type FrozenEncoder, saveEncoder } from "../models/encoder.ts";
import { initStdim, type Stdim, stdimLoss } from "../models/stdim.ts";
import { namedParams } from "../nn/params.ts";
import { deriveSeed, Rng } from "../tensor/rng.ts";
import { type LoopHooks, type LoopResult, type LoopSchedule, trainLoop } from "./loop.ts";

/** Everything that defines an ST-DIM run. */
export interface StdimTrainConfig {
  seed: number;
  /** Frames per input stack. */
  stack: number;
  /** Fraction of episodes held out (as every pretraining splits them, for the probes). */
  valFraction: number;
  /** G: width of the encoder's global vector (the Nature CNN's dense output). */
  features: number;
  train: LoopSchedule;
}

/** A finished (or interrupted and resumed) run. */
export interface StdimResult {
  model: Stdim;
  encoder: FrozenEncoder<CnnConfig>;
  result: LoopResult;
  tensors: [string, tf.Variable][];
}

/** The two frame stacks of each pair of a batch, as uint8 images `[B, h, w, c * stack]`. */
function pairImages(batch: SequenceBatch) {
  const [b, , h, w, c] = batch.shape;
  const size = h * w * c;
  const now = new Uint8Array(b * size);
  const next = new Uint8Array(b * size);
  for (let i = 0; i < b; i++) {
    now.set(batch.frames.subarray((2 * i) * size, (2 * i + 1) * size), i * size);
    next.set(batch.frames.subarray((2 * i + 1) * size, (2 * i + 2) * size), i * size);
  }
  const shape = [b, h, w, c] as [number, number, number, number];
  return {
    now: { bytes: now, shape, scale: 1 / 255 },
    next: { bytes: next, shape, scale: 1 / 255 },
  };
}

/** Trains (or resumes) ST-DIM on `ds`; the encoder artifact lands beside each checkpoint. */
export async function trainStdim(
  cfg: StdimTrainConfig,
  ds: Dataset,
  opts: { checkpointDir: string; resume?: boolean; stopAfter?: number },
  hooks: LoopHooks = {},
): Promise<StdimResult> {
  const [h, w, c] = ds.frameShape;
  const model = initStdim(new Rng(deriveSeed(cfg.seed, "init")), {
    imageSize: [h, w],
    channels: c * cfg.stack,
    features: cfg.features,
  });
  const encoder: FrozenEncoder<CnnConfig> = {
    name: "stdim",
    cfg: { arch: "cnn", ...model.cfg },
    params: model.encoder,
  };
  const t = cfg.train;
  const { train } = splitEpisodes(ds, { valFraction: cfg.valFraction, seed: cfg.seed });
  // Pairs start on every row but each episode's last.
  const pairs = ds.episodes().filter((e) => train.includes(e.episode))
    .reduce((n, e) => n + Math.max(0, e.length - 1), 0);
  const perEpoch = Math.floor(pairs / t.batchSize);
  if (perEpoch < 1) {
    throw new Error(
      `stdim: ${pairs} consecutive pairs in the training episodes, fewer than a batch of ` +
        `${t.batchSize}`,
    );
  }
  const trainable = [
    ...namedParams("encoder", model.encoder),
    ...namedParams("scores", model.scores),
  ];
  const result = await trainLoop(
    {
      trainable,
      all: trainable,
      perEpoch,
      epoch: function* (epoch) {
        yield* sequenceBatches(ds, {
          episodes: train,
          batchSize: t.batchSize,
          length: 2,
          stack: cfg.stack,
          seed: deriveSeed(cfg.seed, `epoch/${epoch}`),
          dropLast: true,
        });
      },
      loss: (batch) => {
        const { now, next } = pairImages(batch);
        const parts = stdimLoss(model, now, next);
        tf.dispose([parts.globalLocal, parts.localLocal]);
        return parts.loss;
      },
      onSave: async (dir, step) => {
        const { seed, stack, valFraction } = cfg;
        await saveEncoder(dir, encoder, {
          step,
          source: { method: "stdim", seed, stack, valFraction },
        });
      },
    },
    t,
    {
      checkpointDir: opts.checkpointDir,
      resume: opts.resume,
      stopAfter: opts.stopAfter,
      config: cfg,
      extra: { kind: "stdim", encoder: encoder.cfg },
      label: "stdim",
    },
    hooks,
  );
  return { model, encoder, result, tensors: trainable };
}
