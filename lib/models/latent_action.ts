/**
 * The latent-action model of the Genie-like neural Breakout (the seed's VQ-VAE over frame
 * pairs): from videos alone it learns a small vocabulary of "actions" and a world model that
 * takes them.
 *
 *   z_e   = W_z pool(A([x_t, x_t+1]))              latent action encoder: a ViT over the pair
 *                                                   (or over [x_t, x_t+1 - x_t]: `pairInput`)
 *   k, z  = VQ(z_e)                                 a code of the codebook (`lib/nn/vq.ts`)
 *   x_hat = x_t + D(f(s_t) + pos + W_a z)           the world model: NextFrame's ViT encoder of
 *                                                   the stack s_t and token decoder, the latent
 *                                                   in the place of the one-hot action
 *   w     = 1 + lambda [|x_t+1 - x_t| > tau]        pixels that change weigh 1 + lambda
 *   loss  = sum(w (x_hat - x_t+1)^2) / sum(w) + L_cb + beta L_c + mu V(z_e)
 *
 * V is VICReg's variance hinge over the batch (mean of max(0, 1 - std of each dimension)): it
 * keeps the encoder's outputs apart. Without it the codebook collapses: while the decoder does
 * not use the code, the encoder gets only the commitment pull, its output becomes a constant,
 * and the codebook loss and dead-code resets move every code onto it (16 codes within 0.003 of
 * each other in the first small run), so no code can say anything.
 *
 * With lambda = 0 the reconstruction is plain MSE. In Breakout almost every pixel stays as it
 * was, the ball's move follows from the stack, and the paddle's few pixels are all the action
 * changes: under plain MSE the decoder does nearly as well without the code, so it learns to
 * ignore it. Weighting the changing pixels makes the paddle's move, which only the code tells,
 * worth learning; the difference frame puts that move in front of the latent action encoder.
 *
 * The decoder is the world model: to play in it, a code stands in for the pair it was inferred
 * from, and each predicted frame joins the stack for the next step.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { initLinear, linear } from "../nn/layers.ts";
import { type Params, truncNormal } from "../nn/params.ts";
import { initVit, pool, sincos2d, type VitConfig, vitEncode, vitGrid } from "../nn/vit.ts";
import { quantize } from "../nn/vq.ts";
import { mse } from "../ssl/losses.ts";
import { vicregVariance } from "../ssl/vicreg.ts";
import type { Rng } from "../tensor/rng.ts";
import type { PredictorConfig } from "./ijepa.ts";
import { initNextFrame, newestFrame, type NextFrameModel, predictNextFrame } from "./next_frame.ts";

/** The model's shape. */
export interface LatentActionConfig {
  /** The world model's encoder of the frame stack s_t (`channels`: frames x channels). */
  encoder: VitConfig;
  /** The latent action encoder over the pair (x_t, x_t+1): `channels` twice a frame's. */
  actionEncoder: VitConfig;
  decoder: PredictorConfig;
  /** Codebook size K and code width D. */
  codes: number;
  codeDim: number;
  /** The commitment weight beta. */
  commitment: number;
  /** What the latent action encoder reads: the two frames, or the first and the change. */
  pairInput?: "frames" | "difference";
  /** lambda of the module doc (0: plain MSE); tau is {@linkcode CHANGE_THRESHOLD}. */
  changeWeight?: number;
  /** mu of the module doc: the weight of the variance hinge on z_e (0: none). */
  spreadWeight?: number;
}

/** A pixel whose value moves more than this (of [0, 1]) between frames counts as changing. */
export const CHANGE_THRESHOLD = 0.02;

/** Parameters and constants. */
export interface LatentActionModel {
  cfg: LatentActionConfig;
  /** The world model (its `action` layer reads codes of width D). */
  world: NextFrameModel;
  /** The latent action encoder and its projection to D. */
  actionEncoder: Params;
  project: Params;
  actionPos: Float32Array;
  /** `[K, D]` */
  codebook: tf.Variable;
}

/** Builds a model. */
export function initLatentAction(rng: Rng, cfg: LatentActionConfig): LatentActionModel {
  const { rows, cols } = vitGrid(cfg.actionEncoder);
  return {
    cfg,
    world: initNextFrame(rng.fork("world"), {
      encoder: cfg.encoder,
      decoder: cfg.decoder,
      numActions: cfg.codeDim,
    }),
    actionEncoder: initVit(rng.fork("action-encoder"), cfg.actionEncoder),
    project: initLinear(rng.fork("project"), cfg.actionEncoder.width, cfg.codeDim),
    actionPos: sincos2d(cfg.actionEncoder.width, rows, cols),
    codebook: truncNormal([cfg.codes, cfg.codeDim], 1, rng.fork("codebook")),
  };
}

