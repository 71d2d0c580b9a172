/**
 * Linear probes from frozen embeddings to the games' ground truth, trained on some episodes and
 * reported on held-out ones (AtariARI's protocol, with closed-form linear models):
 * - regression: ridge on globally scaled embeddings, R^2 per variable; the penalty is chosen
 *   from a grid on held-out training episodes (a fifth of them), then the probe is refitted on
 *   all the training rows. {@linkcode fitRidgeProbe} is that probe, for every caller (the
 *   world model's paddle read-out too);
 * - classification of binned positions: a least-squares (ridge, one-hot) linear classifier,
 *   support-weighted F1 over the bins.
 * Also a 1-nearest-neighbour probe (cosine) and a PCA projection for scatter plots.
 *
 * @module
 */

import {
  choleskySolve,
  columnMeans,
  covariance,
  crossProduct,
  gram,
  rowProducts,
  symmetricEigen,
} from "./linalg.ts";

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
  /**
   * AtariARI's F1: a softmax classifier over the variable's distinct values (`classifier.ts`);
   * present when asked for.
   */
  classifierF1?: number;
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

/** The rows of `data` where variable `v` is defined (its `when` holds). */
export function probeRows(data: ProbeData, v: ProbeVariable): number[] {
  const out: number[] = [];
  for (let i = 0; i < data.n; i++) if (!v.when || v.when(data.state, i)) out.push(i);
  return out;
}

/** Rows `idx` (default: all) of `x [., d]`, scaled, with a bias column: `[rows, d + 1]`. */
function design(x: Float32Array, d: number, s: FeatureScaling, idx?: number[]): Float64Array {
  const n = idx ? idx.length : x.length / d;
  const out = new Float64Array(n * (d + 1));
  for (let i = 0; i < n; i++) {
    const r = idx ? idx[i] : i;
    for (let j = 0; j < d; j++) out[i * (d + 1) + j] = (x[r * d + j] - s.mean[j]) / s.scale;
    out[i * (d + 1) + d] = 1;
  }
  return out;
}

/** Rows `idx` of `x [., d]`: `[idx.length, d]`. */
function takeRows(x: Float32Array, d: number, idx: number[]): Float32Array {
  const out = new Float32Array(idx.length * d);
  idx.forEach((r, i) => out.set(x.subarray(r * d, (r + 1) * d), i * d));
  return out;
}

/** The normal equations of a least-squares fit: `X^T X [d, d]` and `X^T Y [d, m]`. */
export interface NormalEquations {
  xtx: Float64Array;
  xty: Float64Array;
  d: number;
  m: number;
}

/** Ridge solution `w [d, m]` of given normal equations; the last column (bias) is not penalised. */
export function solveRidge(eq: NormalEquations, lambda: number): Float64Array {
  const { d, m } = eq;
  const a = Float64Array.from(eq.xtx);
  for (let p = 0; p < d - 1; p++) a[p * d + p] += lambda;
  a[(d - 1) * d + (d - 1)] += 1e-9;
  return choleskySolve(a, eq.xty, d, m);
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
  const unitRows = (x: Float32Array, idx: number[]) => {
    const out = new Float32Array(idx.length * d);
    idx.forEach((r, i) => {
      let s = 0;
      for (let j = 0; j < d; j++) s += x[r * d + j] ** 2;
      const inv = 1 / (Math.sqrt(s) || 1);
      for (let j = 0; j < d; j++) out[i * d + j] = x[r * d + j] * inv;
    });
    return out;
  };
  const keys = unitRows(train.x, trainIdx);
  const m = trainIdx.length;
  const out: number[] = [];
  // Blocks of queries keep the similarity matrix small; the first of equal maxima wins.
  const block = 512;
  for (let q0 = 0; q0 < testIdx.length; q0 += block) {
    const queries = testIdx.slice(q0, q0 + block);
    const sims = rowProducts(unitRows(test.x, queries), keys, queries.length, m, d);
    for (let i = 0; i < queries.length; i++) {
      let arg = 0;
      for (let k = 1; k < m; k++) if (sims[i * m + k] > sims[i * m + arg]) arg = k;
      out.push(trainIdx[arg]);
    }
  }
  return out;
}

