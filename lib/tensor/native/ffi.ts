/**
 * The two native libraries of the `native` backend, opened through Deno FFI: OpenBLAS (chosen
 * by `blas.ts`; the kernels call its `cblas_sgemm`, the probes its LAPACK) and the project's own
 * kernels (`kernels.c`, compiled on first use by `build.ts`). Both are called on the tensors' typed arrays directly: FFI
 * `buffer` parameters pass a pointer to the array's (or subarray's) first element, no copy.
 *
 * @module
 */

import {
  BLAS_WHEEL,
  type BlasChoice,
  BlasUnavailable,
  kernelWarning,
  locateBlas,
  prefixed,
} from "./blas.ts";
import { buildKernels, type NativeBuild, NativeBuildError } from "./build.ts";

/**
 * `Deno.dlopen` symbol table of OpenBLAS, each name without the library's prefix (`scipy_` in
 * the wheel): what is reported about it. Its
 * `cblas_sgemm` is called by kernels.c (found there with `dlsym`, see `nk_use_blas`).
 */
const BLAS_SYMBOLS = {
  openblas_get_config: { parameters: [], result: "pointer" },
  openblas_get_corename: { parameters: [], result: "pointer" },
  openblas_get_num_threads: { parameters: [], result: "i32" },
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
} as const;

