/**
 * Collapse monitors for joint-embedding methods: a collapsed encoder maps every input to (nearly)
 * the same vector or to a low-dimensional subspace. Two numbers catch both:
 * - the per-dimension standard deviation of the embeddings (near 0: complete collapse);
 * - the effective rank (Roy & Vetterli 2007): exp of the entropy of the normalised singular
 *   values of the centred embedding matrix (1 .. d; near 1: dimensional collapse).
 *
 * @module
 */

import { covariance, symmetricEigen } from "./linalg.ts";

/** Collapse statistics of `n` embeddings of width `d`. */
export interface CollapseStats {
  stdMean: number;
  stdMin: number;
  effectiveRank: number;
}

/** Computes {@linkcode CollapseStats}. */
export function collapseStats(embeddings: Float32Array, n: number, d: number): CollapseStats {
  const cov = covariance(embeddings, n, d);
  let stdSum = 0;
  let stdMin = Infinity;
  for (let j = 0; j < d; j++) {
    const s = Math.sqrt(Math.max(0, cov[j * d + j]));
    stdSum += s;
    stdMin = Math.min(stdMin, s);
  }
  // Singular values of the centred matrix are sqrt((n - 1) * eigenvalues of the covariance);
  // the constant factor cancels in the normalisation.
  const singular = Array.from(symmetricEigen(cov, d).values, (v) => Math.sqrt(Math.max(0, v)));
  const total = singular.reduce((a, b) => a + b, 0);
  let entropy = 0;
  if (total > 0) {
    for (const s of singular) {
      const p = s / total;
      if (p > 0) entropy -= p * Math.log(p);
    }
  }
  return { stdMean: stdSum / d, stdMin, effectiveRank: total > 0 ? Math.exp(entropy) : 0 };
}