/**
 * Fits every probe on `train` and reports it on `test`: per variable, one
 * {@linkcode fitRidgeProbe} for the value and its one-hot bins (on the scaling of all of
 * `train`'s rows, the penalty chosen on the value), and the 1-NN probe. `lambda` fixes the
 * ridge penalty (default: chosen per variable from {@linkcode LAMBDAS}); `knnTrainRows` caps the
 * rows the nearest-neighbour search scans.
 */
export function runProbes(
  train: ProbeData,
  test: ProbeData,
  variables: ProbeVariable[],
  opts: { lambda?: number; knnTrainRows?: number } = {},
): ProbeResult[] {
  // One scaling for every variable, though some read only a subset of the rows.
  const scaling = globalScaling(train.x, train.n, train.d);
  // Variables that select the same rows share their Gram matrices and nearest neighbours (each
  // costs n^2 d or n d^2).
  const neighbours = new Map<ProbeVariable["when"], number[]>();
  const sharedRows = new Map<ProbeVariable["when"], RidgeRows>();
  return variables.map((v) => {
    const trIdx = probeRows(train, v);
    const teIdx = probeRows(test, v);
    if (trIdx.length < 2 || teIdx.length < 2) {
      return {
        variable: v.name,
        r2: NaN,
        knnR2: NaN,
        trainRows: trIdx.length,
        testRows: teIdx.length,
      };
    }
    const groups = train.groups && Int32Array.from(trIdx, (r) => train.groups![r]);
    const yTe = Float64Array.from(teIdx, (r) => test.state[v.name][r]);
    // One system for the regression target and the one-hot bins: one pass over the rows.
    const k = v.bins ? v.bins[2] : 0;
    const y = new Float64Array(trIdx.length * (1 + k));
    trIdx.forEach((r, i) => {
      const value = train.state[v.name][r];
      y[i * (1 + k)] = value;
      if (v.bins) y[i * (1 + k) + 1 + binOf(value, v.bins)] = 1;
    });
    const data = { x: takeRows(train.x, train.d, trIdx), n: trIdx.length, d: train.d, groups };
    if (!sharedRows.has(v.when)) sharedRows.set(v.when, ridgeRows(data, scaling));
    const probe = fitRidgeProbe(
      { ...data, y, m: 1 + k },
      { lambda: opts.lambda, rows: sharedRows.get(v.when) },
    );
    const scores = probe.predict(takeRows(test.x, test.d, teIdx), teIdx.length);
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
      // The search scans the rows in the ridge probe's order (fitting episodes first): the
      // subsample and the choice among equally near rows follow it.
      const order = penaltySplit(trIdx.length, groups).order.map((i) => trIdx[i]);
      const cap = opts.knnTrainRows ?? 4000;
      const stride = Math.max(1, Math.floor(order.length / cap));
      const knnIdx = order.filter((_, i) => i % stride === 0);
      neighbours.set(v.when, nearestNeighbours(train, knnIdx, test, teIdx));
    }
    const nn = neighbours.get(v.when)!;
    result.knnR2 = r2Score(yTe, nn.map((r) => train.state[v.name][r]));
    return result;
  });
}

/** Features scaled as `(x - mean) / scale`. */
export interface FeatureScaling {
  /** Column means `[d]`. */
  mean: Float64Array;
  /** One scale for every column. */
  scale: number;
}

/**
 * One scale for every column: the root mean column variance of `x [n, d]`. Per-column
 * standardisation would blow up columns that barely vary on the training rows (a background
 * patch a ball crossed once) and make the probe extrapolate wildly on new episodes; a global
 * scale keeps the penalty grid meaningful without that.
 */
