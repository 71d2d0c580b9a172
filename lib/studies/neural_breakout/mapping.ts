/**
 * The action -> latent mapping (the seed's part 4): which code does the model infer when the
 * player pressed each action? Pairs (stack, action, inferred code) come from every transition of
 * the dataset's training and held-out episodes; a classifier predicts the code from the action
 * and the frames, and is scored on the held-out episodes against two baselines: the most common
 * code, and the most common code of each action (the mapping with no frame). The frames matter
 * where an action's effect depends on the state (LEFT at the left wall moves nothing).
 *
 * The classifier is linear per action: features `[onehot(a), onehot(a) (x) f(s_t)]`, with
 * `f(s_t)` the world model's tokens of the stack averaged over each row and each column of the
 * patch grid (where along x and y things are, which the mean over all tokens loses), each
 * feature standardised by its mean and std on the training rows (one scale for all of them left
 * the classifier at 55.6% on the reference run, where per-feature scaling reaches 66% with the
 * pooled mean and 74% with rows and columns, in a quick check). It is also how a player's action
 * becomes a code (`codesForActions`): which code RIGHT stands for depends on the frame (at the
 * right wall RIGHT moves nothing, and in random play its most common code is "no move").
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { splitEpisodes } from "../../data/batches.ts";
import type { Dataset } from "../../data/reader.ts";
import { gameActions } from "../../envs/make.ts";
import {
  fitLinearClassifier,
  type LinearClassifierWeights,
  type LinearPredictor,
  linearPredictor,
} from "../../eval/classifier.ts";
import { inferCodes, type LatentActionModel } from "../../models/latent_action.ts";
import { encodeTokens } from "../../models/next_frame.ts";
import { vitGrid } from "../../nn/vit.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import { deriveSeed } from "../../tensor/rng.ts";
import { type LatentActionTrainConfig, pairPatches } from "../../train/latent_action.ts";
import { transitionBatches } from "../../train/transition.ts";

/** Pairs of one split: actions, inferred codes, and the stacks' embeddings. */
interface Pairs {
  actions: Int32Array;
  codes: Int32Array;
  embeddings: Float32Array[];
  n: number;
}

/** The file of a run that holds its {@linkcode ActionMapping}. */
export const MAPPING_FILE = "mapping.json";

/** How a game's actions become codes: what `mapping.json` of a run holds. */
export interface ActionMapping {
  actionMeanings: string[];
  /** Per action (the game's action ids), its most common code on the training transitions. */
  actionCodes: number[];
  /** The classifier from (stack, action) to code; null where the codes collapsed to one. */
  classifier: LinearClassifierWeights | null;
  /** Per feature of the stack's embedding ({@linkcode stackEmbedding}): its mean and std. */
  embedding: { mean: number[]; std: number[] };
}

/** What {@linkcode actionLatentMapping} reports. */
export interface MappingResult extends ActionMapping {
  /** Held-out accuracy of the classifier, of each action's most common code, of the most common code. */
  accuracy: number;
  actionOnlyAccuracy: number;
  majorityAccuracy: number;
  trainRows: number;
  heldOutRows: number;
  /** Per action: held-out rows, its most common code and that code's share of its rows. */
  perAction: { action: string; rows: number; code: number; share: number }[];
  /** Whether the actions' most common codes are all different. */
  distinct: boolean;
}

/** The pairs of `episodes` (at most `limit` transitions). */
function collectPairs(
  cfg: LatentActionTrainConfig,
  ds: Dataset,
  model: LatentActionModel,
  episodes: number[],
  numActions: number,
  limit: number,
): Pairs {
  const { tokens, patchDim } = vitGrid(model.cfg.encoder);
  const pp = model.cfg.encoder.patch ** 2;
  const width = stackEmbeddingWidth(model);
  const actions: number[] = [], codes: number[] = [], embeddings: Float32Array[] = [];
  const seed = deriveSeed(cfg.seed, "mapping");
  for (const x of transitionBatches(ds, cfg, episodes, 256, seed, false)) {
    if (actions.length >= limit) break;
    const emb = tf.tidy(() => stackEmbedding(model, tf.tensor3d(x.now, [x.b, tokens, patchDim])));
    const c = tf.tidy(() =>
      inferCodes(model, tf.tensor3d(pairPatches(x.lastFrame, x.nextFrame), [x.b, tokens, 2 * pp]))
    );
    for (let i = 0; i < x.b; i++) {
      let a = 0;
      for (let j = 1; j < numActions; j++) {
        if (x.actions[i * numActions + j] > x.actions[i * numActions + a]) a = j;
      }
      actions.push(a);
      codes.push(c[i]);
      embeddings.push(emb.subarray(i * width, (i + 1) * width));
    }
  }
  const n = Math.min(actions.length, limit);
  return {
    actions: Int32Array.from(actions.slice(0, n)),
    codes: Int32Array.from(codes.slice(0, n)),
    embeddings: embeddings.slice(0, n),
    n,
  };
}

/** Width of {@linkcode stackEmbedding}: a mean per row and per column of the patch grid. */
function stackEmbeddingWidth(model: LatentActionModel): number {
  const { rows, cols } = vitGrid(model.cfg.encoder);
  return (rows + cols) * model.cfg.encoder.width;
}

