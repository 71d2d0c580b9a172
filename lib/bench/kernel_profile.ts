/**
 * Per-kernel time of whatever runs on a tfjs backend: every kernel registered for the backend is
 * wrapped with a timer while profiling is on. Times are exclusive (a kernel that calls another
 * registered kernel through the engine is not charged for it), so the rows add up to the time
 * spent in kernels.
 *
 * ```ts
 * const profiler = startKernelProfile(tf.getBackend());
 * step();
 * const rows = profiler.stop(); // [{ kernel: "BatchMatMul", calls: 120, ms: 812.4 }, ...]
 * ```
 *
 * Wrapping re-registers kernels, so start and stop the profiler outside `tf.tidy` and gradient
 * scopes.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** One kernel's line of a profile. */
export interface KernelProfileRow {
  kernel: string;
  calls: number;
  /** Exclusive milliseconds. */
  ms: number;
  /** Output elements summed over calls (a hint of the work done). */
  elements: number;
}

/** A running profile; `stop` restores the original kernels and returns the rows. */
export interface KernelProfiler {
  /** Rows sorted by time, largest first. */
  stop(): KernelProfileRow[];
}

/** Starts profiling every kernel of `backendName`. */
export function startKernelProfile(backendName: string): KernelProfiler {
  const configs = tf.getKernelsForBackend(backendName);
  const rows = new Map<string, KernelProfileRow>();
  // Start times of the kernels on the stack, and the time their callees took.
  const childMs: number[] = [];
  for (const config of configs) {
    const original = config.kernelFunc;
    const row: KernelProfileRow = { kernel: config.kernelName, calls: 0, ms: 0, elements: 0 };
    rows.set(config.kernelName, row);
    const timed: tf.KernelFunc = (args) => {
      childMs.push(0);
      const start = performance.now();
      let out: ReturnType<tf.KernelFunc>;
      try {
        out = original(args);
      } finally {
        const total = performance.now() - start;
        const inner = childMs.pop()!;
        row.calls++;
        row.ms += total - inner;
        if (childMs.length) childMs[childMs.length - 1] += total;
      }
      for (const info of Array.isArray(out) ? out : [out]) {
        row.elements += info.shape.reduce((a, b) => a * b, 1);
      }
      return out;
    };
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel({ ...config, kernelFunc: timed });
  }
  return {
    stop() {
      for (const config of configs) {
        tf.unregisterKernel(config.kernelName, backendName);
        tf.registerKernel(config);
      }
      return [...rows.values()].filter((r) => r.calls > 0).sort((a, b) => b.ms - a.ms);
    },
  };
}

/** A profile as an aligned text table (top `limit` rows, then the rest summed). */
export function formatKernelProfile(rows: KernelProfileRow[], limit = 25): string {
  const total = rows.reduce((s, r) => s + r.ms, 0);
  const lines = [
    `${"kernel".padEnd(28)} ${"calls".padStart(6)} ${"ms".padStart(10)} ${"share".padStart(6)}` +
    ` ${"Melem".padStart(8)}`,
  ];
  const fmt = (name: string, calls: number, ms: number, elements: number) =>
    `${name.padEnd(28)} ${String(calls).padStart(6)} ${ms.toFixed(1).padStart(10)} ` +
    `${(total > 0 ? (100 * ms) / total : 0).toFixed(1).padStart(5)}% ` +
    `${(elements / 1e6).toFixed(2).padStart(8)}`;
  for (const r of rows.slice(0, limit)) lines.push(fmt(r.kernel, r.calls, r.ms, r.elements));
  const rest = rows.slice(limit);
  if (rest.length) {
    lines.push(
      fmt(
        `(${rest.length} others)`,
        rest.reduce((s, r) => s + r.calls, 0),
        rest.reduce((s, r) => s + r.ms, 0),
        rest.reduce((s, r) => s + r.elements, 0),
      ),
    );
  }
  lines.push(fmt("total", rows.reduce((s, r) => s + r.calls, 0), total, 0));
  return lines.join("\n");
}
