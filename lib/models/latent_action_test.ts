import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import { vicregVariance } from "../ssl/vicreg.ts";
import {
  CHANGE_THRESHOLD,
  changeWeightedMse,
  encodeLatentAction,
  initLatentAction,
  type LatentActionConfig,
  latentActionLoss,
} from "./latent_action.ts";

await initBackend({ backend: "cpu" });

/** A stack of 2 frames and a pair of 2 frames: both encoders read 2 channels of 8x8. */
const VIT = {
  patch: 4,
  width: 8,
  depth: 1,
  heads: 2,
  mlpRatio: 2,
  cls: false,
  imageSize: [8, 8] as [number, number],
  channels: 2,
};
const TINY: LatentActionConfig = {
  encoder: VIT,
  actionEncoder: VIT,
  decoder: { width: 8, depth: 1, heads: 2, mlpRatio: 2 },
  codes: 4,
  codeDim: 4,
  commitment: 0.25,
};

Deno.test("changeWeightedMse: plain MSE at weight 0; changing pixels weigh 1 + lambda, normalised by the weights", () => {
  tf.tidy(() => {
    const last = tf.tensor3d([[[0, 0, 0, 0]]]);
    const target = tf.tensor3d([[[0, 0, 0, 1]]]); // one pixel changes
    const prediction = tf.tensor3d([[[0.1, 0.1, 0.1, 0.5]]]);
    const plain = (3 * 0.01 + 0.25) / 4;
    assert.ok(
      Math.abs(changeWeightedMse(prediction, target, last, 0).dataSync()[0] - plain) < 1e-7,
    );
    // lambda = 9: the changed pixel weighs 10 of the 13 in all.
    const weighted = (3 * 0.01 + 10 * 0.25) / 13;
    assert.ok(
      Math.abs(changeWeightedMse(prediction, target, last, 9).dataSync()[0] - weighted) < 1e-7,
    );
    // A change at the threshold does not count.
    const small = tf.tensor3d([[[0, 0, 0, CHANGE_THRESHOLD]]]);
    const same = changeWeightedMse(prediction, small, last, 9).dataSync()[0];
    assert.ok(Math.abs(same - changeWeightedMse(prediction, small, last, 0).dataSync()[0]) < 1e-7);
  });
});

Deno.test("pairInput difference: the latent action encoder reads (x_t, x_t+1 - x_t) in the place of the two frames", () => {
  const frames = initLatentAction(new Rng(1), { ...TINY, pairInput: "frames" });
  const diff = initLatentAction(new Rng(1), { ...TINY, pairInput: "difference" });
  tf.tidy(() => {
    // 4 patches of 16 pixels, interleaved (x_t, x_t+1): x_t = 0.5 everywhere, x_t+1 = x_t.
    const still = tf.fill([1, 4, 32], 0.5) as tf.Tensor3D;
    // The difference input of a still pair is (0.5, 0): as the frames input of (0.5, 0).
    const asDifference = tf.tensor3d(
      Float32Array.from({ length: 128 }, (_, i) => (i % 2 === 0 ? 0.5 : 0)),
      [1, 4, 32],
    );
    const a = encodeLatentAction(diff, still).dataSync();
    const b = encodeLatentAction(frames, asDifference).dataSync();
    assert.deepEqual(
      Array.from(a).map((v) => v.toFixed(5)),
      Array.from(b).map((v) => v.toFixed(5)),
    );
    const c = encodeLatentAction(frames, still).dataSync();
    assert.notDeepEqual(Array.from(a), Array.from(c));
  });
});

Deno.test("spreadWeight adds mu times VICReg's variance hinge of z_e to the loss", () => {
  const plain = initLatentAction(new Rng(2), TINY);
  const spread = initLatentAction(new Rng(2), { ...TINY, spreadWeight: 3 });
  tf.tidy(() => {
    const rng = new Rng(5);
    const batch = {
      context: tf.tensor3d(Float32Array.from({ length: 8 * 4 * 32 }, () => rng.float()), [
        8,
        4,
        32,
      ]),
      pairs: tf.tensor3d(Float32Array.from({ length: 8 * 4 * 32 }, () => rng.float()), [8, 4, 32]),
      target: tf.tensor3d(Float32Array.from({ length: 8 * 4 * 16 }, () => rng.float()), [8, 4, 16]),
    };
    const a = latentActionLoss(plain, batch).total.dataSync()[0];
    const b = latentActionLoss(spread, batch).total.dataSync()[0];
    const v = vicregVariance(encodeLatentAction(plain, batch.pairs)).dataSync()[0];
    assert.ok(v > 0.5, `an untrained encoder's outputs are close together: hinge ${v}`);
    assert.ok(Math.abs(b - a - 3 * v) < 1e-5, `${b} - ${a} vs 3 x ${v}`);
  });
});