/** z_e `[B, D]` of pairs given as patches `[B, N, patchDim]` of the two-frame images. */
export function encodeLatentAction(model: LatentActionModel, pairs: tf.Tensor3D): tf.Tensor2D {
  const [b, n, d] = pairs.shape;
  const enc = model.cfg.actionEncoder;
  const pos = tf.tensor3d(model.actionPos, [1, n, enc.width]);
  let input = pairs;
  if (model.cfg.pairInput === "difference") {
    // Channels are interleaved per pixel: [..., 0] is x_t, [..., 1] is x_t+1.
    const [last, next] = tf.split(pairs.reshape([b, n, d / 2, 2]), 2, 3);
    input = tf.concat([last, tf.sub(next, last)], 3).reshape([b, n, d]) as tf.Tensor3D;
  }
  return linear(
    model.project,
    pool(vitEncode(model.actionEncoder, enc, input, pos), enc.cls),
  ) as tf.Tensor2D;
}

/**
 * The reconstruction term: MSE with the changing pixels weighted `1 + changeWeight` (plain MSE
 * at 0), normalised by the weights so its scale stays that of an MSE.
 */
export function changeWeightedMse(
  prediction: tf.Tensor3D,
  target: tf.Tensor3D,
  last: tf.Tensor3D,
  changeWeight: number,
): tf.Scalar {
  if (changeWeight === 0) return mse(prediction, target);
  const changed = tf.cast(tf.greater(tf.abs(tf.sub(target, last)), CHANGE_THRESHOLD), "float32");
  const w = tf.add(1, tf.mul(changeWeight, changed));
  return tf.div(tf.sum(tf.mul(w, tf.square(tf.sub(prediction, target)))), tf.sum(w)) as tf.Scalar;
}

/** The codes `[B]` the model infers from pairs (no gradient). */
export function inferCodes(model: LatentActionModel, pairs: tf.Tensor3D): Int32Array {
  const ze = tf.tidy(() => encodeLatentAction(model, pairs));
  const codes = quantize(model.codebook, ze).indices;
  ze.dispose();
  return codes;
}

/** The next frame's patches `[B, N, p * p]` from the stack `s_t` and a code per row. */
export function predictWithCodes(
  model: LatentActionModel,
  context: tf.Tensor3D,
  codes: Int32Array,
): tf.Tensor3D {
  const z = tf.gather(model.codebook, tf.tensor1d(codes, "int32")) as tf.Tensor2D;
  return predictNextFrame(model.world, context, z);
}

/** The terms of the loss, and the codes chosen (for usage tracking and dead-code resets). */
export interface LatentActionLoss {
  total: tf.Scalar;
  reconstruction: tf.Scalar;
  codebook: tf.Scalar;
  commitment: tf.Scalar;
  codes: Int32Array;
  /** z_e of the batch, `[B, D]` values (what a dead code is reset to). */
  ze: Float32Array;
}

/** The loss of the module doc on a batch: stacks, pairs and the next frame's patches. */
export function latentActionLoss(
  model: LatentActionModel,
  batch: { context: tf.Tensor3D; pairs: tf.Tensor3D; target: tf.Tensor3D },
): LatentActionLoss {
  const ze = encodeLatentAction(model, batch.pairs);
  const q = quantize(model.codebook, ze);
  const reconstruction = changeWeightedMse(
    predictNextFrame(model.world, batch.context, q.quantized),
    batch.target,
    newestFrame(model.world, batch.context),
    model.cfg.changeWeight ?? 0,
  );
  let total = tf.add(
    reconstruction,
    tf.add(q.codebookLoss, tf.mul(model.cfg.commitment, q.commitmentLoss)),
  ) as tf.Scalar;
  const mu = model.cfg.spreadWeight ?? 0;
  if (mu > 0) total = tf.add(total, tf.mul(mu, vicregVariance(ze))) as tf.Scalar;
  return {
    total,
    reconstruction,
    codebook: q.codebookLoss,
    commitment: q.commitmentLoss,
    codes: q.indices,
    ze: ze.dataSync() as Float32Array,
  };
}
