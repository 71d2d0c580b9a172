/**
 * `worldmodel-step`: one stage-2 training step of the action-conditioned world model at the
 * `small` preset's size (4x4 patch tokens of width 64 per frame, predictor width 64, depth 2,
 * 2 heads), batch 32, T = 8 steps (136 tokens per sequence, block-causal): teacher-forced and
 * 4-step rollout losses, backward, gradient clipping, AdamW. The latents are random (a frozen
 * encoder's latents are computed once per dataset, not per step). Reports sequences/s on the
 * active tfjs backend.
 *
 * The PyTorch peer `peers/worldmodel_step.py` builds the same model, batch, losses and update;
 * keep the two in step when either changes.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import {
  actionOneHot,
  initWorldModel,
  type LatentSpec,
  type WorldModelConfig,
  worldModelLoss,
  type WorldModelLossConfig,
} from "../../models/world_model.ts";
import { flattenParams } from "../../nn/params.ts";
import { AdamW, globalNormClip } from "../../train/optim.ts";
import { Rng } from "../../tensor/rng.ts";
import { WORLDMODEL_PRESETS } from "../world_model/mod.ts";
import type { Benchmark } from "./measure.ts";
import { measureRate, peakRssMiB, resetPeakRss } from "./measure.ts";

/** Sequences per step. */
export const WORLDMODEL_BENCH_BATCH = 32;

const small = WORLDMODEL_PRESETS.small;

/** The benchmark's predictor, latents and losses: the `small` preset's. */
export const WORLDMODEL_BENCH_CONFIG: {
  model: WorldModelConfig;
  spec: LatentSpec;
  loss: WorldModelLossConfig;
} = {
  model: small.stage2.model,
  spec: {
    tokens: (small.data.size / small.stage1.encoder.patch) ** 2,
    dim: small.stage1.encoder.width,
    rows: small.data.size / small.stage1.encoder.patch,
    cols: small.data.size / small.stage1.encoder.patch,
    numActions: 4,
  },
  loss: small.stage2.loss,
};

/** Builds a training step on the active backend; `step()` returns the loss. */
export function makeWorldModelStep(
  cfg = WORLDMODEL_BENCH_CONFIG,
  batch = WORLDMODEL_BENCH_BATCH,
): { step(): number; dispose(): void } {
  const model = initWorldModel(new Rng(0), cfg.model, cfg.spec);
  const trainable = flattenParams(model.params);
  const optimizer = new AdamW(trainable);
  const len = cfg.model.steps + 1;
  const { tokens, dim, numActions } = cfg.spec;
  const rng = new Rng(1);
  const s = tf.tensor4d(
    Float32Array.from({ length: batch * len * tokens * dim }, () => rng.normal()),
    [batch, len, tokens, dim],
  );
  const a = tf.tensor3d(
    actionOneHot(Int32Array.from({ length: batch * len }, () => rng.int(numActions)), numActions),
    [batch, len, numActions],
  );
  return {
    step() {
      const { value, grads } = tf.variableGrads(
        () => worldModelLoss(model, s, a, cfg.loss).loss,
        trainable.map(([, v]) => v),
      );
      const named = Object.fromEntries(trainable.map(([k, v]) => [k, grads[v.name]]));
      optimizer.apply(named, 1e-4, 0.05, globalNormClip(named, 1).scale);
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    },
    dispose() {
      optimizer.dispose();
      tf.dispose([s, a, ...trainable.map(([, v]) => v)]);
    },
  };
}

/** See the module doc. */
export const worldModelStepBench: Benchmark = {
  name: "worldmodel-step",
  description: "stage-2 world-model training step (T=8, 16 patch tokens, width 64, depth 2, " +
    "teacher forcing + 4-step rollout), batch 32",
  prepare: () => makeWorldModelStep(),
  stepUnits: WORLDMODEL_BENCH_BATCH,
  // A step takes about a tenth of a second: paired windows of 10 steps (about a second a side),
  // as long as ijepa-step's 3.
  pairedSteps: 10,
  async run({ quick }) {
    resetPeakRss();
    const wm = makeWorldModelStep();
    const rate = await measureRate(
      () => void wm.step(),
      WORLDMODEL_BENCH_BATCH,
      quick
        ? { windows: 1, windowSeconds: 0, warmupSeconds: 0 }
        : { windows: 3, windowSeconds: 3, warmupSeconds: 0 },
    );
    wm.dispose();
    const peak = peakRssMiB();
    const c = WORLDMODEL_BENCH_CONFIG;
    return {
      bench: "worldmodel-step",
      backend: tf.getBackend(),
      value: Number(rate.median.toFixed(2)),
      unit: "sequences/s",
      config: {
        batch: WORLDMODEL_BENCH_BATCH,
        steps: c.model.steps,
        tokensPerFrame: c.spec.tokens,
        latentDim: c.spec.dim,
        width: c.model.width,
        depth: c.model.depth,
        heads: c.model.heads,
        rollout: c.loss.rollout,
        ...(peak !== undefined ? { peakRssMiB: peak } : {}),
      },
      range: [Number(rate.min.toFixed(2)), Number(rate.max.toFixed(2))],
    };
  },
};
