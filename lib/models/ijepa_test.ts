import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { normalize } from "../nn/layers.ts";
import { flattenParams } from "../nn/params.ts";
import { vitEncode, vitGrid } from "../nn/vit.ts";
import { IJEPA_MASKS, multiBlockBatch } from "../ssl/masks.ts";
import { Rng } from "../tensor/rng.ts";
import {
  contextInput,
  type IJepaConfig,
  ijepaLoss,
  ijepaTargets,
  initIJepa,
  targetTokens,
} from "./ijepa.ts";

await tf.setBackend("cpu");

const CFG: IJepaConfig = {
  encoder: {
    imageSize: [24, 24],
    channels: 2,
    patch: 6,
    width: 16,
    depth: 2,
    heads: 2,
    mlpRatio: 2,
    cls: false,
  },
  predictor: { width: 8, depth: 2, heads: 2, mlpRatio: 2 },
};

/** A fresh model, and a batch of 8 random stacks with multi-block masks. */
function randomBatch() {
  const model = initIJepa(new Rng(3), CFG);
  const { tokens: n, patchDim, rows, cols } = vitGrid(CFG.encoder);
  const b = 8;
  const rng = new Rng(6);
  const patches = Float32Array.from({ length: b * n * patchDim }, () => rng.float());
  const masks = multiBlockBatch(new Rng(5), IJEPA_MASKS, { batch: b, rows, cols });
  return { model, patches, b, masks };
}

Deno.test("targetTokens: each sample's union of target tokens, padded, and where each sits", () => {
  // 2 samples, 2 blocks of 2 tokens; sample 0 reads {1, 2, 5}, sample 1 reads {0, 3}.
  const masks = {
    context: new Int32Array(0),
    contextCount: 0,
    targets: [Int32Array.from([1, 2, 0, 3]), Int32Array.from([2, 5, 3, 0])],
    targetCount: 2,
  };
  const { tokens, rows } = targetTokens(masks, 2, 6);
  assert.deepEqual([...tokens], [1, 2, 5, 0, 3, 1]); // sample 1 padded with its first other token
  // Block 0: sample 0 tokens 1, 2 -> rows 0, 1; sample 1 tokens 0, 3 -> rows 3, 4. Block 1 ...
  assert.deepEqual([...rows], [0, 1, 3, 4, 1, 2, 4, 3]);
});

Deno.test("I-JEPA targets equal the target encoder's features at every token, gathered", () => {
  const model = initIJepa(new Rng(3), CFG);
  const { tokens: n, patchDim, rows, cols } = vitGrid(CFG.encoder);
  const b = 3;
  const rng = new Rng(4);
  const patches = Float32Array.from({ length: b * n * patchDim }, () => rng.float());
  const masks = multiBlockBatch(new Rng(5), IJEPA_MASKS, { batch: b, rows, cols, contextKeep: 6 });
  const { tokens } = targetTokens(masks, b, n);
  assert.ok(tokens.length / b < n, "the masks leave tokens out of the target encoder's last block");
  // The straightforward form: every token's output, normalised, then each block gathered.
  const d = CFG.encoder.width;
  const kt = masks.targetCount;
  const all = vitEncode(
    model.target,
    CFG.encoder,
    tf.tensor3d(patches, [b, n, patchDim]),
    tf.tensor3d(model.encoderPos, [1, n, d]),
  );
  const h = normalize(all).reshape([b * n, d]);
  const expected = tf.concat(
    masks.targets.map((t) =>
      tf.gather(h, Array.from(t, (tok, r) => Math.floor(r / kt) * n + tok)).reshape([b, kt, d])
    ),
  );
  const got = ijepaTargets(model, patches, b, masks);
  assert.deepEqual(got.shape, expected.shape);
  const diff = tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0];
  assert.ok(diff < 1e-5, `max difference ${diff}`);
  assert.ok(Number.isFinite(ijepaLoss(model, patches, b, masks).dataSync()[0]));
});

Deno.test("the pooled regulariser adds VICReg's variance hinge and covariance to the loss", () => {
  const { model, patches, b, masks } = randomBatch();
  const value = (reg?: { variance: number; covariance: number }) =>
    tf.tidy(() => ijepaLoss(model, patches, b, masks, { regulariser: reg }).dataSync()[0]);
  const plain = value();
  assert.equal(value({ variance: 0, covariance: 0 }), plain);
  // Every pooled dimension's std across 8 random frames is far below the hinge's 1.
  const hinge = value({ variance: 1, covariance: 0 }) - plain;
  assert.ok(hinge > 0.5 && hinge < 1, `variance hinge ${hinge}`);
  assert.ok(value({ variance: 0, covariance: 1 }) > plain);
  // The terms have gradients into the context encoder: one step lowers the hinge.
  const vars = flattenParams(model.context).map(([, v]) => v);
  const opt = tf.train.sgd(0.5);
  for (let i = 0; i < 3; i++) {
    opt.minimize(
      () => ijepaLoss(model, patches, b, masks, { regulariser: { variance: 1, covariance: 0 } }),
      false,
      vars,
    );
  }
  assert.ok(value({ variance: 1, covariance: 0 }) - value() < hinge);
});

