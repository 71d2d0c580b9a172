/**
 * `probe-fit`: one ridge probe as the probe studies fit it (`fitRidgeProbe`): 3,000 training rows
 * of 1,568 features (a 7x7 token grid of width 32, the grid features of the `small` probes), 15
 * episodes of 200 rows, one target; global scaling, the penalty chosen from 7 values on held-out
 * episodes, then the refit on every row. Two `X^T X` of 1,569 columns and eight Cholesky solves
 * dominate. Runs on LAPACK where the BLAS opens (the backend is reported as `lapack`), else in JS.
 *
 * @module
 */

import { linalgImpl } from "../../eval/linalg.ts";
import { fitRidgeProbe, type RidgeProbeData } from "../../eval/probe.ts";
import { Rng } from "../../tensor/rng.ts";
import { type Benchmark, measureRate, peakRssMiB, resetPeakRss } from "./measure.ts";

/** The problem's size: rows, features, episodes. */
export const PROBE_BENCH_SIZE: ProbeBenchSize = { rows: 3000, features: 1568, episodes: 15 };

/** Rows, features and episodes of a probe-fit problem. */
export interface ProbeBenchSize {
  rows: number;
  features: number;
  episodes: number;
}

/**
 * Seeded rows whose target is a noisy linear function of a few features, so the penalty search
 * has something to find (and the peer gets the same data from the same recipe).
 */
export function probeBenchData(size: ProbeBenchSize = PROBE_BENCH_SIZE): RidgeProbeData {
  const { rows: n, features: d, episodes } = size;
  const rng = new Rng(0);
  const x = Float32Array.from({ length: n * d }, () => rng.normal());
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = x[i * d] - 0.5 * x[i * d + 1] + 0.25 * x[i * d + 2] + 0.1 * rng.normal();
  }
  const groups = Int32Array.from({ length: n }, (_, i) => Math.floor(i * episodes / n));
  return { x, n, d, y, groups };
}

/** See the module doc. */
export const probeFitBench: Benchmark = {
  name: "probe-fit",
  description: "ridge probe fit: 3,000 rows x 1,568 grid features, 7 penalties on held-out " +
    "episodes, then the refit",
  prepare() {
    const data = probeBenchData();
    return { step: () => fitRidgeProbe(data).lambda, dispose() {} };
  },
  stepUnits: 1,
  async run({ quick }) {
    const data = probeBenchData(
      quick ? { rows: 300, features: 96, episodes: 5 } : PROBE_BENCH_SIZE,
    );
    let lambda = NaN;
    resetPeakRss();
    const rate = await measureRate(
      () => void (lambda = fitRidgeProbe(data).lambda),
      1,
      quick
        ? { windows: 1, windowSeconds: 0, warmupSeconds: 0 }
        : { windows: 3, windowSeconds: 2, warmupSeconds: 0.5 },
    );
    return {
      bench: "probe-fit",
      backend: linalgImpl(),
      value: Number(rate.median.toFixed(3)),
      unit: "fits/s",
      config: { rows: data.n, features: data.d, lambda, peakRssMiB: peakRssMiB() },
      range: [Number(rate.min.toFixed(3)), Number(rate.max.toFixed(3))],
    };
  },
};
