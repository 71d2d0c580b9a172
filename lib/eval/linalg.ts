/**
 * Dense float64 linear algebra for the evaluations (probes, PCA, collapse monitors): Gram and
 * cross products, covariance, symmetric eigendecomposition, Cholesky solves. Each runs on LAPACK
 * and the project's BLAS (`lib/tensor/native/lapack.ts`) where that opens, and in plain JS
 * otherwise (cyclic Jacobi, textbook Cholesky): the probes of a 1,568-wide token grid take
 * seconds in JS and milliseconds in LAPACK. {@linkcode setLinalg} forces one for comparisons.
 * Both give the same numbers up to float64 rounding; eigenvectors come with one sign convention
 * (largest component positive), so figures do not flip between them.
 *
 * @module
 */

import { type NativeLinalg, nativeLinalg } from "../tensor/native/lapack.ts";

let forced: "js" | undefined;

/** Runs the routines on LAPACK when it opens (`"lapack"`, the default) or always in JS. */
export function setLinalg(impl: "lapack" | "js"): void {
  forced = impl === "js" ? "js" : undefined;
}

/** What the routines run on now. */
export function linalgImpl(): "lapack" | "js" {
  return lapack() ? "lapack" : "js";
}

function lapack(): NativeLinalg | null {
  return forced === "js" ? null : nativeLinalg();
}

/** `X^T X [d, d]` of `x [n, d]`. */
export function gram(x: Float64Array, n: number, d: number): Float64Array {
  const native = lapack();
  if (native) return native.gram(x, n, d);
  const out = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let p = 0; p < d; p++) {
      const xp = x[row + p];
      if (xp === 0) continue;
      for (let q = p; q < d; q++) out[p * d + q] += xp * x[row + q];
    }
  }
  for (let p = 0; p < d; p++) for (let q = 0; q < p; q++) out[p * d + q] = out[q * d + p];
  return out;
}

/** `X^T Y [d, m]` of `x [n, d]` and `y [n, m]`. */
export function crossProduct(
  x: Float64Array,
  y: Float64Array,
  n: number,
  d: number,
  m: number,
): Float64Array {
  const native = lapack();
  if (native) return native.crossProduct(x, y, n, d, m);
  const out = new Float64Array(d * m);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < d; p++) {
      const xp = x[i * d + p];
      if (xp === 0) continue;
      for (let c = 0; c < m; c++) out[p * m + c] += xp * y[i * m + c];
    }
  }
  return out;
}

/** Column means of `x [n, d]`. */
export function columnMeans(x: Float32Array | Float64Array, n: number, d: number): Float64Array {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  return mean;
}

/** `A B^T [n, m]` of `a [n, d]` and `b [m, d]` (float32: similarities for retrieval). */
export function rowProducts(
  a: Float32Array,
  b: Float32Array,
  n: number,
  m: number,
  d: number,
): Float32Array {
  const native = lapack();
  if (native) return native.rowProducts(a, b, n, m, d);
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += a[i * d + k] * b[j * d + k];
      out[i * m + j] = s;
    }
  }
  return out;
}

/** Covariance `[d, d]` of the rows of `x [n, d]` (divided by n - 1). */
export function covariance(x: Float32Array | Float64Array, n: number, d: number): Float64Array {
  const mean = columnMeans(x, n, d);
  // Blocks of centred rows bound the float64 copy (probes take covariances of 150K tokens).
  const block = Math.max(1, Math.floor((1 << 21) / Math.max(1, d)));
  const centred = new Float64Array(Math.min(n, block) * d);
  const cov = new Float64Array(d * d);
  for (let r0 = 0; r0 < n; r0 += block) {
    const rows = Math.min(block, n - r0);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < d; j++) centred[i * d + j] = x[(r0 + i) * d + j] - mean[j];
    }
    const part = gram(centred.subarray(0, rows * d), rows, d);
    for (let k = 0; k < cov.length; k++) cov[k] += part[k];
  }
  const denominator = Math.max(1, n - 1);
  for (let k = 0; k < cov.length; k++) cov[k] /= denominator;
  return cov;
}

/**
 * Eigenvalues (descending) and eigenvectors (columns of `vectors`, `[d, d]` row-major) of a
 * symmetric matrix; each eigenvector's largest component (the first of equals) is positive.
 */
export function symmetricEigen(
  matrix: Float64Array,
  d: number,
): { values: Float64Array; vectors: Float64Array } {
  const native = lapack();
  let out: { values: Float64Array; vectors: Float64Array };
  if (native) {
    // LAPACK: ascending values, eigenvector i in row i.
    const { values, rowVectors } = native.symmetricEigen(matrix, d);
    out = { values: values.reverse(), vectors: new Float64Array(d * d) };
    for (let c = 0; c < d; c++) {
      const src = (d - 1 - c) * d;
      for (let r = 0; r < d; r++) out.vectors[r * d + c] = rowVectors[src + r];
    }
  } else out = jacobiEigen(matrix, d);
  for (let c = 0; c < d; c++) {
    let big = 0;
    for (let r = 0; r < d; r++) {
      if (Math.abs(out.vectors[r * d + c]) > Math.abs(out.vectors[big * d + c])) big = r;
    }
    if (out.vectors[big * d + c] < 0) { for (let r = 0; r < d; r++) out.vectors[r * d + c] *= -1; }
  }
  return out;
}

/** {@linkcode symmetricEigen} by cyclic Jacobi rotations (matrices of a few hundred at most). */
function jacobiEigen(
  matrix: Float64Array,
  d: number,
): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += a[p * d + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p];
          const akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k];
          const aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p];
          const vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: d }, (_, i) => i).sort((i, j) => a[j * d + j] - a[i * d + i]);
  const values = Float64Array.from(order, (i) => a[i * d + i]);
  const vectors = new Float64Array(d * d);
  order.forEach((src, dst) => {
    for (let k = 0; k < d; k++) vectors[k * d + dst] = v[k * d + src];
  });
  return { values, vectors };
}

/** Solves `A x = b` for symmetric positive definite `A [d, d]` (Cholesky); `b` is `[d, m]`. */
export function choleskySolve(
  aIn: Float64Array,
  b: Float64Array,
  d: number,
  m: number,
): Float64Array {
  const native = lapack();
  if (native) return native.choleskySolve(aIn, b, d, m);
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = aIn[i * d + j];
      for (let k = 0; k < j; k++) sum -= l[i * d + k] * l[j * d + k];
      if (i === j) {
        if (sum <= 0) throw new Error("choleskySolve: matrix is not positive definite");
        l[i * d + i] = Math.sqrt(sum);
      } else l[i * d + j] = sum / l[j * d + j];
    }
  }
  const x = Float64Array.from(b);
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < d; i++) {
      let sum = x[i * m + c];
      for (let k = 0; k < i; k++) sum -= l[i * d + k] * x[k * m + c];
      x[i * m + c] = sum / l[i * d + i];
    }
    for (let i = d - 1; i >= 0; i--) {
      let sum = x[i * m + c];
      for (let k = i + 1; k < d; k++) sum -= l[k * d + i] * x[k * m + c];
      x[i * m + c] = sum / l[i * d + i];
    }
  }
  return x;
}
