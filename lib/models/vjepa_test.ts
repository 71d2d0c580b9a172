import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { linear } from "../nn/layers.ts";
import type { Params } from "../nn/params.ts";
import { type VitConfig, vitEncode, vitGrid } from "../nn/vit.ts";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import { initVJepa, randomMaskBatch, vjepaLoss, vjepaPredict } from "./vjepa.ts";

await initBackend({ backend: "wasm" });

const ENC: VitConfig = {
  imageSize: [16, 16],
  channels: 2,
  patch: 4,
  width: 16,
  depth: 1,
  heads: 2,
  mlpRatio: 2,
  cls: false,
};

Deno.test("random mask batches mask round(ratio * N) tokens per sample", () => {
  const m = randomMaskBatch(new Rng(1), { batch: 5, tokens: 16, ratio: 0.4 });
  for (let i = 0; i < 5; i++) {
    assert.equal(m.subarray(i * 16, (i + 1) * 16).reduce((a, b) => a + b, 0), 6);
  }
  assert.throws(
    () => randomMaskBatch(new Rng(1), { batch: 1, tokens: 16, ratio: 1 }),
    /mask ratio/,
  );
});

Deno.test("the V-JEPA loss is L1 at masked tokens after replacing them with the mask token", () => {
  const model = initVJepa(new Rng(2), { encoder: ENC, predictor: { hidden: 24, depth: 2 } });
  // Make the online and target encoders differ, and the mask token non-trivial.
  tf.tidy(() => {
    const w = (model.online.patch as Params).w as tf.Variable;
    w.assign(tf.mul(w, 1.5));
  });
  const { tokens: n, patchDim } = vitGrid(ENC);
  const b = 3;
  const rng = new Rng(3);
  const patches = Float32Array.from({ length: b * n * patchDim }, () => rng.float());
  const mask = randomMaskBatch(new Rng(4), { batch: b, tokens: n, ratio: 0.4 });
  const got = tf.tidy(() => vjepaLoss(model, patches, b, mask).dataSync()[0]);

  // The same loss written plainly: embed, overwrite masked embeddings, encode the rest.
  const want = tf.tidy(() => {
    const x = tf.tensor3d(patches, [b, n, patchDim]);
    const pos = tf.tensor3d(model.pos, [1, n, ENC.width]);
    const target = vitEncode(model.target, ENC, x, pos);
    const { mean, variance } = tf.moments(target, -1, true);
    const norm = tf.div(tf.sub(target, mean), tf.sqrt(tf.add(variance, 1e-6)));
    const emb = linear(model.online.patch as Params, x).arraySync() as number[][][];
    const token = Array.from((model.predictor.maskToken as tf.Variable).dataSync());
    for (let i = 0; i < b; i++) {
      for (let t = 0; t < n; t++) if (mask[i * n + t]) emb[i][t] = token;
    }
    // vitEncode adds the patch embedding itself: feed it an identity-like path instead by
    // encoding with a patch layer that passes embeddings through.
    const ident: Params = {
      ...model.online,
      patch: { w: tf.variable(tf.eye(ENC.width)), b: tf.variable(tf.zeros([ENC.width])) },
    };
    const z = vitEncode(ident, { ...ENC }, tf.tensor3d(emb), pos);
    const pred = vjepaPredict(model.predictor, z);
    const m = tf.tensor3d(mask, [b, n, 1]);
    const err = tf.sum(tf.mul(tf.abs(tf.sub(pred, norm)), m));
    return tf.div(err, tf.mul(tf.sum(m), ENC.width)).dataSync()[0];
  });
  assert.ok(Math.abs(got - want) < 1e-5, `${got} vs ${want}`);
});
