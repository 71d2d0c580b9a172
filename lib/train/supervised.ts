/**
 * The supervised encoder: AtariARI's ceiling. A Nature CNN trained end to end on the state
 * labels themselves, one linear softmax head per variable (every distinct value of the variable
 * in the training episodes a class), the loss the mean of the heads' cross-entropies:
 *
 *   L = (1/V) sum_v  -(1/|R_v|) sum_{i in R_v} log softmax(H_v g(x_i))_{y_v(i)}
 *
 * where g is the encoder's global vector and R_v the rows of the batch where variable v is
 * defined (the ball's position only while the ball is in play). Trained through the shared loop
 * (exact resume, NaN guard, checkpoints); the encoder is saved as a CNN artifact beside each
 * checkpoint, so the probes read it as they read every other encoder. A probe of this encoder is
 * what a representation can reach with these labels and this architecture.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { frameStackBatches, splitEpisodes } from "../data/batches.ts";
import type { Dataset } from "../data/reader.ts";
import { type CnnConfig, type FrozenEncoder, saveEncoder } from "../models/encoder.ts";
import { initDense, initNatureCnn, natureCnn } from "../nn/cnn.ts";
import { linear } from "../nn/layers.ts";
import { namedParams, type Params } from "../nn/params.ts";
import { deriveSeed, Rng } from "../tensor/rng.ts";
import { type LoopHooks, type LoopResult, type LoopSchedule, trainLoop } from "./loop.ts";

/** A label: a state key, and the key that must be positive for it to be defined. */
export interface SupervisedTarget {
  key: string;
  /** E.g. "ballVisible": rows where it is 0 do not train this head. */
  when?: string;
  /**
   * Classes of `floor(value * scale)` rather than of each value (a screen position classed by
   * the observation's pixels, as the probe benchmark classes it). Default: each value.
   */
  scale?: number;
}

/** A target's class value of a state value. */
function classValue(t: SupervisedTarget, v: number): number {
  return t.scale === undefined ? v : Math.floor(v * t.scale);
}

/** Everything that defines a supervised-encoder run. */
export interface SupervisedConfig {
  seed: number;
  stack: number;
  valFraction: number;
  /** G: width of the encoder's global vector. */
  features: number;
  targets: SupervisedTarget[];
  train: LoopSchedule;
}

/** A trained (or resumed) run. */
export interface SupervisedResult {
  encoder: FrozenEncoder<CnnConfig>;
  /** Per target, its classes (the distinct training values, ascending). */
  classes: Record<string, number[]>;
  result: LoopResult;
  tensors: [string, tf.Variable][];
}

/** Trains (or resumes) the supervised encoder of the module doc on `ds`. */
export async function trainSupervised(
  cfg: SupervisedConfig,
  ds: Dataset,
  opts: { checkpointDir: string; resume?: boolean; stopAfter?: number },
  hooks: LoopHooks = {},
): Promise<SupervisedResult> {
  const [h, w, c] = ds.frameShape;
  const { train } = splitEpisodes(ds, { valFraction: cfg.valFraction, seed: cfg.seed });
  const trainRows = new Set<number>();
  for (const e of ds.episodes()) {
    if (train.includes(e.episode)) {
      for (let r = e.start; r < e.start + e.length; r++) trainRows.add(r);
    }
  }
  const classes: Record<string, number[]> = {};
  for (const t of cfg.targets) {
    for (const key of [t.key, t.when].filter((k): k is string => k !== undefined)) {
      if (!ds.manifest.stateKeys.includes(key)) {
        throw new Error(
          `supervised: ${ds.path} has no state '${key}' (it has ${
            ds.manifest.stateKeys.join(", ")
          })`,
        );
      }
    }
    const values = ds.state(t.key);
    const when = t.when ? ds.state(t.when) : undefined;
    const seen = new Set<number>();
    for (const r of trainRows) if (!when || when[r] > 0) seen.add(classValue(t, values[r]));
    classes[t.key] = [...seen].sort((a, b) => a - b);
  }
  const rng = new Rng(deriveSeed(cfg.seed, "init"));
  const cnnCfg: CnnConfig = {
    arch: "cnn",
    imageSize: [h, w],
    channels: c * cfg.stack,
    features: cfg.features,
  };
  const encoderParams = initNatureCnn(rng.fork("encoder"), [h, w, c * cfg.stack], cfg.features);
  const heads: Params = {};
  for (const t of cfg.targets) {
    heads[t.key] = initDense(rng.fork(`head/${t.key}`), cfg.features, classes[t.key].length, 0.01);
  }
  const encoder: FrozenEncoder<CnnConfig> = {
    name: "supervised",
    cfg: cnnCfg,
    params: encoderParams,
  };
  const trainable = [...namedParams("encoder", encoderParams), ...namedParams("heads", heads)];
  const classOf = Object.fromEntries(
    cfg.targets.map((t) => [t.key, new Map(classes[t.key].map((v, i) => [v, i]))]),
  );
  const t = cfg.train;
  const perEpoch = Math.floor(trainRows.size / t.batchSize);
  if (perEpoch < 1) {
    throw new Error(
      `supervised: ${trainRows.size} training frames, fewer than a batch of ${t.batchSize}`,
    );
  }
  const result = await trainLoop(
    {
      trainable,
      all: trainable,
      perEpoch,
      epoch: (epoch) =>
        frameStackBatches(ds, {
          episodes: train,
          batchSize: t.batchSize,
          stack: cfg.stack,
          seed: deriveSeed(cfg.seed, `epoch/${epoch}`),
          dropLast: true,
        }),
      loss: (batch) =>
        tf.tidy(() => {
          const b = batch.shape[0];
          const g = natureCnn(encoderParams, {
            bytes: batch.frames,
            shape: batch.shape,
            scale: 1 / 255,
          });
          const terms = cfg.targets.map((target) => {
            // Rows where the variable is undefined weigh 0; the others share the head's mean.
            const mask = Float32Array.from(
              { length: b },
              (_, i) => !target.when || batch.state[target.when][i] > 0 ? 1 : 0,
            );
            const labels = Int32Array.from(
              { length: b },
              (_, i) =>
                mask[i]
                  ? classOf[target.key].get(classValue(target, batch.state[target.key][i])) ?? 0
                  : 0,
            );
            const k = classes[target.key].length;
            const logits = linear(heads[target.key] as Params, g);
            const ce = tf.losses.softmaxCrossEntropy(
              tf.oneHot(tf.tensor1d(labels, "int32"), k),
              logits,
              tf.tensor1d(mask),
            );
            return ce;
          });
          return tf.div(tf.addN(terms), terms.length) as tf.Scalar;
        }),
      onSave: async (dir, step) => {
        const { seed, stack, valFraction } = cfg;
        await saveEncoder(dir, encoder, {
          step,
          source: { method: "supervised", seed, stack, valFraction, targets: cfg.targets },
        });
      },
    },
    t,
    {
      checkpointDir: opts.checkpointDir,
      resume: opts.resume,
      stopAfter: opts.stopAfter,
      config: cfg,
      extra: { kind: "supervised", encoder: cnnCfg, classes },
      label: "supervised",
    },
    hooks,
  );
  return { encoder, classes, result, tensors: trainable };
}
