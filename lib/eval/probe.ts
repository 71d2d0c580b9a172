/**
 * Linear probes from frozen embeddings to the games' ground truth, trained on some episodes and
 * reported on held-out ones (AtariARI's protocol, with closed-form linear models):
 * - regression: ridge on standardised embeddings, R^2 per variable; the penalty is chosen from
 *   a grid on a held-out fifth of the training rows, then the probe is refitted on all of them;
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

/** Ridge solution `w [d, m]` of `X [n, d] w ~ Y [n, m]`; the last column (bias) is not penalised. */
export function ridge(
  x: Float64Array,
  y: Float64Array,
  n: number,
  d: number,
  m: number,
  lambda: number,
): Float64Array {
  const a = new Float64Array(d * d);
  const b = new Float64Array(d * m);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < d; p++) {
      const xp = x[i * d + p];
      if (xp === 0) continue;
      for (let q = p; q < d; q++) a[p * d + q] += xp * x[i * d + q];
      for (let c = 0; c < m; c++) b[p * m + c] += xp * y[i * m + c];
    }
  }
  for (let p = 0; p < d; p++) {
    for (let q = 0; q < p; q++) a[p * d + q] = a[q * d + p];
    if (p < d - 1) a[p * d + p] += lambda;
  }
  a[(d - 1) * d + (d - 1)] += 1e-9;
  return choleskySolve(a, b, d, m);
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

function nearestNeighbours(
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
  const lambda = opts.lambda;
  const mean = columnMeans(train.x, train.n, train.d);
  const cov = covariance(train.x, train.n, train.d);
  const std = Float64Array.from(mean, (_, j) => Math.sqrt(cov[j * train.d + j]) || 1);
  const d = train.d + 1;
  return variables.map((v) => {
    const trIdx = rows(train, v);
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
    const lam = lambda ?? chooseLambda(xTr, yTr, trIdx.length, d);
    const w = ridge(xTr, yTr, trIdx.length, d, 1, lam);
    const result: ProbeResult = {
      variable: v.name,
      r2: r2Score(yTe, predict(xTe, w, teIdx.length, d, 1)),
      knnR2: 0,
      trainRows: trIdx.length,
      testRows: teIdx.length,
    };
    if (v.bins) {
      const k = v.bins[2];
      const oneHot = new Float64Array(trIdx.length * k);
      yTr.forEach((y, i) => (oneHot[i * k + binOf(y, v.bins!)] = 1));
      const wc = ridge(xTr, oneHot, trIdx.length, d, k, lam);
      const scores = predict(xTe, wc, teIdx.length, d, k);
      const pred = new Int32Array(teIdx.length);
      for (let i = 0; i < teIdx.length; i++) {
        let arg = 0;
        for (let c = 1; c < k; c++) if (scores[i * k + c] > scores[i * k + arg]) arg = c;
        pred[i] = arg;
      }
      result.f1 = weightedF1(Int32Array.from(yTe, (y) => binOf(y, v.bins!)), pred, k);
    }
    const cap = opts.knnTrainRows ?? 4000;
    const stride = Math.max(1, Math.floor(trIdx.length / cap));
    const knnIdx = trIdx.filter((_, i) => i % stride === 0);
    const nn = nearestNeighbours(train, knnIdx, test, teIdx);
    result.knnR2 = r2Score(yTe, nn.map((r) => train.state[v.name][r]));
    return result;
  });
}

/** Ridge penalties tried when none is given. */
export const LAMBDAS = [0.01, 0.1, 1, 10, 100, 1000, 10000];

/** The penalty with the best R^2 on the last fifth of the (already shuffled) training rows. */
function chooseLambda(x: Float64Array, y: Float64Array, n: number, d: number): number {
  const fit = Math.floor(n * 0.8);
  if (fit < 2 || n - fit < 2) return 1;
  const xv = x.subarray(fit * d);
  const yv = y.subarray(fit);
  let best = LAMBDAS[0];
  let bestR2 = -Infinity;
  for (const lam of LAMBDAS) {
    const w = ridge(x.subarray(0, fit * d), y.subarray(0, fit), fit, d, 1, lam);
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