/**
 * The world model's tokens of stacks `[B, N, p * p * k]` averaged over each row and over each
 * column of the patch grid: `[B, (rows + cols) * width]`, rows first.
 */
export function stackEmbedding(model: LatentActionModel, stacks: tf.Tensor3D): Float32Array {
  return tf.tidy(() => {
    const { rows, cols } = vitGrid(model.cfg.encoder);
    const b = stacks.shape[0];
    const width = model.cfg.encoder.width;
    const all = encodeTokens(model.world, stacks);
    const tokens = model.cfg.encoder.cls ? all.slice([0, 1, 0], [-1, rows * cols, -1]) : all;
    const grid = tokens.reshape([b, rows, cols, width]);
    return tf.concat([
      tf.mean(grid, 2).reshape([b, rows * width]),
      tf.mean(grid, 1).reshape([b, cols * width]),
    ], 1).dataSync() as Float32Array;
  });
}

/** Each feature's mean and std over `rows` (a constant feature gets std 1). */
function standardization(rows: Float32Array[], width: number): ActionMapping["embedding"] {
  const mean = new Array<number>(width).fill(0);
  const sq = new Array<number>(width).fill(0);
  for (const r of rows) {
    for (let j = 0; j < width; j++) {
      (mean[j] += r[j] / rows.length), (sq[j] += r[j] * r[j] / rows.length);
    }
  }
  const std = mean.map((m, j) => {
    const s = Math.sqrt(Math.max(sq[j] - m * m, 0));
    return s > 1e-6 ? s : 1;
  });
  return { mean, std };
}

/** `[onehot(a), onehot(a) (x) f]` of each row, `f` its embedding standardised. */
function mappingFeatures(
  actions: ArrayLike<number>,
  embedding: (row: number) => Float32Array,
  numActions: number,
  scaling: ActionMapping["embedding"],
): { features: Float32Array; d: number } {
  const width = scaling.mean.length;
  const n = actions.length;
  const d = numActions * (1 + width);
  const features = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const a = actions[i];
    const e = embedding(i);
    features[i * d + a] = 1;
    const at = i * d + numActions + a * width;
    for (let j = 0; j < width; j++) features[at + j] = (e[j] - scaling.mean[j]) / scaling.std[j];
  }
  return { features, d };
}

/** Writes what play reads of `mapping` (its codes and classifier) to `file`, atomically. */
export async function writeActionMapping(file: string, mapping: MappingResult): Promise<void> {
  const { actionMeanings, actionCodes, classifier, embedding } = mapping;
  const stored: ActionMapping = { actionMeanings, actionCodes, classifier, embedding };
  await writeFileAtomic(file, JSON.stringify(stored) + "\n");
}

/**
 * Reads a run's `mapping.json`; an error names the file and the field that is not what a
 * mapping holds (the classifier's shapes included).
 */
export function readActionMapping(file: string): ActionMapping {
  let m: ActionMapping;
  try {
    m = JSON.parse(Deno.readTextFileSync(file));
  } catch (e) {
    throw new Error(`${file}: not a readable action mapping (${(e as Error).message})`);
  }
  const bad = (field: string, expected: string) =>
    new Error(`${file}: ${field} must be ${expected}`);
  if (!Array.isArray(m?.actionMeanings) || !m.actionMeanings.every((a) => typeof a === "string")) {
    throw bad("actionMeanings", "a list of action names");
  }
  const A = m.actionMeanings.length;
  if (!Array.isArray(m.actionCodes) || m.actionCodes.length !== A) {
    throw bad("actionCodes", `${A} codes (one per action)`);
  }
  if (!m.actionCodes.every((c) => Number.isInteger(c) && c >= 0)) {
    throw bad("actionCodes", "codes (integers >= 0)");
  }
  const e = m.embedding;
  if (e === undefined) {
    throw new Error(
      `${file}: no 'embedding' field (a mapping of an older version, on the pooled embedding): ` +
        "deno task latent-action --out <this run> rewrites it",
    );
  }
  const numbers = (xs: unknown) =>
    Array.isArray(xs) && xs.every((x) => typeof x === "number" && Number.isFinite(x));
  if (!numbers(e?.mean) || !numbers(e?.std) || e.mean.length !== e.std.length) {
    throw bad("embedding", "{mean, std}: two lists of as many finite numbers");
  }
  if (m.classifier !== null) {
    if (typeof m.classifier !== "object") throw bad("classifier", "null or a linear classifier");
    linearPredictor(m.classifier, `${file}: classifier`);
    if (m.classifier.d !== A * (1 + e.mean.length)) {
      throw bad(
        "classifier.d",
        `${A * (1 + e.mean.length)} (${A} actions x (1 + ${e.mean.length} embedding features))`,
      );
    }
  }
  return m;
}

/**
 * The code of each row's action `actions[i]` in the stack `stacks[i]` (`[B, N, p * p * k]`):
 * the mapping's classifier where it has one, else each action's most common code.
 */
