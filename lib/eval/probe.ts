/**
 * Linear probes from frozen embeddings to the games' ground truth, trained on some episodes and
 * reported on held-out ones (AtariARI's protocol, with closed-form linear models):
 * - regression: ridge on standardised embeddings, R^2 per variable; the penalty is chosen from
 *   a grid on held-out training episodes (a fifth of them), then the probe is refitted on all
 *   the training rows;
 * - classification of binned positions: a least-squares (ridge, one-hot) linear classifier,
 *   support-weighted F1 over the bins.
 * Also a 1-nearest-neighbour probe (cosine) and a PCA projection for scatter plots.
 *
 * @module
 */

import { choleskySolve, columnMeans, covariance, symmetricEigen } from "./linalg.ts";

/** Embeddings `[n, d]` with the state variables of each row. */
export interface ProbeData {
  x: Float32Array;
  n: number;
  d: number;
  state: Record<string, Float64Array>;
  /**
   * Episode of each row. With it, the ridge penalty is chosen on whole held-out training
   * episodes: neighbouring frames of one episode are near duplicates, and a penalty validated on
   * rows shuffled across episodes overfits (and can fail badly on the test episodes).
   */
  groups?: Int32Array;
}

/** A variable to probe; `when` restricts the rows (e.g. only frames with the ball in play). */
export interface ProbeVariable {
  name: string;
  when?: (state: Record<string, Float64Array>, i: number) => boolean;
  /** Bins for the F1 probe: [lo, hi, count]; none: regression only. */
  bins?: [number, number, number];
}

/** Probe results of one variable. */
export interface ProbeResult {
  variable: string;
  r2: number;
  f1?: number;
  /** R^2 of the 1-nearest-neighbour prediction. */
  knnR2: number;
  trainRows: number;
  testRows: number;
}

/** Breakout's probe variables: positions binned as AtariARI does (16 bins per axis here). */
export const BREAKOUT_PROBES: ProbeVariable[] = [
  { name: "ballX", when: ballVisible, bins: [0, 160, 16] },
  { name: "ballY", when: ballVisible, bins: [0, 210, 16] },
  { name: "paddleX", bins: [0, 160, 16] },
  { name: "bricksRemaining" },
  { name: "ballDx", when: ballVisible },
  { name: "ballDy", when: ballVisible },
];

function ballVisible(state: Record<string, Float64Array>, i: number): boolean {
  return state.ballVisible[i] > 0;
}

function rows(data: ProbeData, v: ProbeVariable): number[] {
  const out: number[] = [];
  for (let i = 0; i < data.n; i++) if (!v.when || v.when(data.state, i)) out.push(i);
  return out;
}

/** Standardises columns with the training rows' mean and std (plus a bias column). */
function design(
  data: ProbeData,
  idx: number[],
  mean: Float64Array,
  std: Float64Array,
): Float64Array {
  const d = data.d + 1;
  const out = new Float64Array(idx.length * d);
  idx.forEach((r, i) => {
    for (let j = 0; j < data.d; j++) out[i * d + j] = (data.x[r * data.d + j] - mean[j]) / std[j];
    out[i * d + data.d] = 1;
  });
  return out;
}

/** The normal equations of a least-squares fit: `X^T X [d, d]` and `X^T Y [d, m]`. */
export interface NormalEquations {
  xtx: Float64Array;
  xty: Float64Array;
  d: number;
  m: number;
}

/**
 * Accumulates the normal equations of `X [n, d] w ~ Y [n, m]` once, so that every penalty of a
 * lambda search (and every output column) reuses them: the `n d^2` pass dominates the cost.
 */
export function normalEquations(
  x: Float64Array,
  y: Float64Array,
  n: number,
  d: number,
  m: number,
): NormalEquations {
  const xtx = new Float64Array(d * d);
  const xty = new Float64Array(d * m);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let p = 0; p < d; p++) {
      const xp = x[row + p];
      if (xp === 0) continue;
      const out = p * d;
      for (let q = p; q < d; q++) xtx[out + q] += xp * x[row + q];
      for (let c = 0; c < m; c++) xty[p * m + c] += xp * y[i * m + c];
    }
  }
  for (let p = 0; p < d; p++) for (let q = 0; q < p; q++) xtx[p * d + q] = xtx[q * d + p];
  return { xtx, xty, d, m };
}

/** Ridge solution `w [d, m]` of given normal equations; the last column (bias) is not penalised. */
export function solveRidge(eq: NormalEquations, lambda: number): Float64Array {
  const { d, m } = eq;
  const a = Float64Array.from(eq.xtx);
  for (let p = 0; p < d - 1; p++) a[p * d + p] += lambda;
  a[(d - 1) * d + (d - 1)] += 1e-9;
  return choleskySolve(a, eq.xty, d, m);
}

