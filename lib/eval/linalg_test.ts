import assert from "node:assert/strict";
import {
  choleskySolve,
  covariance,
  crossProduct,
  gram,
  linalgImpl,
  setLinalg,
  symmetricEigen,
} from "./linalg.ts";
import { nativeLinalg } from "../tensor/native/lapack.ts";
import { collapseStats } from "./collapse.ts";
import { Rng } from "../tensor/rng.ts";

/** Runs `fn` on each implementation: LAPACK (where the BLAS opens) and JS. */
function onBoth(fn: (impl: "lapack" | "js") => void): void {
  for (const impl of nativeLinalg() ? ["lapack", "js"] as const : ["js"] as const) {
    setLinalg(impl);
    try {
      assert.equal(linalgImpl(), impl);
      fn(impl);
    } finally {
      setLinalg("lapack");
    }
  }
}

Deno.test("eigendecomposition reconstructs the matrix (LAPACK and Jacobi)", () =>
  onBoth(() => {
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
  }));

Deno.test("Cholesky solve and covariance (LAPACK and JS)", () =>
  onBoth(() => {
    const a = Float64Array.from([4, 2, 2, 3]);
    const x = choleskySolve(a, Float64Array.from([2, 1]), 2, 1);
    assert.ok(
      Math.abs(4 * x[0] + 2 * x[1] - 2) < 1e-12 && Math.abs(2 * x[0] + 3 * x[1] - 1) < 1e-12,
    );
    const cov = covariance(Float32Array.from([1, 2, 3, 4, 5, 6]), 3, 2);
    assert.deepEqual(Array.from(cov), [4, 4, 4, 4]);
    assert.throws(
      () => choleskySolve(Float64Array.from([1, 2, 2, 1]), Float64Array.from([1, 1]), 2, 1),
      /not positive definite/,
    );
  }));

Deno.test("LAPACK and JS agree on a probe-sized problem, eigenvector signs included", {
  ignore: nativeLinalg() === null,
}, () => {
  const rng = new Rng(3);
  const n = 300, d = 40, m = 3;
  const x = Float64Array.from({ length: n * d }, () => rng.normal());
  const y = Float64Array.from({ length: n * m }, () => rng.normal());
  const run = (impl: "lapack" | "js") => {
    setLinalg(impl);
    try {
      const xtx = gram(x, n, d);
      for (let i = 0; i < d; i++) xtx[i * d + i] += 1;
      return {
        xtx,
        xty: crossProduct(x, y, n, d, m),
        w: choleskySolve(xtx, crossProduct(x, y, n, d, m), d, m),
        eig: symmetricEigen(covariance(Float32Array.from(x), n, d), d),
      };
    } finally {
      setLinalg("lapack");
    }
  };
  const a = run("lapack");
  const b = run("js");
  const close = (p: Float64Array, q: Float64Array, tol: number, what: string) => {
    const worst = p.reduce((w, v, i) => Math.max(w, Math.abs(v - q[i])), 0);
    assert.ok(worst < tol, `${what}: differs by ${worst}`);
  };
  close(a.xtx, b.xtx, 1e-9, "X^T X");
  close(a.xty, b.xty, 1e-9, "X^T Y");
  close(a.w, b.w, 1e-9, "ridge weights");
  close(a.eig.values, b.eig.values, 1e-9, "eigenvalues");
  close(a.eig.vectors, b.eig.vectors, 1e-6, "eigenvectors");
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