/** Binary ops and comparisons: op, rank, shape, a, a's strides, b, b's strides, out. */
const BROADCAST_OP = {
  parameters: ["i32", "i32", "buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
  result: "i32",
} as const;

/**
 * `Deno.dlopen` symbol table of kernels.c (see the C file for each function's contract). Sizes
 * are int32: tfjs tensors hold fewer than 2^31 elements, and numbers (not BigInts) keep the
 * calls on V8's fast path.
 */
const KERNEL_SYMBOLS = {
  nk_init: { parameters: ["i32", "i32"], result: "i32" }, // threads, spin (microseconds)
  nk_pin: { parameters: ["buffer"], result: "i32" },
  nk_use_blas: { parameters: ["buffer", "buffer"], result: "i32" }, // library, symbol prefix
  nk_sgemm: {
    parameters: [
      "i32", // transA (0 or 1)
      "i32", // transB
      "i32", // M
      "i32", // N
      "i32", // K
      "buffer", // A
      "i32", // lda
      "buffer", // B
      "i32", // ldb
      "f32", // beta
      "buffer", // C
      "i32", // ldc
      "buffer", // bias (null: none), added to every row of C
    ],
    result: "i32",
  },
  nk_version: { parameters: [], result: "i32" },
  nk_unary: { parameters: ["i32", "i32", "buffer", "buffer", "f32", "f32"], result: "i32" },
  nk_binary: BROADCAST_OP,
  nk_compare: BROADCAST_OP,
  nk_reduce: {
    parameters: ["i32", "i32", "i32", "i32", "buffer", "buffer", "f32"],
    result: "i32",
  },
  nk_softmax: { parameters: ["i32", "i32", "buffer", "buffer"], result: "i32" },
  nk_copy: {
    parameters: ["i32", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  nk_gather: {
    parameters: ["i32", "i32", "i32", "buffer", "i32", "buffer", "buffer"],
    result: "i32",
  },
  nk_unsorted_segment_sum: {
    parameters: ["i32", "i32", "buffer", "buffer", "i32", "buffer"],
    result: "i32",
  },
  nk_batch_matmul: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "buffer",
      "i32",
      "i32",
      "i32",
      "buffer",
      "i32",
      "i32",
      "i32",
      "buffer",
      "i32",
    ],
    result: "i32",
  },
  nk_adamw: {
    parameters: [
      "i32", // n
      "buffer", // p
      "buffer", // g
      "buffer", // m
      "buffer", // v
      "f32", // gradient scale
      "f32", // lr
      "f32", // beta1
      "f32", // 1 - beta1
      "f32", // beta2
      "f32", // 1 - beta2
      "f32", // eps
      "f32", // 1 - beta1^t
      "f32", // 1 - beta2^t
      "f32", // 1 - lr * weight decay (1 where the parameter does not decay)
      "buffer", // p'
      "buffer", // m'
      "buffer", // v'
    ],
    result: "i32",
  },
  nk_axpby: { parameters: ["i32", "buffer", "buffer", "f32", "f32", "buffer"], result: "i32" },
  nk_gelu: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  nk_gelu_grad: { parameters: ["i32", "buffer", "buffer", "buffer"], result: "i32" },
  nk_layer_norm: {
    parameters: [
      "i32", // rows
      "i32", // cols
      "buffer", // x
      "buffer", // g (null: no affine part)
      "buffer", // b
      "f32", // eps
      "buffer", // out
      "buffer", // mean
      "buffer", // rstd
    ],
    result: "i32",
  },
  nk_layer_norm_grad: {
    parameters: [
      "i32", // rows
      "i32", // cols
      "buffer", // x
      "buffer", // mean
      "buffer", // rstd
      "buffer", // g (null: no affine part)
      "buffer", // dy
      "buffer", // dx
      "buffer", // dg (null: not wanted)
      "buffer", // db
    ],
    result: "i32",
  },
  nk_attention: {
    parameters: [
      "i32", // batch
      "i32", // n (tokens)
      "i32", // nq (queries: the last nq tokens)
      "i32", // heads
      "i32", // dh (width per head)
      "buffer", // qkv [B, N, 3, H, dh]
      "buffer", // mask (null: none)
      "i32", // mask strides: sample, head, query, key
      "i32",
      "i32",
      "i32",
      "f32", // scale
      "buffer", // out [B, NQ, H, dh]
      "buffer", // probs [B, H, NQ, N]
    ],
    result: "i32",
  },
  nk_attention_grad: {
    parameters: [
      "i32", // batch
      "i32", // n
      "i32", // nq
      "i32", // heads
      "i32", // dh
      "buffer", // qkv
      "buffer", // probs
      "buffer", // dout [B, NQ, H, dh]
      "f32", // scale
      "buffer", // dqkv [B, N, 3, H, dh]
    ],
    result: "i32",
  },
  // mode, batch, 13 sizes of the geometry (conv.ts), cout, a, b, out
  nk_conv: {
    parameters: [...Array(16).fill("i32"), "buffer", "buffer", "buffer"] as ("i32" | "buffer")[],
    result: "i32",
  },
} as const;

/** The OpenBLAS functions used. */
export type Blas = Deno.DynamicLibrary<typeof BLAS_SYMBOLS>["symbols"];
/** The kernels.c functions. */
export type Kernels = Deno.DynamicLibrary<typeof KERNEL_SYMBOLS>["symbols"];

/** Both libraries, opened, with what is worth reporting about them. */
export interface NativeLibs {
  blas: Blas;
  k: Kernels;
  /** The library opened, and why (see `blas.ts`). */
  blasChoice: BlasChoice;
  /** `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64". */
  blasConfig: string;
  /** `openblas_get_corename()`: the kernel family it chose for this CPU ("Haswell", "SkylakeX"). */
  blasCore: string;
  /** Set when the library runs generic kernels on a CPU with AVX2 (see `kernelWarning`). */
  blasWarning?: string;
  /** OpenBLAS' own threads (1: products are split by the kernels' pool instead). */
  blasThreads: number;
  /** Threads of the kernels' pool (the caller included). */
  threads: number;
  build: NativeBuild;
}

/** Why the native backend cannot load here: one line, read after "requested but ...". */
export class NativeUnavailable extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

let opened: NativeLibs | undefined;

/**
 * Threads for the kernel pool: JEPA_NATIVE_THREADS, else every CPU the OS reports. Results do
 * not depend on the count (the work is split by shape alone), only speed does: on the project's
 * 2-core machine two threads run the ijepa-step benchmark at 94 samples/s against 56 with one.
 * Where another process keeps a core busy, JEPA_NATIVE_THREADS=1 avoids fighting over it.
 */
export function poolThreads(): number {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("JEPA_NATIVE_THREADS") || undefined;
  } catch { /* no env permission */ }
  const n = fromEnv ? Number(fromEnv) : navigator.hardwareConcurrency;
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 64) : 1;
}

/**
 * How long an idle pool worker spins before it sleeps, in microseconds: JEPA_NATIVE_SPIN_US,
 * else 5,000. Waking a sleeping worker costs tens to hundreds of microseconds (more in a VM);
 * kernels come in quick succession with the caller's work between them, so spinning through
 * those gaps pays (the ijepa-step ran 5-10% faster on the 2-core VM than with 0.1 ms). Where
 * other processes need the cores, a smaller value (or JEPA_NATIVE_THREADS=1) gives them back.
 */
export function poolSpinMicros(): number {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("JEPA_NATIVE_SPIN_US") || undefined;
  } catch { /* no env permission */ }
  const us = fromEnv === undefined ? 5000 : Number(fromEnv);
  return Number.isInteger(us) && us >= 0 ? Math.min(us, 1_000_000) : 5000;
}

/**
 * Opens OpenBLAS (fetching the pinned wheel on first use, see `blas.ts`) and the kernels
 * (compiling them on first use), once per process; `log` hears about a fetch and a slow BLAS.
 * Throws {@linkcode NativeUnavailable} with a one-line reason when FFI is not permitted, no
 * OpenBLAS can be had, or there is no C compiler.
 */
