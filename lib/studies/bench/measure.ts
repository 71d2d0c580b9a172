/**
 * How benchmarks are timed, and the peak memory they report.
 *
 * @module
 */

/** One benchmark's result, printed as one JSON line by `deno task bench --json`. */
export interface BenchResult {
  bench: string;
  /** The tfjs backend for tensor benchmarks; `js` for plain TypeScript code. */
  backend: string;
  value: number;
  unit: string;
  config: Record<string, unknown>;
  /** Spread of the timed windows: [min, max] of `value`. */
  range?: [number, number];
}

/** A benchmark case. */
export interface Benchmark {
  name: string;
  description: string;
  /** `quick` shortens the timing (for tests); numbers to report come from a full run. */
  run(opts: { quick?: boolean }): Promise<BenchResult>;
  /** For tensor benchmarks: the timed step alone, for per-kernel profiles and paired peers. */
  prepare?(): { step(): unknown; dispose(): void };
  /** What one step of `prepare` counts in the result's unit (samples, env steps). */
  stepUnits?: number;
  /** Steps of each side per paired window against a peer (default 3; 1 for a slow step). */
  pairedSteps?: number;
}

/**
 * Times `work` (which does `units` units per call) over several windows after a warm-up and
 * returns units per second: the median window, and the min and max. Each window makes at least
 * one call (so does the warm-up, unless it is 0 seconds).
 */
export async function measureRate(
  work: () => void | Promise<void>,
  units: number,
  opts: { windows?: number; windowSeconds?: number; warmupSeconds?: number } = {},
): Promise<{ median: number; min: number; max: number }> {
  const { windows = 5, windowSeconds = 1, warmupSeconds = 0.5 } = opts;
  const runFor = async (seconds: number) => {
    const start = performance.now();
    let calls = 0;
    // At least one call per window, so that a zero-length (quick) window still measures.
    do {
      await work();
      calls++;
    } while (performance.now() - start < seconds * 1000);
    return (calls * units) / ((performance.now() - start) / 1000);
  };
  if (warmupSeconds > 0) await runFor(warmupSeconds);
  const rates: number[] = [];
  for (let i = 0; i < windows; i++) rates.push(await runFor(windowSeconds));
  rates.sort((a, b) => a - b);
  return {
    median: rates[Math.floor(rates.length / 2)],
    min: rates[0],
    max: rates[rates.length - 1],
  };
}

/**
 * Resets the kernel's peak-RSS counter of this process (`VmHWM`, by writing 5 to
 * `/proc/self/clear_refs`), so that {@linkcode peakRssMiB} then reports the peak of what runs
 * next. Best effort: silently does nothing where /proc is missing or not writable.
 */
export function resetPeakRss(): void {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
  } catch { /* not Linux, or not permitted */ }
}

/** This process's peak resident set size in MiB (`VmHWM`), or undefined where unknown. */
export function peakRssMiB(): number | undefined {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const kb = /^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
  } catch {
    return undefined;
  }
}
