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
 * Memory: each row also says how many MiB of the kernel's outputs were alive when the outputs
 * of all kernels together peaked (`peakMiB`): what a training step holds at its peak, by the
 * kernel that made it (a tensor kept for the backward pass counts under the kernel that made it).
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
  /** MiB of this kernel's outputs alive at the peak of all outputs' bytes. */
  peakMiB: number;
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
  const memory = trackMemory(backendName, rows);
  // Start times of the kernels on the stack, and the time their callees took.
  const childMs: number[] = [];
  for (const config of configs) {
    const original = config.kernelFunc;
    const row: KernelProfileRow = {
      kernel: config.kernelName,
      calls: 0,
      ms: 0,
      elements: 0,
      peakMiB: 0,
    };
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
        memory.made(info, row);
      }
      return out;
    };
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel({ ...config, kernelFunc: timed });
  }
  return {
    stop() {
      memory.stop();
      for (const config of configs) {
        tf.unregisterKernel(config.kernelName, backendName);
        tf.registerKernel(config);
      }
      return [...rows.values()].filter((r) => r.calls > 0).sort((a, b) => b.ms - a.ms);
    },
  };
}

/**
 * Follows the bytes of kernel outputs on `backendName` until `stop`: who made each buffer, and
 * each row's share at the peak of the total (written into the rows' `peakMiB`).
 */
function trackMemory(backendName: string, rows: Map<string, KernelProfileRow>) {
  const backend = tf.findBackend(backendName) as tf.KernelBackend & {
    disposeData(dataId: tf.DataId, force?: boolean): boolean;
  };
  const owners = new Map<tf.DataId, { row: KernelProfileRow; bytes: number }>();
  const live = new Map<KernelProfileRow, number>();
  let total = 0;
  let peak = 0;
  const disposeData = backend.disposeData;
  backend.disposeData = function (dataId, force) {
    const freed = disposeData.call(this, dataId, force);
    const owner = owners.get(dataId);
    if (freed && owner) {
      owners.delete(dataId);
      total -= owner.bytes;
      live.set(owner.row, live.get(owner.row)! - owner.bytes);
    }
    return freed;
  };
  return {
    made(info: tf.TensorInfo, row: KernelProfileRow) {
      // A buffer shared with an input (Reshape) stays its maker's.
      if (owners.has(info.dataId)) return;
      const bytes = info.shape.reduce((a, b) => a * b, 1) * (info.dtype === "complex64" ? 8 : 4);
      owners.set(info.dataId, { row, bytes });
      total += bytes;
      live.set(row, (live.get(row) ?? 0) + bytes);
      if (total > peak) {
        peak = total;
        for (const r of rows.values()) r.peakMiB = (live.get(r) ?? 0) / 2 ** 20;
      }
    },
    stop() {
      backend.disposeData = disposeData;
    },
  };
}

/** A profile as an aligned text table (top `limit` rows, then the rest summed). */
export function formatKernelProfile(rows: KernelProfileRow[], limit = 25): string {
  const total = rows.reduce((s, r) => s + r.ms, 0);
  const lines = [
    `${"kernel".padEnd(28)} ${"calls".padStart(6)} ${"ms".padStart(10)} ${"share".padStart(6)}` +
    ` ${"Melem".padStart(8)} ${"peak MiB".padStart(9)}`,
  ];
  const sum = (list: KernelProfileRow[], key: "calls" | "ms" | "elements" | "peakMiB") =>
    list.reduce((s, r) => s + r[key], 0);
  const fmt = (name: string, list: KernelProfileRow[]) =>
    `${name.padEnd(28)} ${String(sum(list, "calls")).padStart(6)} ` +
    `${sum(list, "ms").toFixed(1).padStart(10)} ` +
    `${(total > 0 ? (100 * sum(list, "ms")) / total : 0).toFixed(1).padStart(5)}% ` +
    `${(sum(list, "elements") / 1e6).toFixed(2).padStart(8)} ` +
    `${sum(list, "peakMiB").toFixed(1).padStart(9)}`;
  for (const r of rows.slice(0, limit)) lines.push(fmt(r.kernel, [r]));
  const rest = rows.slice(limit);
  if (rest.length) lines.push(fmt(`(${rest.length} others)`, rest));
  lines.push(fmt("total", rows));
  return lines.join("\n");
}