/** Ridge solution `w [d, m]` of `X [n, d] w ~ Y [n, m]`; the last column (bias) is not penalised. */
export function ridge(
  x: Float64Array,
  y: Float64Array,
  n: number,
  d: number,
  m: number,
  lambda: number,
): Float64Array {
  return solveRidge(normalEquations(x, y, n, d, m), lambda);
}

function predict(x: Float64Array, w: Float64Array, n: number, d: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < m; c++) {
      let s = 0;
      for (let p = 0; p < d; p++) s += x[i * d + p] * w[p * m + c];
      out[i * m + c] = s;
    }
  }
  return out;
}

/** Coefficient of determination. */
export function r2Score(truth: ArrayLike<number>, pred: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < truth.length; i++) mean += truth[i];
  mean /= truth.length;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < truth.length; i++) {
    ssRes += (truth[i] - pred[i]) ** 2;
    ssTot += (truth[i] - mean) ** 2;
  }
  return ssTot > 0 ? 1 - ssRes / ssTot : 0;
}

/** Support-weighted F1 over classes. */
export function weightedF1(truth: Int32Array, pred: Int32Array, classes: number): number {
  let total = 0;
  for (let c = 0; c < classes; c++) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < truth.length; i++) {
      if (pred[i] === c && truth[i] === c) tp++;
      else if (pred[i] === c) fp++;
      else if (truth[i] === c) fn++;
    }
    const support = tp + fn;
    if (support === 0) continue;
    const f1 = tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
    total += f1 * support;
  }
  return truth.length ? total / truth.length : 0;
}

function binOf(v: number, [lo, hi, count]: [number, number, number]): number {
  return Math.max(0, Math.min(count - 1, Math.floor(((v - lo) / (hi - lo)) * count)));
}

/**
 * For each row of `testIdx`, the row of `trainIdx` with the most similar embedding (cosine):
 * the retrieval behind the 1-NN probe and the retrieval figures.
 */
export function nearestNeighbours(
  train: ProbeData,
  trainIdx: number[],
  test: ProbeData,
  testIdx: number[],
): number[] {
  const d = train.d;
  const norm = (x: Float32Array, r: number) => {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[r * d + j] ** 2;
    return Math.sqrt(s) || 1;
  };
  const trainNorms = trainIdx.map((r) => norm(train.x, r));
  return testIdx.map((r) => {
    const qn = norm(test.x, r);
    let best = -Infinity;
    let arg = trainIdx[0];
    trainIdx.forEach((t, k) => {
      let s = 0;
      for (let j = 0; j < d; j++) s += test.x[r * d + j] * train.x[t * d + j];
      s /= qn * trainNorms[k];
      if (s > best) {
        best = s;
        arg = t;
      }
    });
    return arg;
  });
}

/**
 * Fits every probe on `train` and reports it on `test`. `lambda` fixes the ridge penalty on
 * standardised features (default: chosen per variable from {@linkcode LAMBDAS});
 * `knnTrainRows` caps the rows the nearest-neighbour search scans.
 */
