/**
 * Dense linear algebra on the BLAS the native backend uses (`blas.ts`): Gram matrices by
 * `dsyrk`, products by `dgemm` (float32 similarities by `sgemm`), Cholesky solves by LAPACK's `dpotrf`/`dpotrs`, symmetric
 * eigendecomposition by `dsyevd`. The probes, PCA and collapse monitors run on it (through
 * `lib/eval/linalg.ts`, which falls back to plain JS where no BLAS can be opened).
 *
 * Matrices are row-major `Float64Array`s. LAPACK is column-major: a symmetric matrix is its own
 * transpose, so it passes as it is; right-hand sides are transposed in and out. OpenBLAS runs
 * single-threaded here, so results do not depend on the machine's core count.
 *
 * @module
 */

import { locateBlas, prefixed } from "./blas.ts";

/** The routines, each name without the library's prefix (`scipy_` in the wheel). */
const SYMBOLS = {
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
  // order, uplo, trans, n, k, alpha, a, lda, beta, c, ldc
  cblas_dsyrk: {
    parameters: ["i32", "i32", "i32", "i32", "i32", "f64", "buffer", "i32", "f64", "buffer", "i32"],
    result: "void",
  },
  // order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
  cblas_dgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f64",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f64",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  // order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  // Fortran: every argument by reference, then the hidden lengths of the character arguments.
  dpotrf_: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "usize"],
    result: "void",
  },
  dpotrs_: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "usize",
    ],
    result: "void",
  },
  dsyevd_: {
    parameters: [
      "buffer", // jobz
      "buffer", // uplo
      "buffer", // n
      "buffer", // a
      "buffer", // lda
      "buffer", // w
      "buffer", // work
      "buffer", // lwork
      "buffer", // iwork
      "buffer", // liwork
      "buffer", // info
      "usize",
      "usize",
    ],
    result: "void",
  },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112, UPPER = 121;
const UPLO_L = new Uint8Array([76]); // 'L'
const JOBZ_V = new Uint8Array([86]); // 'V'

/** A matrix LAPACK could not factor: not positive definite (Cholesky) or no convergence. */
export class LapackError extends Error {}

/** The routines of {@linkcode nativeLinalg}. */
export interface NativeLinalg {
  /** The library they run on. */
  library: string;
  /** `X^T X [d, d]` (full, symmetric) of `x [n, d]`. */
  gram(x: Float64Array, n: number, d: number): Float64Array;
  /** `X^T Y [d, m]` of `x [n, d]` and `y [n, m]`. */
  crossProduct(x: Float64Array, y: Float64Array, n: number, d: number, m: number): Float64Array;
  /** `A B^T [n, m]` (float32) of `a [n, d]` and `b [m, d]`. */
  rowProducts(a: Float32Array, b: Float32Array, n: number, m: number, d: number): Float32Array;
  /** `A^-1 B [d, m]` for symmetric positive definite `a [d, d]`; throws {@linkcode LapackError}. */
  choleskySolve(a: Float64Array, b: Float64Array, d: number, m: number): Float64Array;
  /** Eigenvalues (ascending) and eigenvectors (row i of `vectors`: the i-th one) of `a [d, d]`. */
  symmetricEigen(a: Float64Array, d: number): { values: Float64Array; rowVectors: Float64Array };
}

let cached: NativeLinalg | null | undefined;

/**
 * The routines on the project's BLAS, or null where none can be opened (no FFI permission, no
 * library): the callers then compute in JS. Opened once per process.
 */
export function nativeLinalg(): NativeLinalg | null {
  if (cached !== undefined) return cached;
  cached = null;
  try {
    if (typeof Deno.dlopen !== "function") return null;
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    const choice = locateBlas({ log: (line) => console.error(line) });
    const lib = Deno.dlopen(choice.path, prefixed(SYMBOLS, choice.prefix));
    // One thread: the same sums in the same order on every machine.
    lib.symbols.openblas_set_num_threads(1);
    cached = routines(lib.symbols, choice.path);
  } catch {
    cached = null;
  }
  return cached;
}

function routines(s: Symbols, library: string): NativeLinalg {
  const int = (v: number) => new Int32Array([v]);
  return {
    library,
    gram(x, n, d) {
      const c = new Float64Array(d * d);
      if (n > 0) s.cblas_dsyrk(ROW_MAJOR, UPPER, TRANS, d, n, 1, x, d, 0, c, d);
      for (let p = 0; p < d; p++) for (let q = 0; q < p; q++) c[p * d + q] = c[q * d + p];
      return c;
    },
    crossProduct(x, y, n, d, m) {
      const c = new Float64Array(d * m);
      if (n > 0) s.cblas_dgemm(ROW_MAJOR, TRANS, NO_TRANS, d, m, n, 1, x, d, y, m, 0, c, m);
      return c;
    },
    rowProducts(a, b, n, m, d) {
      const c = new Float32Array(n * m);
      if (n > 0 && m > 0) {
        s.cblas_sgemm(ROW_MAJOR, NO_TRANS, TRANS, n, m, d, 1, a, d, b, d, 0, c, m);
      }
      return c;
    },
    choleskySolve(a, b, d, m) {
      // Row-major `a` read as column-major is `a^T = a`; its 'L' factor is our upper triangle.
      const f = Float64Array.from(a);
      const info = int(0);
      s.dpotrf_(UPLO_L, int(d), f, int(d), info, 1n);
      if (info[0] !== 0) {
        throw new LapackError(
          info[0] > 0
            ? `choleskySolve: matrix is not positive definite (leading minor ${info[0]})`
            : `choleskySolve: dpotrf argument ${-info[0]} is invalid`,
        );
      }
      const cols = transpose(b, d, m);
      s.dpotrs_(UPLO_L, int(d), int(m), f, int(d), cols, int(d), info, 1n);
      if (info[0] !== 0) {
        throw new LapackError(`choleskySolve: dpotrs argument ${-info[0]} is invalid`);
      }
      return transpose(cols, m, d);
    },
    symmetricEigen(a, d) {
      const v = Float64Array.from(a);
      const w = new Float64Array(d);
      const info = int(0);
      // Workspace query, then the decomposition.
      const work0 = new Float64Array(1);
      const iwork0 = new Int32Array(1);
      s.dsyevd_(
        JOBZ_V,
        UPLO_L,
        int(d),
        v,
        int(d),
        w,
        work0,
        int(-1),
        iwork0,
        int(-1),
        info,
        1n,
        1n,
      );
      const lwork = Math.max(1, Math.ceil(work0[0]));
      const liwork = Math.max(1, iwork0[0]);
      s.dsyevd_(
        JOBZ_V,
        UPLO_L,
        int(d),
        v,
        int(d),
        w,
        new Float64Array(lwork),
        int(lwork),
        new Int32Array(liwork),
        int(liwork),
        info,
        1n,
        1n,
      );
      if (info[0] !== 0) throw new LapackError(`symmetricEigen: dsyevd failed (info ${info[0]})`);
      // Column j of the column-major result is eigenvector j: row j of our row-major array.
      return { values: w, rowVectors: v };
    },
  };
}

/** `[rows, cols]` row-major -> `[cols, rows]` row-major. */
function transpose(x: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}