export function globalScaling(x: Float32Array, n: number, d: number): FeatureScaling {
  const mean = columnMeans(x, n, d);
  let sq = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) sq += (x[i * d + j] - mean[j]) ** 2;
  return { mean, scale: Math.sqrt(sq / Math.max(1, n - 1) / d) || 1 };
}

/** Ridge penalties tried when none is given. */
export const LAMBDAS = [0.01, 0.1, 1, 10, 100, 1000, 10000];

/** The training rows of a ridge probe. */
export interface RidgeProbeData {
  /** Features `[n, d]`. */
  x: Float32Array;
  n: number;
  d: number;
  /** Targets `[n, m]`. */
  y: ArrayLike<number>;
  /** Targets per row; default 1. */
  m?: number;
  /**
   * Episode of each row. With it, the penalty is validated on whole held-out episodes (see
   * {@linkcode ProbeData}); without, on the last fifth of the rows, which must then be shuffled.
   */
  groups?: ArrayLike<number>;
}

/** Options of {@linkcode fitRidgeProbe}. */
export interface RidgeProbeOptions {
  /** A fixed penalty; default: the best of {@linkcode LAMBDAS} on held-out training rows. */
  lambda?: number;
  /** The features' scaling; default: {@linkcode globalScaling} of the training rows. */
  scaling?: FeatureScaling;
  /** The training rows' {@linkcode RidgeRows}, computed once for several targets. */
  rows?: RidgeRows;
}

/** A fitted ridge probe. */
export interface RidgeProbe {
  /** Predictions `[n, m]` for feature rows `x [n, d]`. */
  predict(x: Float32Array, n: number): Float64Array;
  /** The penalty it was fitted with. */
  lambda: number;
  d: number;
  m: number;
}

/**
 * The part of a ridge fit that depends on the training rows alone, not on the targets: the
 * design matrix (scaled features and a bias column, rows in the penalty search's order) and the
 * Gram matrices of its fitting and held-out rows. Computing it is the `n d^2` pass that
 * dominates a fit, so every target fitted on the same rows shares one ({@linkcode ridgeRows}).
 */
export interface RidgeRows {
  n: number;
  d: number;
  scaling: FeatureScaling;
  /** Rows `order[0, fit)` fit the penalty search, the rest validate it. */
  order: number[];
  fit: number;
  /** `[n, d + 1]` in `order`. */
  design: Float64Array;
  /** Gram matrices of the fitting rows and of all rows (their sum with the held-out rows'). */
  fitGram: Float64Array;
  allGram: Float64Array;
}

/** The {@linkcode RidgeRows} of `train`'s rows, scaled by `scaling` (default: their own). */
export function ridgeRows(
  train: Pick<RidgeProbeData, "x" | "n" | "d" | "groups">,
  scaling: FeatureScaling = globalScaling(train.x, train.n, train.d),
): RidgeRows {
  const { x, n, d } = train;
  if (n < 1) throw new Error("fitRidgeProbe: no training rows");
  const { order, fit } = penaltySplit(n, train.groups);
  const xTr = design(x, d, scaling, order);
  const cols = d + 1;
  const fitGram = gram(xTr.subarray(0, fit * cols), fit, cols);
  const heldGram = gram(xTr.subarray(fit * cols), n - fit, cols);
  return {
    n,
    d,
    scaling,
    order,
    fit,
    design: xTr,
    fitGram,
    allGram: fitGram.map((v, i) => v + heldGram[i]),
  };
}

/**
 * The ridge probe of the project: features scaled by {@linkcode globalScaling}, a bias column
 * that is not penalised, the penalty chosen from {@linkcode LAMBDAS} by the R^2 of the first
 * target on held-out training episodes (`groups`; else the last fifth of the rows), then the
 * probe refitted on every training row. Further target columns (one-hot bins) share the penalty.
 * `opts.rows` passes the rows' {@linkcode RidgeRows} when several targets share them.
 */
