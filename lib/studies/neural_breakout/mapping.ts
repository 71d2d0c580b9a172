/**
 * The action -> latent mapping (the seed's part 4): which code does the model infer when the
 * player pressed each action? Pairs (stack, action, inferred code) come from every transition of
 * the dataset's training and held-out episodes; a classifier predicts the code from the action
 * and the frames, and is scored on the held-out episodes against two baselines: the most common
 * code, and the most common code of each action (the mapping with no frame). The frames matter
 * where an action's effect depends on the state (LEFT at the left wall moves nothing).
 *
 * The classifier is linear per action: features `[onehot(a), onehot(a) (x) f(s_t)]`, with
 * `f(s_t)` the world model's pooled embedding of the stack. It is also how a player's action
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
import { nextFrameEmbedding } from "../../models/next_frame.ts";
import { vitGrid } from "../../nn/vit.ts";
import { deriveSeed } from "../../tensor/rng.ts";
import { type LatentActionTrainConfig, pairPatches } from "../../train/latent_action.ts";
import { transitionBatches } from "../../train/transition.ts";

/** Pairs of one split: actions, inferred codes, and the classifier's features. */
interface Pairs {
  actions: Int32Array;
  codes: Int32Array;
  features: Float32Array;
  n: number;
  d: number;
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
  const width = model.cfg.encoder.width;
  const actions: number[] = [], codes: number[] = [], embeddings: Float32Array[] = [];
  const seed = deriveSeed(cfg.seed, "mapping");
  for (const x of transitionBatches(ds, cfg, episodes, 256, seed, false)) {
    if (actions.length >= limit) break;
    const emb = tf.tidy(() =>
      nextFrameEmbedding(model.world, tf.tensor3d(x.now, [x.b, tokens, patchDim]))
        .dataSync() as Float32Array
    );
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
    features: mappingFeatures(actions.slice(0, n), (i) => embeddings[i], numActions, width),
    n,
    d: numActions * (1 + width),
  };
}

/** The classifier's features `[onehot(a), onehot(a) (x) f(s_t)]` of each row. */
function mappingFeatures(
  actions: ArrayLike<number>,
  embedding: (row: number) => Float32Array,
  numActions: number,
  width: number,
): Float32Array {
  const n = actions.length;
  const d = numActions * (1 + width);
  const features = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const a = actions[i];
    features[i * d + a] = 1;
    features.set(embedding(i), i * d + numActions + a * width);
  }
  return features;
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
  if (m.classifier !== null) {
    if (typeof m.classifier !== "object") throw bad("classifier", "null or a linear classifier");
    linearPredictor(m.classifier, `${file}: classifier`);
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
  const width = model.cfg.encoder.width;
  if (mapping.classifier.d !== A * (1 + width)) {
    throw new Error(
      `mapping: a classifier of ${mapping.classifier.d} features, the model's ${A} actions and ` +
        `embedding width ${width} give ${A * (1 + width)}`,
    );
  }
  const emb = tf.tidy(() => nextFrameEmbedding(model.world, stacks).dataSync() as Float32Array);
  const x = mappingFeatures(actions, (i) => emb.subarray(i * width, (i + 1) * width), A, width);
  return Int32Array.from(predictorOf(mapping.classifier).predict(x, actions.length));
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
  const fit = collectPairs(cfg, ds, model, train, A, rows);
  const test = collectPairs(cfg, ds, model, val, A, rows);
  const accuracyOf = (pred: ArrayLike<number>) => {
    let hit = 0;
    for (let i = 0; i < test.n; i++) if (pred[i] === test.codes[i]) hit++;
    return test.n ? hit / test.n : NaN;
  };
  // A codebook collapsed to one code leaves one class: the mapping is that code.
  const classifier = new Set(fit.codes).size < 2 ? null : fitLinearClassifier(
    { x: fit.features, n: fit.n, d: fit.d, values: fit.codes },
    { seed: deriveSeed(cfg.seed, "mapping-classifier") },
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
  };
}
