/**
 * `ijepa-step`: one full I-JEPA training step of the reference model (ViT patch 12 on 84x84x4,
 * width 192, depth 4, heads 3; predictor width 96, depth 2): context encoder, EMA target,
 * predictor, loss, backward, AdamW, EMA update. Batch 64, context 25 patches, 4 target blocks
 * of 2x2 patches. Reports samples/s on the active tfjs backend.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { ijepaLoss, initIJepa } from "../models/ijepa.ts";
import { flattenParams } from "../nn/params.ts";
import { IJEPA_MASKS, multiBlockBatch } from "../ssl/masks.ts";
import { AdamW, clipByGlobalNorm, emaUpdate } from "../ssl/optim.ts";
import { Rng } from "../tensor/rng.ts";
import { type Benchmark, measureRate } from "./bench.ts";

/** See the module doc. */
export const ijepaStepBench: Benchmark = {
  name: "ijepa-step",
  description: "I-JEPA training step, reference ViT (192 wide, depth 4) on 84x84x4, batch 64",
  async run({ quick }) {
    const batch = 64;
    const cfg = {
      encoder: {
        imageSize: [84, 84] as [number, number],
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
    const patches = Float32Array.from({ length: batch * 49 * 576 }, () => rng.float());
    const maskCfg = {
      ...IJEPA_MASKS,
      targetScale: [4 / 49, 4 / 49] as [number, number],
      targetAspect: [1, 1] as [number, number],
    };
    const step = () => {
      const masks = multiBlockBatch(rng, batch, 7, 7, maskCfg, 25);
      const { value, grads } = tf.variableGrads(
        () => ijepaLoss(model, patches, batch, masks),
        trainable.map(([, v]) => v),
      );
      const named = Object.fromEntries(trainable.map(([k, v]) => [k, grads[v.name]]));
      tf.tidy(() => optimizer.apply(clipByGlobalNorm(named, 1).grads, 1e-4, 0.04));
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
      emaUpdate(target, context, 0.996);
    };
    const rate = await measureRate(
      step,
      batch,
      quick
        ? { windows: 1, windowSeconds: 0, warmupSeconds: 0 }
        : { windows: 3, windowSeconds: 2, warmupSeconds: 0 },
    );
    optimizer.dispose();
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
      },
      range: [Number(rate.min.toFixed(2)), Number(rate.max.toFixed(2))],
    };
  },
};