export function runProbes(
  train: ProbeData,
  test: ProbeData,
  variables: ProbeVariable[],
  opts: { lambda?: number; knnTrainRows?: number } = {},
): ProbeResult[] {
  const mean = columnMeans(train.x, train.n, train.d);
  const std = globalScale(train.x, train.n, train.d, mean);
  const d = train.d + 1;
  // Variables that select the same rows share their nearest neighbours (the search costs n^2 d).
  const neighbours = new Map<ProbeVariable["when"], number[]>();
  return variables.map((v) => {
    const { order: trIdx, fit } = validationSplit(train, rows(train, v));
    const teIdx = rows(test, v);
    if (trIdx.length < 2 || teIdx.length < 2) {
      return {
        variable: v.name,
        r2: NaN,
        knnR2: NaN,
        trainRows: trIdx.length,
        testRows: teIdx.length,
      };
    }
    const xTr = design(train, trIdx, mean, std);
    const xTe = design(test, teIdx, mean, std);
    const yTr = Float64Array.from(trIdx, (r) => train.state[v.name][r]);
    const yTe = Float64Array.from(teIdx, (r) => test.state[v.name][r]);
    const lam = opts.lambda ?? chooseLambda(xTr, yTr, trIdx.length, d, fit);
    // One system for the regression target and the one-hot bins: one pass over the rows.
    const k = v.bins ? v.bins[2] : 0;
    const y = new Float64Array(trIdx.length * (1 + k));
    yTr.forEach((value, i) => {
      y[i * (1 + k)] = value;
      if (v.bins) y[i * (1 + k) + 1 + binOf(value, v.bins)] = 1;
    });
    const w = solveRidge(normalEquations(xTr, y, trIdx.length, d, 1 + k), lam);
    const scores = predict(xTe, w, teIdx.length, d, 1 + k);
    const result: ProbeResult = {
      variable: v.name,
      r2: r2Score(yTe, Float64Array.from(teIdx, (_, i) => scores[i * (1 + k)])),
      knnR2: 0,
      trainRows: trIdx.length,
      testRows: teIdx.length,
    };
    if (v.bins) {
      const pred = new Int32Array(teIdx.length);
      for (let i = 0; i < teIdx.length; i++) {
        const row = i * (1 + k) + 1;
        let arg = 0;
        for (let c = 1; c < k; c++) if (scores[row + c] > scores[row + arg]) arg = c;
        pred[i] = arg;
      }
      result.f1 = weightedF1(Int32Array.from(yTe, (y) => binOf(y, v.bins!)), pred, k);
    }
    if (!neighbours.has(v.when)) {
      const cap = opts.knnTrainRows ?? 4000;
      const stride = Math.max(1, Math.floor(trIdx.length / cap));
      const knnIdx = trIdx.filter((_, i) => i % stride === 0);
      neighbours.set(v.when, nearestNeighbours(train, knnIdx, test, teIdx));
    }
    const nn = neighbours.get(v.when)!;
    result.knnR2 = r2Score(yTe, nn.map((r) => train.state[v.name][r]));
    return result;
  });
}

/**
 * One scale for every column: the root mean column variance. Per-column standardisation would
 * blow up columns that barely vary on the training rows (a background patch a ball crossed once)
 * and make the probe extrapolate wildly on new episodes; a global scale keeps the penalty grid
 * meaningful without that.
 */
function globalScale(x: Float32Array, n: number, d: number, mean: Float64Array): Float64Array {
  let sq = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) sq += (x[i * d + j] - mean[j]) ** 2;
  return new Float64Array(d).fill(Math.sqrt(sq / Math.max(1, n - 1) / d) || 1);
}

/** Ridge penalties tried when none is given. */
export const LAMBDAS = [0.01, 0.1, 1, 10, 100, 1000, 10000];

/**
 * Orders training rows for the penalty search: rows `[0, fit)` fit, rows `[fit, n)` validate.
 * With episodes, the last fifth of the episodes (at least one) validates; without, the last
 * fifth of the (already shuffled) rows.
 */
function validationSplit(data: ProbeData, idx: number[]): { order: number[]; fit: number } {
  const groups = data.groups;
  const fallback = { order: idx, fit: Math.floor(idx.length * 0.8) };
  if (!groups) return fallback;
  const ids = [...new Set(idx.map((r) => groups[r]))].sort((a, b) => a - b);
  if (ids.length < 2) return fallback;
  const held = new Set(ids.slice(ids.length - Math.max(1, Math.round(ids.length / 5))));
  const fitRows = idx.filter((r) => !held.has(groups[r]));
  return { order: [...fitRows, ...idx.filter((r) => held.has(groups[r]))], fit: fitRows.length };
}

/** The penalty with the best R^2 on rows `[fit, n)` after fitting on rows `[0, fit)`. */
function chooseLambda(
  x: Float64Array,
  y: Float64Array,
  n: number,
  d: number,
  fit: number,
): number {
  if (fit < 2 || n - fit < 2) return 1;
  const xv = x.subarray(fit * d);
  const yv = y.subarray(fit);
  const eq = normalEquations(x.subarray(0, fit * d), y.subarray(0, fit), fit, d, 1);
  let best = LAMBDAS[0];
  let bestR2 = -Infinity;
  for (const lam of LAMBDAS) {
    const w = solveRidge(eq, lam);
    const r2 = r2Score(yv, predict(xv, w, n - fit, d, 1));
    if (r2 > bestR2) {
      bestR2 = r2;
      best = lam;
    }
  }
  return best;
}

/** Projects embeddings on their top-2 principal components: `[n, 2]`. */
export function pca2(x: Float32Array, n: number, d: number): Float64Array {
  const mean = columnMeans(x, n, d);
  const { vectors } = symmetricEigen(covariance(x, n, d), d);
  const out = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 2; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (x[i * d + j] - mean[j]) * vectors[j * d + c];
      out[i * 2 + c] = s;
    }
  }
  return out;
}
