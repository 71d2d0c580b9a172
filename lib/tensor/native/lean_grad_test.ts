/**
 * Lean backward passes (lean_grad.ts) on the native backend: gradients as tfjs computes them,
 * memory freed node by node, higher-order gradients and the caller's `dy` untouched, no leaks.
 */

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { NATIVE_BACKEND } from "./register.ts";
import { compare, nativeSkipReason, randomTensor } from "./testing.ts";

const ignore = nativeSkipReason !== undefined;

function test(name: string, fn: () => Promise<void>) {
  Deno.test({ name: `native lean gradients: ${name}`, ignore, fn });
}

/** A chain of ops whose gradients need their saved inputs, with a branch and a reused tensor. */
function chain(x: tf.Tensor, w: tf.Tensor, depth = 6): tf.Tensor {
  let h = x;
  for (let i = 0; i < depth; i++) {
    const a = tf.tanh(tf.matMul(h, w));
    h = tf.add(tf.mul(a, h), tf.square(a)); // a and h each feed two ops
  }
  return tf.sum(h);
}

test("gradients match cpu (stock tfjs backward pass)", async () => {
  await compare("chain grads", () => {
    const x = randomTensor("lx", [7, 5]);
    const w = randomTensor("lw", [5, 5]);
    const v = tf.variable(w);
    const { value, grads } = tf.variableGrads(() => chain(x, v) as tf.Scalar, [v]);
    const out = [value, grads[v.name], ...tf.grads((a, b) => chain(a, b))([x, w])];
    v.dispose();
    return out;
  }, { atol: 1e-5, rtol: 1e-4 });
});

test("tensors are freed as the backward pass goes, and nothing leaks", async () => {
  await tf.setBackend(NATIVE_BACKEND);
  const x = randomTensor("mx", [64, 64]);
  const w = randomTensor("mw", [64, 64]);
  const bytes: number[] = [];
  // Records the live bytes when the backward pass reaches it (first and last node to run).
  const probe = tf.customGrad((t: tf.Tensor | tf.GradSaveFunc) => ({
    value: tf.clone(t as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => {
      bytes.push(tf.memory().numBytes);
      return dy.clone();
    },
  })) as (t: tf.Tensor) => tf.Tensor;
  const before = tf.memory().numTensors;
  const g = tf.grad((t: tf.Tensor) => probe(chain(probe(t), w, 12)))(x);
  assert.equal(bytes.length, 2);
  assert.ok(bytes[1] < bytes[0], `live bytes at the last node ${bytes[1]} vs first ${bytes[0]}`);
  g.dispose();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, w]);
});

test("second-order gradients and the caller's dy are left alone", async () => {
  await compare("second order", () => {
    const x = randomTensor("sx", [9]);
    const dy = randomTensor("sdy", [9]);
    const f = (t: tf.Tensor) => tf.mul(tf.pow(t, 3), tf.sin(t));
    const g2 = tf.grad((t: tf.Tensor) => tf.sum(tf.grad(f)(t)))(x);
    const withDy = tf.grad(f)(x, dy);
    return [g2, withDy, tf.add(dy, 0)];
  }, { atol: 1e-5, rtol: 1e-4 });
});
