/**
 * AtariARI's probe (Anand et al. 2019): a linear classifier per state variable on frozen
 * features, each distinct value of the variable in the training rows one class, reported as
 * support-weighted F1 on held-out episodes. Softmax regression on globally scaled features
 * (`globalScaling`, as the ridge probes), trained by Adam on cross-entropy:
 *
 *   p(c | x) = softmax(W^T (x - mean) / scale + b)_c
 *   L = -(1/B) sum_i log p(y_i | x_i)
 *
 * with early stopping as AtariARI trains its probes: the last fifth of the training episodes
 * validate, and the weights of the epoch with the lowest validation loss are kept (training stops
 * after `patience` epochs without a new best). Test rows whose value never occurs in training
 * belong to no class and count as errors. Minibatch order and initial weights come from `seed`,
 * so a run is repeatable on a deterministic backend.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { Rng } from "../tensor/rng.ts";
import { rowProducts } from "./linalg.ts";
import {
  type FeatureScaling,
  globalScaling,
  penaltySplit,
  type ProbeData,
  probeRows,
  type ProbeVariable,
  weightedF1,
} from "./probe.ts";

/** Options of {@linkcode fitLinearClassifier}. */
export interface LinearClassifierOptions {
  seed: number;
  /** At most this many epochs (default 100, as AtariARI). */
  epochs?: number;
  /** Stop after this many epochs without a lower validation loss (default 5). */
  patience?: number;
  /** Adam's learning rate (default 3e-3) and the minibatch size (default 64). */
  lr?: number;
  batchSize?: number;
  /** The features' scaling; default: {@linkcode globalScaling} of the training rows. */
  scaling?: FeatureScaling;
}

/** Training rows: features, the variable's value per row, and each row's episode. */
export interface ClassifierData {
  x: Float32Array;
  n: number;
  d: number;
  values: ArrayLike<number>;
  groups?: ArrayLike<number>;
}

/** What a fitted classifier is: plain numbers, as JSON keeps them. */
export interface LinearClassifierWeights {
  /** The classes: the distinct training values, ascending. */
  classes: number[];
  /** The feature width d, the scaling's column means `[d]` and its one scale. */
  d: number;
  mean: number[];
  scale: number;
  /** W^T, one row of d per class (`[k, d]`), and b `[k]`. */
  weights: number[];
  bias: number[];
}

/** A classifier that predicts. */
export interface LinearPredictor {
  /** The classes: the distinct training values, ascending. */
  classes: number[];
  /** The predicted value of each row of `x [n, d]`. */
  predict(x: Float32Array, n: number): Float64Array;
}

/** A fitted classifier. */
export interface LinearClassifier extends LinearPredictor {
  /** Its weights (to store it; {@linkcode linearPredictor} rebuilds it). */
  weights: LinearClassifierWeights;
  /** Epochs trained, and the one whose weights were kept. */
  epochs: number;
  bestEpoch: number;
}

/**
 * The predictor of stored weights; an error names the field where they do not fit together
 * (`what` names where they came from).
 */
export function linearPredictor(w: LinearClassifierWeights, what = "classifier"): LinearPredictor {
  const { d, classes } = w;
  const k = classes.length;
  const bad = (field: string, expected: string) =>
    new Error(`${what}: ${field} must be ${expected}`);
  if (!(Number.isInteger(d) && d >= 1)) throw bad("d", "a positive integer");
  if (k < 1) throw bad("classes", "a non-empty list");
  if (w.mean?.length !== d) throw bad("mean", `${d} numbers (d)`);
  if (!(w.scale > 0)) throw bad("scale", "a positive number");
  if (w.weights?.length !== k * d) throw bad("weights", `${k * d} numbers (classes x d)`);
  if (w.bias?.length !== k) throw bad("bias", `${k} numbers (one per class)`);
  const wT = Float32Array.from(w.weights);
  return {
    classes,
    predict(xs, rows) {
      if (xs.length < rows * d) {
        throw new Error(
          `LinearClassifier.predict: ${xs.length} values are not ${rows} rows of ${d}`,
        );
      }
      const x = new Float32Array(rows * d);
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < d; j++) x[i * d + j] = (xs[i * d + j] - w.mean[j]) / w.scale;
      }
      const scores = rowProducts(x, wT, rows, k, d);
      const out = new Float64Array(rows);
      for (let i = 0; i < rows; i++) {
        let arg = 0;
        for (let c = 1; c < k; c++) {
          if (scores[i * k + c] + w.bias[c] > scores[i * k + arg] + w.bias[arg]) arg = c;
        }
        out[i] = classes[arg];
      }
      return out;
    },
  };
}

