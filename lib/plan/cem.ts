/**
 * The cross-entropy method (Rubinstein 1999), as V-JEPA 2-AC plans with it: sample candidates
 * from a diagonal Gaussian, score them all in one batch, refit the Gaussian to the best few
 * (the elites), repeat.
 *
 *   x_i ~ N(mu, diag(sigma^2)), clipped to [lo, hi]          i = 1..samples
 *   E = the `elites` x_i of lowest cost
 *   mu <- mean(E),  sigma <- max(std(E), minStd)
 *
 * The best candidate seen in any iteration is returned (not only the final mean), so more
 * iterations never make the answer worse.
 *
 * @module
 */

import type { Rng } from "../tensor/rng.ts";

/** CEM hyper-parameters. */
export interface CemConfig {
  /** Candidates per iteration. */
  samples: number;
  iterations: number;
  /** Candidates kept to refit the Gaussian. */
  elites: number;
  /** Starting standard deviation of every dimension. */
  initStd: number;
  /** Floor of the standard deviation (keeps exploring). */
  minStd: number;
  /** Box every sample is clipped to. */
  bounds: [number, number];
}

/** A batched cost: `n` candidates `[n, dim]` in, `n` costs out. */
export type BatchCost = (x: Float32Array, n: number) => ArrayLike<number>;

/** What a CEM search found. */
export interface CemResult {
  best: Float32Array;
  bestCost: number;
  /** The final Gaussian mean. */
  mean: Float32Array;
  /** Lowest cost seen after each iteration. */
  history: number[];
}

/** Minimises `cost` over `[dim]` vectors. `init` is the starting mean (default zeros). */
export function cem(
  cost: BatchCost,
  dim: number,
  cfg: CemConfig,
  rng: Rng,
  init?: Float32Array,
): CemResult {
  const { samples, elites, bounds: [lo, hi] } = cfg;
  if (!(Number.isInteger(elites) && elites >= 1 && elites <= samples)) {
    throw new Error(`cem: elites must be an integer in [1, samples = ${samples}], got ${elites}`);
  }
  const mean = Float32Array.from(init ?? new Float32Array(dim));
  const std = new Float32Array(dim).fill(cfg.initStd);
  let best = mean.slice();
  let bestCost = Infinity;
  const history: number[] = [];
  const x = new Float32Array(samples * dim);
  for (let it = 0; it < cfg.iterations; it++) {
    for (let i = 0; i < samples; i++) {
      for (let j = 0; j < dim; j++) {
        const v = mean[j] + std[j] * rng.normal();
        x[i * dim + j] = v < lo ? lo : v > hi ? hi : v;
      }
    }
    const costs = cost(x, samples);
    if (costs.length !== samples) {
      throw new Error(`cem: ${costs.length} costs for ${samples} samples`);
    }
    const order = Array.from({ length: samples }, (_, i) => i).sort((a, b) => costs[a] - costs[b]);
    if (costs[order[0]] < bestCost) {
      bestCost = costs[order[0]];
      best = x.slice(order[0] * dim, (order[0] + 1) * dim);
    }
    history.push(bestCost);
    for (let j = 0; j < dim; j++) {
      let m = 0;
      for (let e = 0; e < elites; e++) m += x[order[e] * dim + j];
      m /= elites;
      let v = 0;
      for (let e = 0; e < elites; e++) v += (x[order[e] * dim + j] - m) ** 2;
      mean[j] = m;
      std[j] = Math.max(Math.sqrt(v / elites), cfg.minStd);
    }
  }
  return { best, bestCost, mean, history };
}
