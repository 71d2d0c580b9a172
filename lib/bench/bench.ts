/**
 * Named benchmarks of the hot paths, and how they are timed. `deno task bench` runs them; later
 * phases add their cases to {@linkcode BENCHMARKS}.
 *
 * @module
 */

import { envAleBreakoutBench, envBreakoutBench } from "./env_bench.ts";
import { ijepaStepBench } from "./ijepa_bench.ts";

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
}

/** Every benchmark, in the order `deno task bench` runs them. */
export const BENCHMARKS: Benchmark[] = [envBreakoutBench, envAleBreakoutBench, ijepaStepBench];

/**
 * Times `work` (which does `units` units per call) over several windows after a warm-up and
 * returns units per second: the median window, and the min and max.
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
    while (performance.now() - start < seconds * 1000) {
      await work();
      calls++;
    }
    return (calls * units) / ((performance.now() - start) / 1000);
  };
  await runFor(warmupSeconds);
  const rates: number[] = [];
  for (let i = 0; i < windows; i++) rates.push(await runFor(windowSeconds));
  rates.sort((a, b) => a - b);
  return {
    median: rates[Math.floor(rates.length / 2)],
    min: rates[0],
    max: rates[rates.length - 1],
  };
}