export function openNative(log: (line: string) => void = () => {}): NativeLibs {
  if (opened) return opened;
  if (typeof Deno.dlopen !== "function") {
    throw new NativeUnavailable("Deno.dlopen is not available in this runtime");
  }
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      throw new NativeUnavailable("FFI is not permitted (run with --allow-ffi or -A)");
    }
  } catch (err) {
    if (err instanceof NativeUnavailable) throw err;
  }
  let blasLib: Deno.DynamicLibrary<typeof BLAS_SYMBOLS>;
  let choice: BlasChoice;
  try {
    choice = locateBlas({ log });
  } catch (err) {
    if (err instanceof BlasUnavailable) throw new NativeUnavailable(err.reason);
    throw err;
  }
  const blasName = choice.path;
  try {
    blasLib = Deno.dlopen(blasName, prefixed(BLAS_SYMBOLS, choice.prefix));
  } catch (err) {
    const msg = (err instanceof Error ? err.message.split("\n")[0] : String(err))
      .replace(/^(Could not open library: )+/, "");
    const why = choice.notes.length ? `; ${choice.notes.join("; ")}` : "";
    const fix = choice.source === "env"
      ? `JEPA_OPENBLAS names it: unset it to let the backend fetch ${BLAS_WHEEL.project}`
      : `python3 -m pip must reach PyPI to fetch ${BLAS_WHEEL.project}, or: apt-get install ` +
        `libopenblas0`;
    throw new NativeUnavailable(
      `OpenBLAS is not installed: ${blasName} could not be loaded (${msg}${why}); ${fix}`,
    );
  }
  let build: NativeBuild;
  try {
    build = buildKernels();
  } catch (err) {
    blasLib.close();
    if (err instanceof NativeBuildError) throw new NativeUnavailable(err.reason);
    throw err;
  }
  let kLib: Deno.DynamicLibrary<typeof KERNEL_SYMBOLS>;
  try {
    kLib = Deno.dlopen(build.path, KERNEL_SYMBOLS);
  } catch (err) {
    blasLib.close();
    const msg = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new NativeUnavailable(`the compiled kernels could not be loaded: ${msg}`);
  }
  const blas = blasLib.symbols;
  // The kernels call cblas_sgemm themselves, single-threaded, on blocks their pool hands out
  // (one set of threads for every kernel); this also keeps OpenBLAS loaded for the process.
  const cString = (text: string) => new TextEncoder().encode(`${text}\0`);
  if (kLib.symbols.nk_use_blas(cString(blasName), cString(choice.prefix)) !== 0) {
    blasLib.close();
    kLib.close();
    throw new NativeUnavailable(`${blasName} has no ${choice.prefix}cblas_sgemm`);
  }
  const configPtr = blas.openblas_get_config();
  const corePtr = blas.openblas_get_corename();
  const blasCore = corePtr ? Deno.UnsafePointerView.getCString(corePtr).trim() : "unknown";
  const blasWarning = kernelWarning(blasCore, choice);
  if (blasWarning) log(blasWarning);
  const threads = kLib.symbols.nk_init(poolThreads(), poolSpinMicros());
  opened = {
    blas,
    k: kLib.symbols,
    blasChoice: choice,
    blasConfig: configPtr ? Deno.UnsafePointerView.getCString(configPtr).trim() : "",
    blasCore,
    blasWarning,
    blasThreads: blas.openblas_get_num_threads(),
    threads,
    build,
  };
  return opened;
}

/** Options of {@linkcode gemm}. */
export interface GemmFlags {
  transA?: boolean;
  transB?: boolean;
  /** Add the product to `c` rather than overwrite it. */
  accumulate?: boolean;
  /** `n` values added to every row of the product (a linear layer's bias). */
  bias?: Float32Array;
}

/**
 * `c = op(a) @ op(b) (+ bias)` (`c += ...` with `accumulate`) on contiguous row-major float32 matrices:
 * `op(a)` is `[m, k]` (`a` stored `[k, m]` with `transA`), `op(b)` is `[k, n]`, `c` is `[m, n]`;
 * by OpenBLAS on blocks of `c` split over the kernels' pool. Subarrays pass without a copy.
 */
export function gemm(
  libs: NativeLibs,
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  { transA = false, transB = false, accumulate = false, bias }: GemmFlags = {},
): void {
  const lda = transA ? m : k;
  const ldb = transB ? k : n;
  const beta = accumulate ? 1 : 0;
  libs.k.nk_sgemm(+transA, +transB, m, n, k, a, lda, b, ldb, beta, c, n, bias ?? null);
}
