import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../tensor/rng.ts";
import {
  attention,
  blocks,
  initAttention,
  initBlocks,
  initLayerNorm,
  initLinear,
  layerNorm,
  linear,
} from "./layers.ts";
import { countParams, flattenParams, orthogonal, truncNormal } from "./params.ts";
import {
  gatherTokens,
  initVit,
  patchify,
  sincos2d,
  unpatchify,
  type VitConfig,
  vitEncode,
  wantedLast,
} from "./vit.ts";

await tf.setBackend("cpu");

Deno.test("linear works on any rank; layer norm normalises the last axis", () => {
  const p = initLinear(new Rng(0), 3, 2);
  const y = linear(p, tf.ones([4, 5, 3]));
  assert.deepEqual(y.shape, [4, 5, 2]);
  const x = tf.tensor2d([[1, 2, 3, 4], [10, 10, 10, 14]]);
  const n = layerNorm(initLayerNorm(4), x).arraySync() as number[][];
  for (const row of n) {
    const mean = row.reduce((a, b) => a + b) / 4;
    const v = row.reduce((a, b) => a + (b - mean) ** 2, 0) / 4;
    assert.ok(Math.abs(mean) < 1e-5 && Math.abs(v - 1) < 1e-3);
  }
});

Deno.test("an attention mask stops information flow", () => {
  const p = initAttention(new Rng(1), 8);
  const x = tf.randomNormal([1, 3, 8], 0, 1, "float32", 1) as tf.Tensor3D;
  // Token 0 may only see itself: changing token 2 must not change its output.
  const mask = tf.tensor2d([[0, -1e9, -1e9], [0, 0, -1e9], [0, 0, 0]]);
  const a = attention(p, x, 2, mask).arraySync()[0][0];
  const x2 = tf.concat([x.slice([0, 0, 0], [1, 2, 8]), tf.ones([1, 1, 8])], 1) as tf.Tensor3D;
  const b = attention(p, x2, 2, mask).arraySync()[0][0];
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-6));
  const c = attention(p, x2, 2).arraySync()[0][0];
  assert.ok(c.some((v, i) => Math.abs(v - a[i]) > 1e-4), "without the mask it does change");
});

Deno.test("blocks computing only the last tokens give those tokens' outputs and gradients", () => {
  const p = initBlocks(new Rng(3), 2, 16, 2);
  const leaves = flattenParams(p).map(([, v]) => v);
  leaves.forEach((v, i) =>
    v.shape.length === 1 && v.assign(tf.randomNormal(v.shape, 0, 0.1, "float32", 100 + i))
  );
  const x = tf.randomNormal([3, 9, 16], 0, 1, "float32", 4) as tf.Tensor3D;
  const dy = tf.randomNormal([3, 4, 16], 0, 1, "float32", 5);
  const causal = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([9, 9]), -1, 0)), -1e9);
  for (const mask of [undefined, causal]) {
    const full = () => blocks(p, x, 2, mask).slice([0, 5, 0], [-1, 4, -1]);
    const last = () => blocks(p, x, 2, mask, 4);
    const loss = (f: () => tf.Tensor) => () => tf.sum(tf.mul(f(), dy)) as tf.Scalar;
    assert.deepEqual(last().shape, [3, 4, 16]);
    const a = tf.variableGrads(loss(full), leaves);
    const b = tf.variableGrads(loss(last), leaves);
    const close = (u: tf.Tensor, v: tf.Tensor, what: string) => {
      const diff = tf.max(tf.abs(tf.sub(u, v))).dataSync()[0];
      assert.ok(diff <= 1e-5 * (1 + tf.max(tf.abs(u)).dataSync()[0]), `${what}: ${diff}`);
    };
    close(full(), last(), `outputs, mask ${Boolean(mask)}`);
    close(a.value, b.value, "loss");
    for (const v of leaves) close(a.grads[v.name], b.grads[v.name], v.name);
  }
  assert.throws(() => blocks(p, x, 2, undefined, 10), /queries 10 must be an integer in \[0, 9\]/);
});

