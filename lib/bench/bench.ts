/**
 * Named benchmarks of the hot paths, and how they are timed. `deno task bench` runs them; later
 * phases add their cases to {@linkcode BENCHMARKS}.
 *
 * @module
 */

import { envAleBreakoutBench, envBreakoutBench } from "./env_bench.ts";
import { ijepaStepBench } from "./ijepa_bench.ts";
import { ppoUpdateBench } from "./ppo_bench.ts";
import { worldModelStepBench } from "./worldmodel_bench.ts";

export { measureRate, peakRssMiB, resetPeakRss } from "./measure.ts";

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
}

/** Every benchmark, in the order `deno task bench` runs them. */
export const BENCHMARKS: Benchmark[] = [
  envBreakoutBench,
  envAleBreakoutBench,
  ijepaStepBench,
  worldModelStepBench,
  ppoUpdateBench,
];
