import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import { conv, initNatureCnn, natureCnn } from "./cnn.ts";
import {
  type ByteImages,
  col2im,
  CONV_OPTS,
  convOut,
  im2colBytes,
  im2colFloats,
  im2colT,
} from "./conv.ts";
import { DENSE_OPTS } from "./dense.ts";
import { linear } from "./layers.ts";
import { flattenParams, type Params } from "./params.ts";

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

Deno.test("im2col cuts the patches; col2im is its adjoint: <im2col(x), y> = <x, col2im(y)>", () => {
  const rng = new Rng(0);
  const [b, h, w, c, k, s] = [2, 9, 7, 3, 3, 2];
  const x = Float32Array.from({ length: b * h * w * c }, () => rng.normal());
  const cols = im2colFloats(x, b, h, w, c, k, s);
  // Row (image, out y, out x), column (ky, kx, channel), by the definition.
  const [oh, ow, kkc] = [convOut(h, k, s), convOut(w, k, s), k * k * c];
  assert.equal(cols.length, b * oh * ow * kkc);
  for (let n = 0; n < b; n++) {
    for (let y = 0; y < oh; y++) {
      for (let xo = 0; xo < ow; xo++) {
        for (let j = 0; j < kkc; j++) {
          const [ky, kx, ch] = [Math.floor(j / (k * c)), Math.floor(j / c) % k, j % c];
          const src = ((n * h + y * s + ky) * w + xo * s + kx) * c + ch;
          assert.equal(cols[((n * oh + y) * ow + xo) * kkc + j], x[src]);
        }
      }
    }
  }
  const y = Float32Array.from({ length: cols.length }, () => rng.normal());
  const back = col2im(y, b, h, w, c, k, s);
  let lhs = 0;
  let rhs = 0;
  for (let i = 0; i < cols.length; i++) lhs += cols[i] * y[i];
  for (let i = 0; i < x.length; i++) rhs += x[i] * back[i];
  assert.ok(Math.abs(lhs - rhs) < 1e-3 * Math.abs(lhs), `${lhs} vs ${rhs}`);
  // The uint8 version scales as it cuts.
  const bytes = Uint8Array.from(x, (v) => Math.abs(Math.round(v * 50)) % 256);
  assert.deepEqual(
    im2colBytes(bytes, b, h, w, c, k, s, 0.5),
    im2colFloats(Float32Array.from(bytes, (v) => v * 0.5), b, h, w, c, k, s),
  );
  // im2colT is its transpose.
  const t = im2colT(x, b, h, w, c, k, s);
  const rows = b * oh * ow;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < kkc; j++) assert.equal(t[j * rows + r], cols[r * kkc + j]);
  }
});

/** The Nature CNN with tfjs' own `conv2d`: the reference for {@linkcode natureCnn}. */
function natureCnnConv2d(p: Params, x: tf.Tensor4D): tf.Tensor2D {
  let h = tf.relu(conv(p.c1 as Params, x, 4));
  h = tf.relu(conv(p.c2 as Params, h, 2));
  h = tf.relu(conv(p.c3 as Params, h, 1));
  return tf.relu(linear(p.fc as Params, h.reshape([h.shape[0], -1]))) as tf.Tensor2D;
}

// Both ways of forming the gradients: as on wasm (patches cut again transposed, explicit
// transposes) and as elsewhere (patches kept, transposed-operand flags).
for (const wasmForm of [false, true]) {
  Deno.test(`natureCnn (im2col) equals tf.conv2d in value and in every gradient (${wasmForm ? "wasm's gradient form" : "flagged products, kept patches"})`, () => {
    CONV_OPTS.transposedCols = wasmForm;
    DENSE_OPTS.explicitTransposes = wasmForm;
    // 44x44 keeps tf.conv2d's cpu gradients fast; the layer arithmetic is the same as at 84x84.
    const shape = [44, 44, 4] as const;
    const p = initNatureCnn(new Rng(1), [...shape]);
    const rng = new Rng(2);
    const n = 3;
    const bytes = Uint8Array.from({ length: n * 44 * 44 * 4 }, () => rng.int(256));
    const x = tf.tidy(() =>
      tf.div(tf.tensor4d(bytes, [n, ...shape], "float32"), 255)
    ) as tf.Tensor4D;
    const frames: ByteImages = { bytes, shape: [n, ...shape], scale: 1 / 255 };
    const want = natureCnnConv2d(p, x);
    const got = natureCnn(p, frames);
    assert.deepEqual(got.shape, [n, 512]);
    assert.ok(maxAbsDiff(got.dataSync(), want.dataSync()) < 1e-4);
    const fromTensor = natureCnn(p, x);
    assert.ok(maxAbsDiff(fromTensor.dataSync(), want.dataSync()) < 1e-4);

    const vars = flattenParams(p).map(([, v]) => v);
    const proj = tf.randomNormal([512, 1], 0, 1, "float32", 3);
    const score = (y: tf.Tensor2D) => y.matMul(proj).sum() as tf.Scalar;
    const ref = tf.variableGrads(() => score(natureCnnConv2d(p, x)), vars);
    const fast = tf.variableGrads(() => score(natureCnn(p, frames)), vars);
    for (const v of vars) {
      const a = ref.grads[v.name].dataSync();
      const b = fast.grads[v.name].dataSync();
      const scale = Math.max(1e-6, maxAbs(a));
      assert.ok(maxAbsDiff(a, b) / scale < 1e-3, `gradient of ${v.name}`);
    }
    // The input gradient (saliency) through the float path.
    const gx = tf.grad((t: tf.Tensor) => score(natureCnnConv2d(p, t as tf.Tensor4D)))(x);
    const gxFast = tf.grad((t: tf.Tensor) => score(natureCnn(p, t as tf.Tensor4D)))(x);
    const scale = maxAbs(gx.dataSync());
    assert.ok(maxAbsDiff(gx.dataSync(), gxFast.dataSync()) / scale < 1e-3);
    tf.dispose([x, want, got, fromTensor, proj, gx, gxFast, ...Object.values(ref.grads)]);
    tf.dispose(Object.values(fast.grads));
    CONV_OPTS.transposedCols = "auto";
    DENSE_OPTS.explicitTransposes = "auto";
  });
}

Deno.test("natureCnn refuses frames of the wrong size and inputs too small for its kernels", () => {
  const p = initNatureCnn(new Rng(0), [36, 36, 1]);
  assert.throws(
    () => natureCnn(p, { bytes: new Uint8Array(10), shape: [1, 36, 36, 1], scale: 1 }),
    /10 bytes for 1 images of 36x36x1/,
  );
  assert.throws(() => natureCnn(p, tf.zeros([1, 30, 36, 1])), /input 30x36 is too small/);
});