export function codesForActions(
  model: LatentActionModel,
  mapping: ActionMapping,
  stacks: tf.Tensor3D,
  actions: ArrayLike<number>,
): Int32Array {
  const A = mapping.actionMeanings.length;
  for (const a of Array.from(actions)) {
    if (!(Number.isInteger(a) && a >= 0 && a < A)) {
      throw new Error(`action ${a} outside [0, ${A}) (${mapping.actionMeanings})`);
    }
  }
  if (!mapping.classifier) return Int32Array.from(actions, (a) => mapping.actionCodes[a]);
  const width = stackEmbeddingWidth(model);
  if (mapping.embedding.mean.length !== width || mapping.classifier.d !== A * (1 + width)) {
    throw new Error(
      `mapping: a classifier of ${mapping.classifier.d} features on an embedding of ` +
        `${mapping.embedding.mean.length}; the model's ${A} actions and its embedding of ` +
        `${width} ((rows + columns) x width) give ${A * (1 + width)} on ${width}`,
    );
  }
  const emb = stackEmbedding(model, stacks);
  const { features } = mappingFeatures(
    actions,
    (i) => emb.subarray(i * width, (i + 1) * width),
    A,
    mapping.embedding,
  );
  return Int32Array.from(predictorOf(mapping.classifier).predict(features, actions.length));
}

// One predictor per stored classifier: a game asks for a code at every step.
const predictors = new WeakMap<LinearClassifierWeights, LinearPredictor>();
function predictorOf(weights: LinearClassifierWeights): LinearPredictor {
  let p = predictors.get(weights);
  if (!p) predictors.set(weights, p = linearPredictor(weights, "mapping"));
  return p;
}

/** The most common value of `xs` (the smallest on ties; -1 when empty). */
function mode(xs: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < xs.length; i++) counts.set(xs[i], (counts.get(xs[i]) ?? 0) + 1);
  let best = -1, most = 0;
  for (const [v, c] of [...counts].sort((a, b) => a[0] - b[0])) {
    if (c > most) [best, most] = [v, c];
  }
  return best;
}

/** Trains the mapping on the training episodes and scores it on the held-out ones. */
export function actionLatentMapping(
  cfg: LatentActionTrainConfig,
  ds: Dataset,
  model: LatentActionModel,
  rows: number,
): MappingResult {
  const meanings = (ds.manifest.meta.actionMeanings as string[] | undefined) ??
    [...gameActions(ds.manifest.env)];
  const A = meanings.length;
  const { train, val } = splitEpisodes(ds, { valFraction: cfg.valFraction, seed: cfg.seed });
  const fitPairs = collectPairs(cfg, ds, model, train, A, rows);
  const testPairs = collectPairs(cfg, ds, model, val, A, rows);
  const embedding = standardization(fitPairs.embeddings, stackEmbeddingWidth(model));
  const withFeatures = (p: Pairs) => ({
    ...p,
    ...mappingFeatures(p.actions, (i) => p.embeddings[i], A, embedding),
  });
  const fit = withFeatures(fitPairs);
  const test = withFeatures(testPairs);
  const accuracyOf = (pred: ArrayLike<number>) => {
    let hit = 0;
    for (let i = 0; i < test.n; i++) if (pred[i] === test.codes[i]) hit++;
    return test.n ? hit / test.n : NaN;
  };
  // A codebook collapsed to one code leaves one class: the mapping is that code.
  const classifier = new Set(fit.codes).size < 2 ? null : fitLinearClassifier(
    { x: fit.features, n: fit.n, d: fit.d, values: fit.codes },
    // Its features (3,588 at the small preset) on about 13K rows overfit within a few epochs: a
    // smaller step than the probes' 3e-3 stops at a better point (69% against 66% held out in
    // a quick check).
    { seed: deriveSeed(cfg.seed, "mapping-classifier"), lr: 1e-3 },
  );
  const predicted = classifier
    ? classifier.predict(test.features, test.n)
    : new Int32Array(test.n).fill(mode(fit.codes));
  const byAction = Array.from({ length: A }, (_, a) => {
    const trainCodes = fit.codes.filter((_, i) => fit.actions[i] === a);
    return trainCodes.length ? mode(trainCodes) : mode(fit.codes);
  });
  const overall = mode(fit.codes);
  const perAction = meanings.map((action, a) => {
    const held = test.codes.filter((_, i) => test.actions[i] === a);
    const code = mode(held);
    return {
      action,
      rows: held.length,
      code,
      share: held.length ? held.filter((c) => c === code).length / held.length : NaN,
    };
  });
  const seen = perAction.filter((p) => p.rows > 0).map((p) => p.code);
  return {
    accuracy: accuracyOf(predicted),
    actionOnlyAccuracy: accuracyOf(Int32Array.from(test.actions, (a) => byAction[a])),
    majorityAccuracy: accuracyOf(new Int32Array(test.n).fill(overall)),
    trainRows: fit.n,
    heldOutRows: test.n,
    perAction,
    distinct: new Set(seen).size === seen.length,
    actionCodes: byAction,
    actionMeanings: meanings,
    classifier: classifier?.weights ?? null,
    embedding,
  };
}
