import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initNatureCnn, natureCnn } from "../nn/cnn.ts";
import { flattenParams } from "../nn/params.ts";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import {
  col2im,
  CONV_OPTS,
  dense,
  im2col,
  im2colBytes,
  im2colFloats,
  im2colT,
  natureCnnFast,
} from "./conv.ts";

await initBackend({ backend: "cpu" });

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("col2im is the adjoint of im2col: <im2col(x), y> = <x, col2im(y)>", () => {
  const rng = new Rng(0);
  const [b, h, w, c, k, s] = [2, 9, 7, 3, 3, 2];
  const x = Float32Array.from({ length: b * h * w * c }, () => rng.normal());
  const cols = im2col(x, b, h, w, c, k, s);
  const y = Float32Array.from({ length: cols.length }, () => rng.normal());
  const back = col2im(y, b, h, w, c, k, s);
  let lhs = 0;
  let rhs = 0;
  for (let i = 0; i < cols.length; i++) lhs += cols[i] * y[i];
  for (let i = 0; i < x.length; i++) rhs += x[i] * back[i];
  assert.ok(Math.abs(lhs - rhs) < 1e-3 * Math.abs(lhs), `${lhs} vs ${rhs}`);
  assert.deepEqual(im2colFloats(x, b, h, w, c, k, s), cols);
  const bytes = Uint8Array.from(x, (v) => Math.abs(Math.round(v * 50)) % 256);
  assert.deepEqual(im2colBytes(bytes, b, h, w, c, k, s, 0.5), im2col(bytes, b, h, w, c, k, s, 0.5));
  // im2colT is its transpose.
  const t = im2colT(x, b, h, w, c, k, s);
  const rows = cols.length / (k * k * c);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < k * k * c; j++) assert.equal(t[j * rows + r], cols[r * k * k * c + j]);
  }
});

for (const transposedCols of [false, true]) {
  Deno.test(`natureCnnFast equals natureCnn (tf.conv2d) in value and in every gradient (${transposedCols ? "transposed patches" : "kept patches"})`, () => {
    CONV_OPTS.transposedCols = transposedCols;
    // 44x44 keeps tf.conv2d's cpu gradients fast; the layer arithmetic is the same as at 84x84.
    const shape = [44, 44, 4] as const;
    const p = initNatureCnn(new Rng(1), [...shape]);
    const rng = new Rng(2);
    const n = 3;
    const bytes = Uint8Array.from({ length: n * 44 * 44 * 4 }, () => rng.int(256));
    const x = tf.tidy(() =>
      tf.div(tf.tensor4d(bytes, [n, ...shape], "float32"), 255)
    ) as tf.Tensor4D;
    const want = natureCnn(p, x);
    const got = natureCnnFast(p, bytes, shape, n);
    assert.deepEqual(got.shape, [n, 512]);
    assert.ok(maxAbsDiff(got.dataSync(), want.dataSync()) < 1e-4);
    const fromTensor = natureCnnFast(p, x, shape, n);
    assert.ok(maxAbsDiff(fromTensor.dataSync(), want.dataSync()) < 1e-4);

    const vars = flattenParams(p).map(([, v]) => v);
    const proj = tf.randomNormal([512, 1], 0, 1, "float32", 3);
    const ref = tf.variableGrads(() => natureCnn(p, x).matMul(proj).sum() as tf.Scalar, vars);
    const fast = tf.variableGrads(
      () => natureCnnFast(p, bytes, shape, n).matMul(proj).sum() as tf.Scalar,
      vars,
    );
    for (const v of vars) {
      const a = ref.grads[v.name].dataSync();
      const b = fast.grads[v.name].dataSync();
      const scale = Math.max(1e-6, maxAbs(a));
      assert.ok(maxAbsDiff(a, b) / scale < 1e-3, `gradient of ${v.name}`);
    }
    // The input gradient (saliency) through the float path.
    const gx = tf.grad((t: tf.Tensor) => natureCnn(p, t as tf.Tensor4D).matMul(proj).sum())(x);
    const gxFast = tf.grad((t: tf.Tensor) =>
      natureCnnFast(p, t as tf.Tensor4D, shape, n).matMul(proj).sum()
    )(x);
    const scale = maxAbs(gx.dataSync());
    assert.ok(maxAbsDiff(gx.dataSync(), gxFast.dataSync()) / scale < 1e-3);
    tf.dispose([x, want, got, fromTensor, proj, gx, gxFast, ...Object.values(ref.grads)]);
    tf.dispose(Object.values(fast.grads));
    CONV_OPTS.transposedCols = "auto";
  });
}

Deno.test("dense: value and gradients of x @ w", () => {
  const x = tf.randomNormal([5, 7], 0, 1, "float32", 4) as tf.Tensor2D;
  const w = tf.randomNormal([7, 3], 0, 1, "float32", 5) as tf.Tensor2D;
  const f = (a: tf.Tensor, b: tf.Tensor) =>
    dense(a as tf.Tensor2D, b as tf.Tensor2D).square().sum();
  const g = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b).square().sum();
  const [dx, dw] = tf.grads(f)([x, w]);
  const [rx, rw] = tf.grads(g)([x, w]);
  assert.ok(maxAbsDiff(dx.dataSync(), rx.dataSync()) < 1e-4);
  assert.ok(maxAbsDiff(dw.dataSync(), rw.dataSync()) < 1e-4);
});