export function fitRidgeProbe(train: RidgeProbeData, opts: RidgeProbeOptions = {}): RidgeProbe {
  const { n, d } = train;
  const m = train.m ?? 1;
  const shared = opts.rows ?? ridgeRows(train, opts.scaling);
  if (shared.n !== n || shared.d !== d) {
    throw new Error(`fitRidgeProbe: rows of ${shared.n} x ${shared.d} given for ${n} x ${d} data`);
  }
  const { order, fit, scaling } = shared;
  const y = new Float64Array(n * m);
  order.forEach((r, i) => {
    for (let c = 0; c < m; c++) y[i * m + c] = train.y[r * m + c];
  });
  // The equations of the penalty search's rows plus those of its held-out rows are the
  // equations of all rows: the refit reuses the search's n d^2 pass.
  const cols = d + 1;
  const fitX = shared.design.subarray(0, fit * cols);
  const fitEq = { xtx: shared.fitGram, xty: crossProduct(fitX, y, fit, cols, m), d: cols, m };
  const heldOut = { x: shared.design.subarray(fit * cols), y: y.subarray(fit * m), n: n - fit };
  const lambda = opts.lambda ?? chooseLambda(fitEq, fit, heldOut);
  const heldXty = crossProduct(heldOut.x, heldOut.y, heldOut.n, cols, m);
  const w = solveRidge({
    xtx: shared.allGram,
    xty: fitEq.xty.map((v, i) => v + heldXty[i]),
    d: cols,
    m,
  }, lambda);
  return {
    predict(xs, rows) {
      if (xs.length < rows * d) {
        throw new Error(`RidgeProbe.predict: ${xs.length} values are not ${rows} rows of ${d}`);
      }
      return predict(design(xs.subarray(0, rows * d), d, scaling), w, rows, d + 1, m);
    },
    lambda,
    d,
    m,
  };
}

/**
 * Orders `n` training rows for the penalty search: rows `order[0, fit)` fit, rows
 * `order[fit, n)` validate. With episodes, the last fifth of the episodes (at least one)
 * validates; without, the last fifth of the (already shuffled) rows.
 */
export function penaltySplit(
  n: number,
  groups?: ArrayLike<number>,
): { order: number[]; fit: number } {
  const idx = Array.from({ length: n }, (_, i) => i);
  const fallback = { order: idx, fit: Math.floor(n * 0.8) };
  if (!groups) return fallback;
  const ids = [...new Set(idx.map((r) => groups[r]))].sort((a, b) => a - b);
  if (ids.length < 2) return fallback;
  const held = new Set(ids.slice(ids.length - Math.max(1, Math.round(ids.length / 5))));
  const fitRows = idx.filter((r) => !held.has(groups[r]));
  return { order: [...fitRows, ...idx.filter((r) => held.has(groups[r]))], fit: fitRows.length };
}

/**
 * The penalty whose fit on the normal equations `eq` (of `fitRows` rows) has the best R^2 of
 * the first target on the held-out rows.
 */
function chooseLambda(
  eq: NormalEquations,
  fitRows: number,
  heldOut: { x: Float64Array; y: Float64Array; n: number },
): number {
  const { d, m } = eq;
  if (fitRows < 2 || heldOut.n < 2) return 1;
  const truth = Float64Array.from({ length: heldOut.n }, (_, i) => heldOut.y[i * m]);
  let best = LAMBDAS[0];
  let bestR2 = -Infinity;
  for (const lam of LAMBDAS) {
    const w = solveRidge(eq, lam);
    const first = m === 1 ? w : Float64Array.from({ length: d }, (_, p) => w[p * m]);
    const r2 = r2Score(truth, predict(heldOut.x, first, heldOut.n, d, 1));
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
