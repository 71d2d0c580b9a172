/**
 * Test helpers of the native backend: run the same computation on the stock cpu backend and on
 * `native`, and compare to float32 tolerance.
 *
 * @module
 */

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../rng.ts";
import { NATIVE_BACKEND, registerNativeBackend } from "./register.ts";

/** Why native cannot run here, or undefined when it can (tests are then ignored, not failed). */
export const nativeSkipReason: string | undefined = (() => {
  try {
    registerNativeBackend();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
})();

/** A tensor's contents read back. */
export interface Result {
  shape: number[];
  dtype: tf.DataType;
  values: number[];
}

async function runOn(backend: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<Result[]> {
  await tf.setBackend(backend);
  // The cpu backend's "install tfjs-node" banner is noise in tests.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  const before = tf.memory().numTensors;
  const out = tf.tidy(fn);
  const list = Array.isArray(out) ? out : [out];
  const results = list.map((t) => ({
    shape: t.shape.slice(),
    dtype: t.dtype,
    values: Array.from(t.dataSync() as ArrayLike<number>),
  }));
  tf.dispose(list);
  assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
  return results;
}

/** Runs `fn` on cpu then on native; `fn` must build its inputs itself (same on both). */
export async function onBoth(
  fn: () => tf.Tensor | tf.Tensor[],
): Promise<{ cpu: Result[]; native: Result[] }> {
  const cpu = await runOn("cpu", fn);
  const native = await runOn(NATIVE_BACKEND, fn);
  return { cpu, native };
}

/** Tolerances: |native - cpu| <= atol + rtol * |cpu|. */
export interface Tolerance {
  atol?: number;
  rtol?: number;
}

/** Asserts equal shapes and dtypes and values within tolerance (NaN matches NaN). */
export function assertClose(
  native: Result[],
  cpu: Result[],
  what: string,
  { atol = 1e-5, rtol = 1e-5 }: Tolerance = {},
): void {
  assert.equal(native.length, cpu.length, `${what}: number of outputs`);
  cpu.forEach((c, k) => {
    const n = native[k];
    assert.deepEqual(n.shape, c.shape, `${what}[${k}]: shape`);
    assert.equal(n.dtype, c.dtype, `${what}[${k}]: dtype`);
    for (let i = 0; i < c.values.length; i++) {
      const x = n.values[i];
      const y = c.values[i];
      if (Number.isNaN(y) && Number.isNaN(x)) continue;
      if (x === y) continue;
      const ok = Math.abs(x - y) <= atol + rtol * Math.abs(y);
      if (!ok) {
        assert.fail(`${what}[${k}] at ${i} of shape [${c.shape}]: native ${x} vs cpu ${y}`);
      }
    }
  });
}

/** Runs on both and compares. */
export async function compare(
  what: string,
  fn: () => tf.Tensor | tf.Tensor[],
  tol?: Tolerance,
): Promise<void> {
  const { cpu, native } = await onBoth(fn);
  assertClose(native, cpu, what, tol);
}

/** Seeded values in [lo, hi). */
export function randomValues(seed: number | string, n: number, lo = -1, hi = 1): Float32Array {
  const rng = new Rng(typeof seed === "number" ? seed : hashString(seed));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(lo, hi);
  return out;
}

/** A seeded float32 tensor of `shape` with values in [lo, hi). */
export function randomTensor(
  seed: number | string,
  shape: number[],
  lo = -1,
  hi = 1,
): tf.Tensor {
  return tf.tensor(randomValues(seed, shape.reduce((a, b) => a * b, 1), lo, hi), shape);
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
