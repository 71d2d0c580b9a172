/**
 * `ijepa-step`: one full I-JEPA training step of the reference model (ViT patch 12 on 84x84x4,
 * width 192, depth 4, heads 3; predictor width 96, depth 2): context encoder, EMA target,
 * predictor, loss, backward, AdamW, EMA update. Batch 64, context 25 patches, 4 target blocks
 * of 2x2 patches. Reports samples/s on the active tfjs backend.
 *
 * The PyTorch peer `peers/ijepa_step.py` builds the same model, batch and masks; keep the two in
 * step when either changes.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { type IJepaConfig, ijepaLoss, initIJepa } from "../../models/ijepa.ts";
import { flattenParams } from "../../nn/params.ts";
import { IJEPA_MASKS, multiBlockBatch } from "../../ssl/masks.ts";
import { AdamW, globalNormClip } from "../../train/optim.ts";
import { emaUpdate } from "../../ssl/ema.ts";
import { Rng } from "../../tensor/rng.ts";
import type { Benchmark } from "./measure.ts";
import { measureRate, peakRssMiB, resetPeakRss } from "./measure.ts";

/** The reference model of DESIGN.md section 5. */
export const IJEPA_BENCH_CONFIG: IJepaConfig = {
  encoder: {
    imageSize: [84, 84],
    channels: 4,
    patch: 12,
    width: 192,
    depth: 4,
    heads: 3,
    mlpRatio: 4,
    cls: false,
  },
  predictor: { width: 96, depth: 2, heads: 2, mlpRatio: 4 },
};

/** Samples per step of the benchmark. */
export const IJEPA_BENCH_BATCH = 64;

/** A ready-to-run training step and what it holds. */
export interface IJepaStep {
  /** One training step; returns the loss. */
  step(): number;
  /** Frees the model and optimiser state. */
  dispose(): void;
}

/**
 * Builds the benchmark's model, optimiser and data on the active backend, seeded so that every
 * backend starts from the same weights and draws the same masks. `cfg` and `batch` default to
 * the reference model and batch 64 (tests pass a smaller model).
 */
export function makeIJepaStep(
  cfg: IJepaConfig = IJEPA_BENCH_CONFIG,
  batch = IJEPA_BENCH_BATCH,
): IJepaStep {
  const { imageSize: [h, w], patch, channels } = cfg.encoder;
  const rows = h / patch;
  const cols = w / patch;
  const model = initIJepa(new Rng(0), cfg);
  const trainable = [
    ...flattenParams(model.context).map(([k, v]) => [`context.${k}`, v] as [string, tf.Variable]),
    ...flattenParams(model.predictor).map(([k, v]) =>
      [`predictor.${k}`, v] as [string, tf.Variable]
    ),
  ];
  const target = flattenParams(model.target);
  const context = flattenParams(model.context);
  const optimizer = new AdamW(trainable);
  const rng = new Rng(1);
  const n = rows * cols;
  const patches = Float32Array.from(
    { length: batch * n * patch * patch * channels },
    () => rng.float(),
  );
  // 4 target blocks of exactly 2x2 patches and 25 context patches, so every step has the same
  // shapes (I-JEPA draws block sizes per batch; fixed ones keep the timing comparable).
  const maskCfg = {
    ...IJEPA_MASKS,
    targetScale: [4 / 49, 4 / 49] as [number, number],
    targetAspect: [1, 1] as [number, number],
  };
  const contextKeep = Math.min(25, n - 4);
  return {
    step() {
      const masks = multiBlockBatch(rng, maskCfg, { batch, rows, cols, contextKeep });
      const { value, grads } = tf.variableGrads(
        () => ijepaLoss(model, patches, batch, masks),
        trainable.map(([, v]) => v),
      );
      const named = Object.fromEntries(trainable.map(([k, v]) => [k, grads[v.name]]));
      optimizer.apply(named, 1e-4, 0.04, globalNormClip(named, 1).scale);
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      emaUpdate(target, context, 0.996);
      return loss;
    },
    dispose() {
      optimizer.dispose();
      for (const tree of [model.context, model.predictor, model.target]) {
        for (const [, v] of flattenParams(tree)) v.dispose();
      }
    },
  };
}

/** See the module doc. */
export const ijepaStepBench: Benchmark = {
  name: "ijepa-step",
  description: "I-JEPA training step, reference ViT (192 wide, depth 4) on 84x84x4, batch 64",
  prepare: () => makeIJepaStep(),
  stepUnits: IJEPA_BENCH_BATCH,
  async run({ quick }) {
    const batch = IJEPA_BENCH_BATCH;
    resetPeakRss();
    const bench = makeIJepaStep(IJEPA_BENCH_CONFIG, batch);
    const rate = await measureRate(
      () => void bench.step(),
      batch,
      quick
        ? { windows: 1, windowSeconds: 0, warmupSeconds: 0 }
        : { windows: 3, windowSeconds: 2, warmupSeconds: 1 },
    );
    bench.dispose();
    const peak = peakRssMiB();
    return {
      bench: "ijepa-step",
      backend: tf.getBackend(),
      value: Number(rate.median.toFixed(2)),
      unit: "samples/s",
      config: {
        batch,
        image: [84, 84, 4],
        patch: 12,
        width: 192,
        depth: 4,
        predictorWidth: 96,
        context: 25,
        targets: "4x4",
        ...(peak !== undefined ? { peakRssMiB: peak } : {}),
      },
      range: [Number(rate.min.toFixed(2)), Number(rate.max.toFixed(2))],
    };
  },
};
