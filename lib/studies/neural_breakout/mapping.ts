/**
 * The action -> latent mapping (the seed's part 4): which code does the model infer when the
 * player pressed each action? Pairs (stack, action, inferred code) come from every transition of
 * the dataset's training and held-out episodes; a classifier predicts the code from the action
 * and the frames, and is scored on the held-out episodes against two baselines: the most common
 * code, and the most common code of each action (the mapping with no frame). The frames matter
 * where an action's effect depends on the state (LEFT at the left wall moves nothing).
 *
 * The classifier is linear per action: features `[onehot(a), onehot(a) (x) f(s_t)]`, with
 * `f(s_t)` the world model's pooled embedding of the stack.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { splitEpisodes } from "../../data/batches.ts";
import type { Dataset } from "../../data/reader.ts";
import { gameActions } from "../../envs/make.ts";
import { fitLinearClassifier } from "../../eval/classifier.ts";
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

/** What {@linkcode actionLatentMapping} reports. */
export interface MappingResult {
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
  /** Per action (the game's action ids), its most common code on the training transitions. */
  actionCodes: number[];
  actionMeanings: string[];
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
  const d = numActions * (1 + width);
  const features = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const a = actions[i];
    features[i * d + a] = 1;
    features.set(embeddings[i], i * d + numActions + a * width);
  }
  return {
    actions: Int32Array.from(actions.slice(0, n)),
    codes: Int32Array.from(codes.slice(0, n)),
    features,
    n,
    d,
  };
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
  const predicted = new Set(fit.codes).size < 2
    ? new Int32Array(test.n).fill(mode(fit.codes))
    : fitLinearClassifier(
      { x: fit.features, n: fit.n, d: fit.d, values: fit.codes },
      { seed: deriveSeed(cfg.seed, "mapping-classifier") },
    ).predict(test.features, test.n);
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
  };
}