Deno.test("vitEncode computes the outputs of the tokens asked for alone, the same values", () => {
  for (const cls of [false, true]) {
    for (const depth of [0, 1, 3]) {
      const cfg: VitConfig = {
        imageSize: [12, 12],
        channels: 1,
        patch: 4,
        width: 8,
        depth,
        heads: 2,
        mlpRatio: 2,
        cls,
      };
      const p = initVit(new Rng(7 + depth), cfg);
      const patches = tf.randomNormal([2, 9, 16], 0, 1, "float32", 8) as tf.Tensor3D;
      const pos = tf.tensor3d(sincos2d(8, 3, 3), [1, 9, 8]);
      const n = 9 + (cls ? 1 : 0);
      const wanted = Int32Array.from([4, 0, 8, 2, 7, 1]); // 3 rows per sample, any order
      const full = vitEncode(p, cfg, patches, pos);
      const rows = Array.from(wanted, (t, j) => Math.floor(j / 3) * n + t);
      const expected = tf.gather(full.reshape([2 * n, 8]), rows).reshape([2, 3, 8]);
      const got = vitEncode(p, cfg, patches, pos, wanted);
      assert.deepEqual(got.shape, [2, 3, 8]);
      const diff = tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0];
      assert.ok(diff < 1e-5, `cls ${cls} depth ${depth}: ${diff}`);
    }
  }
  // Each sample's wanted rows come last, in the order given; the rest keep theirs.
  assert.deepEqual([...wantedLast(Int32Array.from([3, 1, 0, 2]), 2, 4)], [0, 2, 3, 1, 5, 7, 4, 6]);
  assert.throws(
    () => wantedLast(Int32Array.from([1, 1]), 1, 4),
    /sample 0 must be distinct rows in \[0, 4\), got 1/,
  );
  assert.throws(() => wantedLast(Int32Array.from([5]), 1, 4), /got 5/);
});

Deno.test("initialisers: truncated normal bounds and std, orthogonal rows", () => {
  const t = Array.from(truncNormal([100, 100], 0.02, new Rng(2)).dataSync());
  assert.ok(t.every((v) => Math.abs(v) <= 0.04 + 1e-7));
  const sd = Math.sqrt(t.reduce((a, v) => a + v * v, 0) / t.length);
  assert.ok(sd > 0.015 && sd < 0.02, `std ${sd}`);
  const q = orthogonal([6, 4], Math.SQRT2, new Rng(3)).arraySync() as number[][];
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      const dot = q.reduce((a, row) => a + row[i] * row[j], 0);
      assert.ok(Math.abs(dot - (i === j ? 2 : 0)) < 1e-5);
    }
  }
  assert.deepEqual(
    truncNormal([3], 1, new Rng(9)).dataSync(),
    truncNormal([3], 1, new Rng(9)).dataSync(),
  );
});

Deno.test("parameter trees flatten in order and count", () => {
  const tree = { a: initLinear(new Rng(0), 2, 3), b: { c: initLayerNorm(3) } };
  assert.deepEqual(flattenParams(tree).map(([k]) => k), ["a.w", "a.b", "b.c.g", "b.c.b"]);
  assert.equal(countParams(tree), 6 + 3 + 3 + 3);
});

Deno.test("patchify and unpatchify invert each other; gatherTokens picks rows", () => {
  const frames = Uint8Array.from({ length: 2 * 4 * 6 * 2 }, (_, i) => i % 256);
  const patches = patchify(frames, 2, 4, 6, 2, 2);
  assert.equal(patches.length, 2 * 6 * 8);
  assert.equal(patches[8], Math.fround(frames[4] / 255), "second patch starts at x = 2");
  assert.deepEqual(unpatchify(patches, 2, 4, 6, 2, 2), frames);
  const picked = gatherTokens(patches, 6, 8, Int32Array.from([5, 0, 1, 1]), 2);
  assert.deepEqual([...picked.subarray(0, 8)], [...patches.subarray(40, 48)]);
  assert.deepEqual([...picked.subarray(16, 24)], [...patches.subarray(56, 64)]);
  const pos = sincos2d(8, 2, 3);
  assert.equal(pos.length, 48);
  assert.equal(pos[0], 0); // sin(0)
  assert.equal(pos[2], 1); // cos(0)
});
