import assert from "node:assert/strict";
import { choleskySolve, covariance, symmetricEigen } from "./linalg.ts";
import { collapseStats } from "./collapse.ts";
import { Rng } from "../tensor/rng.ts";

Deno.test("Jacobi eigendecomposition reconstructs the matrix", () => {
  const m = Float64Array.from([4, 1, 2, 1, 3, 0, 2, 0, 5]);
  const { values, vectors } = symmetricEigen(m, 3);
  assert.ok(values[0] >= values[1] && values[1] >= values[2]);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += vectors[i * 3 + k] * values[k] * vectors[j * 3 + k];
      assert.ok(Math.abs(s - m[i * 3 + j]) < 1e-9);
    }
  }
});

Deno.test("Cholesky solve and covariance", () => {
  const a = Float64Array.from([4, 2, 2, 3]);
  const x = choleskySolve(a, Float64Array.from([2, 1]), 2, 1);
  assert.ok(Math.abs(4 * x[0] + 2 * x[1] - 2) < 1e-12 && Math.abs(2 * x[0] + 3 * x[1] - 1) < 1e-12);
  const cov = covariance(Float32Array.from([1, 2, 3, 4, 5, 6]), 3, 2);
  assert.deepEqual(Array.from(cov), [4, 4, 4, 4]);
});

Deno.test("collapse stats tell isotropic, low-rank and collapsed embeddings apart", () => {
  const rng = new Rng(0);
  const n = 500;
  const d = 8;
  const iso = Float32Array.from({ length: n * d }, () => rng.normal());
  const lowRank = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const z = rng.normal();
    for (let j = 0; j < d; j++) lowRank[i * d + j] = z * (j + 1);
  }
  const collapsed = new Float32Array(n * d).fill(0.3);
  const a = collapseStats(iso, n, d);
  const b = collapseStats(lowRank, n, d);
  const c = collapseStats(collapsed, n, d);
  assert.ok(a.effectiveRank > 7, `isotropic rank ${a.effectiveRank}`);
  assert.ok(b.effectiveRank < 1.1, `rank-1 rank ${b.effectiveRank}`);
  assert.ok(Math.abs(a.stdMean - 1) < 0.1);
  assert.equal(c.stdMean, 0);
});