/** Fits the classifier of the module doc on `train`. */
export function fitLinearClassifier(
  train: ClassifierData,
  opts: LinearClassifierOptions,
): LinearClassifier {
  const { x, n, d } = train;
  if (n < 2) throw new Error(`fitLinearClassifier: ${n} training rows, at least 2 needed`);
  const { epochs = 100, patience = 5, lr = 3e-3, batchSize = 64 } = opts;
  const scaling = opts.scaling ?? globalScaling(x, n, d);
  const classes = [...new Set(Array.from(train.values))].sort((a, b) => a - b);
  const classOf = new Map(classes.map((v, i) => [v, i]));
  const k = classes.length;
  const labels = Int32Array.from(train.values, (v) => classOf.get(v)!);
  const { order, fit } = penaltySplit(n, train.groups);
  const fitRows = order.slice(0, fit);
  const valRows = order.slice(fit);
  const scaled = (rows: number[] | null, xs: Float32Array, count: number) => {
    const out = new Float32Array(count * d);
    for (let i = 0; i < count; i++) {
      const r = rows ? rows[i] : i;
      for (let j = 0; j < d; j++) {
        out[i * d + j] = (xs[r * d + j] - scaling.mean[j]) / scaling.scale;
      }
    }
    return out;
  };
  const rng = new Rng(opts.seed);
  const [w, b] = [[d, k], [k]].map((shape) => {
    const zeros = tf.zeros(shape);
    const v = tf.variable(zeros);
    zeros.dispose();
    return v;
  });
  const optimizer = tf.train.adam(lr);
  const logits = (xs: tf.Tensor2D) => tf.add(tf.matMul(xs, w), b) as tf.Tensor2D;
  const lossOf = (xs: tf.Tensor2D, ys: tf.Tensor1D) =>
    tf.losses.softmaxCrossEntropy(tf.oneHot(ys, k), logits(xs)) as tf.Scalar;
  const xFit = scaled(fitRows, x, fitRows.length);
  const yFit = Int32Array.from(fitRows, (r) => labels[r]);
  const val = valRows.length
    ? {
      x: tf.tensor2d(scaled(valRows, x, valRows.length), [valRows.length, d]),
      y: tf.tensor1d(Int32Array.from(valRows, (r) => labels[r]), "int32"),
    }
    : null;
  let best = { loss: Infinity, epoch: 0, w: tf.clone(w), b: tf.clone(b) };
  let epoch = 0;
  try {
    for (; epoch < epochs; epoch++) {
      const idx = rng.permutation(fitRows.length);
      for (let s = 0; s < idx.length; s += batchSize) {
        const rows = idx.slice(s, s + batchSize);
        const xb = new Float32Array(rows.length * d);
        rows.forEach((r, i) => xb.set(xFit.subarray(r * d, (r + 1) * d), i * d));
        tf.tidy(() => {
          const xs = tf.tensor2d(xb, [rows.length, d]);
          const ys = tf.tensor1d(Int32Array.from(rows, (r) => yFit[r]), "int32");
          optimizer.minimize(() => lossOf(xs, ys));
        });
      }
      if (!val) continue;
      const loss = tf.tidy(() => lossOf(val.x, val.y).dataSync()[0]);
      if (loss < best.loss) {
        tf.dispose([best.w, best.b]);
        best = { loss, epoch: epoch + 1, w: tf.clone(w), b: tf.clone(b) };
      } else if (epoch + 1 - best.epoch >= patience) {
        epoch++;
        break;
      }
    }
    if (!val) {
      tf.dispose([best.w, best.b]);
      best = { loss: NaN, epoch, w: tf.clone(w), b: tf.clone(b) };
    }
  } finally {
    tf.dispose([w, b]);
    optimizer.dispose();
    if (val) tf.dispose([val.x, val.y]);
  }
  // Class rows `[k, d]` of W, for one product per prediction.
  const weights: LinearClassifierWeights = {
    classes,
    d,
    mean: Array.from(scaling.mean),
    scale: scaling.scale,
    weights: Array.from(tf.tidy(() => best.w.transpose().dataSync())),
    bias: Array.from(best.b.dataSync()),
  };
  tf.dispose([best.w, best.b]);
  return { ...linearPredictor(weights), weights, epochs: epoch, bestEpoch: best.epoch };
}

/**
 * Support-weighted F1 of predicted values against true ones, every distinct value a class (a
 * true value the classifier never saw is a class it always misses).
 */
export function valueF1(truth: ArrayLike<number>, pred: ArrayLike<number>): number {
  const ids = new Map<number, number>();
  const id = (v: number) => {
    if (!ids.has(v)) ids.set(v, ids.size);
    return ids.get(v)!;
  };
  const t = Int32Array.from(truth, id);
  const p = Int32Array.from(pred, id);
  return weightedF1(t, p, ids.size);
}

/**
 * AtariARI's F1 of each variable: a classifier fitted on `train`'s rows where the variable is
 * defined, scored on `test`'s (NaN with fewer than two rows on either side).
 */
export function classifierF1s(
  train: ProbeData,
  test: ProbeData,
  variables: ProbeVariable[],
  opts: LinearClassifierOptions,
): Record<string, number> {
  const take = (data: ProbeData, idx: number[]) => {
    const x = new Float32Array(idx.length * data.d);
    idx.forEach((r, i) => x.set(data.x.subarray(r * data.d, (r + 1) * data.d), i * data.d));
    return x;
  };
  // One scaling for every variable, as the ridge probes.
  const scaling = opts.scaling ?? globalScaling(train.x, train.n, train.d);
  return Object.fromEntries(variables.map((v) => {
    const tr = probeRows(train, v);
    const te = probeRows(test, v);
    if (tr.length < 2 || te.length < 2) return [v.name, NaN];
    const probe = fitLinearClassifier({
      x: take(train, tr),
      n: tr.length,
      d: train.d,
      values: tr.map((r) => train.state[v.name][r]),
      groups: train.groups && tr.map((r) => train.groups![r]),
    }, { ...opts, scaling });
    const truth = te.map((r) => test.state[v.name][r]);
    return [v.name, valueF1(truth, probe.predict(take(test, te), te.length))];
  }));
}
