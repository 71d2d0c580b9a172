/**
 * ST-DIM (Anand et al. 2019, "Unsupervised State Representation Learning in Atari"): a CNN
 * encoder trained by maximising the mutual information between consecutive frames, across space
 * and time, with InfoNCE. It is the AtariARI benchmark's own method, the contrastive baseline a
 * JEPA has to beat.
 *
 * The encoder is the Nature CNN (`lib/nn/cnn.ts`). For a frame stack x it gives a global vector
 * g(x) in R^G (the dense output) and a local feature f_mn(x) in R^L at each cell (m, n) of its
 * last feature map (M x N cells). For a batch of B consecutive pairs (x_t^i, x_{t+1}^i), two
 * bilinear scores per cell:
 *
 *   global-local:  s_GL(i, j)_mn = g(x_{t+1}^i)^T W_g f_mn(x_t^j)
 *   local-local:   s_LL(i, j)_mn = f_mn(x_{t+1}^i)^T W_l f_mn(x_t^j)
 *
 * and an InfoNCE over the batch for each cell, the pair's own frame (j = i) the positive and the
 * other pairs' frames at the same cell the negatives:
 *
 *   L_s = -1 / (M N B) * sum_mn sum_i log [ exp s(i, i)_mn / sum_j exp s(i, j)_mn ]
 *
 *   L_ST-DIM = L_GL + L_LL
 *
 * W_g (G x L) and W_l (L x L) are trained with the encoder and dropped after: the encoder alone
 * is the representation.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { ByteImages } from "../nn/conv.ts";
import { initNatureCnn, NATURE_CNN_CHANNELS, natureCnnFeatureMap } from "../nn/cnn.ts";
import { linear } from "../nn/layers.ts";
import { type Params, truncNormal } from "../nn/params.ts";
import type { Rng } from "../tensor/rng.ts";

/** The encoder's input and output sizes. */
export interface StdimConfig {
  /** `[height, width]` of the frames. */
  imageSize: [number, number];
  /** Input channels: channels per frame times frames stacked. */
  channels: number;
  /** G: width of the global vector (the Nature CNN's dense output). */
  features: number;
}

/** An ST-DIM model: the encoder's parameters and the two score matrices. */
export interface Stdim {
  cfg: StdimConfig;
  /** The Nature CNN: `c1`, `c2`, `c3`, `fc`. */
  encoder: Params;
  /** `wGlobal [G, L]`, `wLocal [L, L]`. */
  scores: Params;
}

/** A fresh model (CleanRL's orthogonal init for the CNN, small normal for the scores). */
export function initStdim(rng: Rng, cfg: StdimConfig): Stdim {
  const [h, w] = cfg.imageSize;
  const l = NATURE_CNN_CHANNELS;
  return {
    cfg,
    encoder: initNatureCnn(rng.fork("encoder"), [h, w, cfg.channels], cfg.features),
    scores: {
      wGlobal: truncNormal([cfg.features, l], 0.02, rng.fork("wGlobal")),
      wLocal: truncNormal([l, l], 0.02, rng.fork("wLocal")),
    },
  };
}

/** Global vectors `[B, G]` and local features `[B, M * N, L]` of a batch. */
function encode(model: Stdim, x: ByteImages): { global: tf.Tensor2D; local: tf.Tensor3D } {
  const map = natureCnnFeatureMap(model.encoder, x);
  const [b, m, n, l] = map.shape;
  const global = tf.relu(linear(model.encoder.fc as Params, map.reshape([b, m * n * l])));
  return { global: global as tf.Tensor2D, local: map.reshape([b, m * n, l]) };
}

/**
 * `mean over cells and rows of -log softmax(logits)[i, i]`: the InfoNCE of `[cells, B, B]` scores
 * whose positives lie on each cell's diagonal.
 */
export function infoNce(logits: tf.Tensor3D): tf.Scalar {
  return tf.tidy(() => {
    const [, b] = logits.shape;
    const logProbs = tf.logSoftmax(logits, -1);
    const diagonal = tf.mul(logProbs, tf.eye(b).expandDims(0));
    return tf.neg(tf.sum(diagonal)).div(logits.shape[0] * b) as tf.Scalar;
  });
}

/**
 * L_ST-DIM (module doc) of B consecutive pairs: `now` holds the frame stacks x_t, `next` the
 * stacks x_{t+1}, row i of each from the same pair. Also returns both terms.
 */
export function stdimLoss(
  model: Stdim,
  now: ByteImages,
  next: ByteImages,
): { loss: tf.Scalar; globalLocal: tf.Scalar; localLocal: tf.Scalar } {
  return tf.tidy(() => {
    const t = encode(model, now);
    const t1 = encode(model, next);
    const [b, cells, l] = t.local.shape;
    // Cells first: [cells, B, L], so that each cell's scores are one batched product.
    const localNow = t.local.transpose([1, 0, 2]);
    const localNext = t1.local.transpose([1, 0, 2]);
    // s_GL: (g(x_{t+1}) W_g) f_mn(x_t)^T, the projected global vector shared by every cell.
    const projected = tf.matMul(t1.global, model.scores.wGlobal as tf.Variable);
    const gl = tf.matMul(
      tf.tile(projected.expandDims(0), [cells, 1, 1]) as tf.Tensor3D,
      localNow,
      false,
      true,
    );
    // s_LL: (f_mn(x_{t+1}) W_l) f_mn(x_t)^T per cell.
    const ll = tf.matMul(
      tf.matMul(localNext.reshape([cells * b, l]), model.scores.wLocal as tf.Variable)
        .reshape([cells, b, l]),
      localNow,
      false,
      true,
    );
    const globalLocal = infoNce(gl as tf.Tensor3D);
    const localLocal = infoNce(ll as tf.Tensor3D);
    return { loss: tf.add(globalLocal, localLocal) as tf.Scalar, globalLocal, localLocal };
  });
}