Deno.test("centred targets: a patch every frame shares is ~0, one frame's own patch is not", () => {
  const model = initIJepa(new Rng(3), CFG);
  const { tokens: n, patchDim, rows, cols } = vitGrid(CFG.encoder);
  const b = 6;
  const masks = multiBlockBatch(new Rng(5), IJEPA_MASKS, { batch: b, rows, cols });
  const kt = masks.targetCount;
  // One background for every frame; only the "ball" token, one the targets read, differs.
  const ball = masks.targets[0][0];
  const rng = new Rng(7);
  const background = Float32Array.from({ length: n * patchDim }, () => rng.float());
  const patches = new Float32Array(b * n * patchDim);
  for (let i = 0; i < b; i++) {
    patches.set(background, i * n * patchDim);
    for (let k = 0; k < patchDim; k++) patches[(i * n + ball) * patchDim + k] = rng.float();
  }
  const size = (t: tf.Tensor) => tf.sqrt(tf.mean(tf.square(t), -1));
  const sizes = (center: boolean) => {
    const s = size(ijepaTargets(model, patches, b, masks, center)).arraySync() as number[][];
    const own: number[] = [], rest: number[] = [];
    masks.targets.forEach((t, j) => {
      for (let r = 0; r < b * kt; r++) {
        const v = s[j * b + Math.floor(r / kt)][r % kt];
        (t[r] === ball ? own : rest).push(v);
      }
    });
    const avg = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
    return { own: avg(own), rest: avg(rest) };
  };
  const centred = sizes(true);
  // Attention spreads the ball's change a little to every token; the ball's own token keeps most.
  assert.ok(centred.own > 3 * centred.rest, JSON.stringify(centred));
  const plain = sizes(false);
  assert.ok(plain.rest > 0.9, `layer-normed background targets have unit size: ${plain.rest}`);
  assert.ok(
    Number.isFinite(ijepaLoss(model, patches, b, masks, { centerTargets: true }).dataSync()[0]),
  );
});

Deno.test("past at targets: the context also reads each target position, its newest frame zeroed", () => {
  // 2 samples of 6 tokens, patches of 2 pixels x 2 channels (frames: oldest, newest).
  const n = 6, patchDim = 4, b = 2;
  const patches = Float32Array.from({ length: b * n * patchDim }, (_, i) => i + 1);
  const masks = {
    context: Int32Array.from([4, 0]),
    contextCount: 1,
    targets: [Int32Array.from([1, 2, 0, 3]), Int32Array.from([2, 5, 3, 0])],
    targetCount: 2,
  };
  const plain = contextInput(patches, masks, { b, n, patchDim });
  assert.equal(plain.count, 1);
  assert.deepEqual([...plain.patches], [17, 18, 19, 20, 25, 26, 27, 28]);
  const past = contextInput(patches, masks, { b, n, patchDim }, {
    channels: 2,
    newestChannels: 1,
  });
  // The context token, then targetTokens' union (sample 0: 1, 2, 5; sample 1: 0, 3, 1).
  assert.equal(past.count, 4);
  assert.deepEqual([...past.index], [4, 1, 2, 5, 0, 0, 3, 1]);
  const token = (
    i: number,
    j: number,
  ) => [...past.patches.subarray((i * 4 + j) * patchDim, (i * 4 + j + 1) * patchDim)];
  assert.deepEqual(token(0, 0), [17, 18, 19, 20], "the context token keeps its newest frame");
  assert.deepEqual(token(0, 1), [5, 0, 7, 0], "token 1 of sample 0: oldest frame kept, newest 0");
  assert.deepEqual(token(1, 2), [24 + 13, 0, 24 + 15, 0], "token 3 of sample 1");
});

Deno.test("past at targets: the loss trains and differs from the plain one", () => {
  const { model, patches, b, masks } = randomBatch();
  const past = { channels: 2, newestChannels: 1 };
  const value = (pastAtTargets?: typeof past) =>
    tf.tidy(() => ijepaLoss(model, patches, b, masks, { pastAtTargets }).dataSync()[0]);
  const before = value(past);
  assert.notEqual(before, value());
  const vars = [
    ...flattenParams(model.context),
    ...flattenParams(model.predictor),
  ].map(([, v]) => v);
  const opt = tf.train.adam(1e-2);
  let afterFirst = 0;
  for (let i = 0; i < 10; i++) {
    opt.minimize(() => ijepaLoss(model, patches, b, masks, { pastAtTargets: past }), false, vars);
    if (i === 0) afterFirst = tf.memory().numTensors; // Adam's moments exist from here on
  }
  assert.equal(tf.memory().numTensors, afterFirst, "no tensor left behind per step");
  const after = value(past);
  assert.ok(after < before, `loss ${before} -> ${after}`);
});
