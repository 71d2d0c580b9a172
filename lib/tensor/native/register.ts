/**
 * The `native` tfjs backend: tfjs' stock cpu backend with its hot kernels replaced by native
 * code (OpenBLAS and kernels.c, through Deno FFI).
 *
 * ```ts
 * import { registerNativeBackend } from "./register.ts";
 * registerNativeBackend(); // throws NativeUnavailable with the reason where it cannot load
 * await tf.setBackend("native");
 * ```
 *
 * The backend is a subclass of the cpu backend, so tensors live in the same typed arrays and
 * every cpu kernel works on it unchanged: the cpu registry is copied under the name `native`,
 * then the kernels of {@linkcode NATIVE_KERNEL_NAMES} are replaced. A native kernel that meets
 * inputs it does not handle (another dtype, NCHW, an unusual attribute) calls the cpu kernel
 * it replaced.
 *
 * Three things differ from cpu besides speed: outputs of native kernels come from a pool of
 * recycled arrays (pool.ts; values read out with `dataSync`/`data` are copies of them); the
 * C kernels and OpenBLAS share one pool of threads (kernels.c), splitting work in parts that
 * depend on the shapes only, so a seed gives the same numbers every run; and while `native` is
 * the active backend, gradient scopes free each tape node's tensors as soon as the backward
 * pass is done with it (lean_grad.ts), rather than all at the end.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { CONV_KERNELS } from "./conv.ts";
import { ELEMENTWISE_KERNELS } from "./elementwise.ts";
import { type NativeLibs, NativeUnavailable, openNative } from "./ffi.ts";
import { FUSED_KERNELS } from "./fused.ts";
import { LAYOUT_KERNELS } from "./layout.ts";
import { installLeanGradients } from "./lean_grad.ts";
import { matMulKernels } from "./matmul.ts";
import { expose, isPooled, release } from "./pool.ts";
import { REDUCE_KERNELS } from "./reduce.ts";
import type { CpuLikeBackend, NativeKernel } from "./util.ts";

/** The backend's registered name. */
export const NATIVE_BACKEND = "native";

/** What {@linkcode registerNativeBackend} reports. */
export interface NativeInfo {
  /** OpenBLAS' own description, e.g. "OpenBLAS 0.3.34.0.0 DYNAMIC_ARCH NO_AFFINITY SkylakeX". */
  openblas: string;
  /** The library file, and where it came from: `JEPA_OPENBLAS`, the fetched wheel, the system. */
  blasLibrary: string;
  blasSource: "env" | "wheel" | "system";
  /** The kernel family OpenBLAS chose for this CPU (`openblas_get_corename()`). */
  blasCore: string;
  /** Why the library is not the fetched wheel, when it is not (no pip, no network, ...). */
  blasNotes?: string[];
  /** Set when the BLAS runs generic kernels on a CPU with AVX2: it is slow here. */
  blasWarning?: string;
  /** OpenBLAS' own threads: 1, products are split over the kernels' pool instead. */
  openblasThreads: number;
  /** Threads of the kernels' pool. */
  threads: number;
  /** The compiled kernel library and whether this process compiled it. */
  library: string;
  compiled: boolean;
  compileMs: number;
  compiler: string;
  /** Kernels running natively (the rest are the cpu backend's). */
  kernels: string[];
}

let registered: NativeInfo | undefined;

type CpuBackendClass = new () => tf.KernelBackend & {
  firstUse?: boolean;
  data: { has(id: tf.DataId): boolean; get(id: tf.DataId): { values: unknown } };
};

/** The cpu backend's class, from its registered factory. */
function cpuBackendClass(): CpuBackendClass {
  const factory = tf.findBackendFactory("cpu");
  if (!factory) throw new NativeUnavailable("tfjs' cpu backend is not registered");
  const instance = factory() as tf.KernelBackend;
  const cls = instance.constructor as CpuBackendClass;
  instance.dispose();
  return cls;
}

/** The native kernels, given the cpu kernels some of them hand work to. */
function nativeKernels(cpu: Map<string, tf.KernelFunc>): Record<string, NativeKernel> {
  const prelu = cpu.get("Prelu") as unknown as (args: unknown) => tf.TensorInfo;
  return {
    ...ELEMENTWISE_KERNELS,
    ...REDUCE_KERNELS,
    ...LAYOUT_KERNELS,
    ...matMulKernels(prelu),
    ...CONV_KERNELS,
  };
}

/** Names of the kernels the native backend replaces. */
export const NATIVE_KERNEL_NAMES: readonly string[] = Object.keys(
  nativeKernels(new Map()),
).sort();

/** Names of the kernels only the native backend has (fused_ops.ts: GELU, layer norm). */
export const NATIVE_FUSED_KERNEL_NAMES: readonly string[] = Object.keys(FUSED_KERNELS).sort();

const fallbacks = new Map<string, number>();

/**
 * How often each replaced kernel handed a call to the cpu kernel since the last reset (inputs
 * it does not handle: another dtype, NCHW, ...). Tests use it to check the native path ran.
 */
export function nativeFallbacks(): Record<string, number> {
  return Object.fromEntries(fallbacks);
}

/** Clears {@linkcode nativeFallbacks}. */
export function resetNativeFallbacks(): void {
  fallbacks.clear();
}

/**
 * Marks a stock cpu kernel's inputs as never to be recycled (pool.ts): cpu kernels may return
 * views of their inputs (the cpu Slice does).
 */
function exposeInputs(args: Parameters<tf.KernelFunc>[0]): void {
  const backend = args.backend as unknown as CpuLikeBackend;
  for (const input of Object.values(args.inputs)) {
    for (const t of Array.isArray(input) ? input : [input]) {
      if (t && (t as tf.TensorInfo).dataId) {
        expose(backend.data.get((t as tf.TensorInfo).dataId).values);
      }
    }
  }
}

/**
 * Stock cpu kernels known to return no view of their inputs' arrays: they share the input's
 * data entry (reference-counted) instead. Every other cpu kernel exposes its inputs.
 */
const NO_VIEW_CPU_KERNELS = new Set(["Reshape", "Identity", "ExpandDims", "Squeeze"]);

/** A stock cpu kernel, run on inputs it may keep views of. */
function cpuKernel(name: string, kernel: tf.KernelFunc): tf.KernelFunc {
  if (NO_VIEW_CPU_KERNELS.has(name)) return kernel;
  return (args) => {
    exposeInputs(args);
    return kernel(args);
  };
}

/** A kernel function that runs `native`, or the cpu `fallback` when it declines. */
function withFallback(
  name: string,
  native: NativeKernel,
  fallback: tf.KernelFunc,
  libs: NativeLibs,
): tf.KernelFunc {
  return (args) => {
    const out = native(
      args as unknown as Parameters<NativeKernel>[0] & { backend: CpuLikeBackend },
      libs,
    );
    if (out !== undefined) return out;
    fallbacks.set(name, (fallbacks.get(name) ?? 0) + 1);
    exposeInputs(args);
    return fallback(args);
  };
}

/**
 * Opens the native libraries and registers the `native` backend and its kernels (once per
 * process); does not activate it. Throws {@linkcode NativeUnavailable} with a one-line reason
 * when FFI, OpenBLAS or a C compiler is missing. A first-use fetch of the BLAS and a slow-BLAS
 * warning go to `log` (stderr by default): they are never silent.
 */
export function registerNativeBackend(
  log: (line: string) => void = (line) => console.error(line),
): NativeInfo {
  if (registered) return registered;
  const libs = openNative(log);
  const Cpu = cpuBackendClass();
  class NativeBackend extends Cpu {
    constructor() {
      super();
      // The cpu backend's "install tfjs-node" banner does not apply.
      this.firstUse = false;
    }

    /** A disposed tensor's array goes back to the pool (when it is ours and private). */
    override disposeData(dataId: tf.DataId, force = false): boolean {
      const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
      const done = super.disposeData(dataId, force);
      if (values !== undefined && !this.data.has(dataId)) release(values);
      return done;
    }

    /** Values read out (dataSync, data, moving backends) are a copy of a pooled array. */
    override readSync(dataId: tf.DataId): tf.BackendValues {
      const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
      if (isPooled(values)) return (values as Float32Array).slice();
      return super.readSync(dataId);
    }
  }
  const cpuKernels = new Map(
    tf.getKernelsForBackend("cpu").map((k) => [k.kernelName, k.kernelFunc] as const),
  );
  const natives = nativeKernels(cpuKernels);
  const replaced: string[] = [];
  for (const config of tf.getKernelsForBackend("cpu")) {
    const native = natives[config.kernelName];
    const kernelFunc = native
      ? withFallback(config.kernelName, native, config.kernelFunc, libs)
      : cpuKernel(config.kernelName, config.kernelFunc);
    if (natives[config.kernelName]) replaced.push(config.kernelName);
    tf.registerKernel({ ...config, backendName: NATIVE_BACKEND, kernelFunc });
  }
  // Kernels of our own, with no cpu kernel to hand a call to: one they cannot serve is a bug of
  // the caller (fused_ops.ts checks dtypes and shapes first).
  for (const [kernelName, native] of Object.entries(FUSED_KERNELS)) {
    const kernelFunc: tf.KernelFunc = (args) => {
      const out = native(
        args as unknown as Parameters<NativeKernel>[0] & { backend: CpuLikeBackend },
        libs,
      );
      if (out === undefined) {
        throw new Error(`${kernelName}: unsupported inputs (float32, matching sizes expected)`);
      }
      return out;
    };
    tf.registerKernel({ kernelName, backendName: NATIVE_BACKEND, kernelFunc });
    replaced.push(kernelName);
  }
  // Priority 0: never chosen by tfjs on its own; lib/tensor/backend.ts decides.
  tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(), 0);
  // Backward passes free each tape node's tensors once done with it (lean_grad.ts).
  installLeanGradients(() => tf.getBackend() === NATIVE_BACKEND);
  registered = {
    openblas: libs.blasConfig,
    blasLibrary: libs.blasChoice.path,
    blasSource: libs.blasChoice.source,
    blasCore: libs.blasCore,
    ...(libs.blasChoice.notes.length ? { blasNotes: libs.blasChoice.notes } : {}),
    ...(libs.blasWarning ? { blasWarning: libs.blasWarning } : {}),
    openblasThreads: libs.blasThreads,
    threads: libs.threads,
    library: libs.build.path,
    compiled: libs.build.compiled,
    compileMs: libs.build.ms,
    compiler: libs.build.compiler,
    kernels: replaced.sort(),
  };
  return registered;
}

export { NativeUnavailable };
