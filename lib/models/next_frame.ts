/**
 * The pixel encoder-decoder the VICReg JEPA is compared with: a ViT encodes `s_t`, and a
 * transformer decoder (the autoencoder's, `lib/models/autoencoder.ts`) conditioned on the action
 * predicts the pixels of the next frame, patch by patch, with MSE:
 *
 *   h     = f(s_t)                                   ViT tokens [N, width]
 *   x_hat = x_t + D(h + pos + W_a onehot(a_t))       p x p pixels per patch of frame t+1
 *   loss  = MSE(x_hat, x_t+1)                        pixels in [0, 1]
 *
 * Only the newest frame of `s_t+1` is predicted: the other three are `s_t`'s and copying them
 * would flatter the pixel error. The decoder predicts the change from the newest frame of `s_t`
 * (`x_t`), as video predictors do: most pixels do not move between frames, and a decoder that
 * has to redraw them all spends its capacity on the static bricks and ends below "copy the last
 * frame".
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { initLinear, linear } from "../nn/layers.ts";
import type { Params } from "../nn/params.ts";
import { initVit, pool, sincos2d, type VitConfig, vitEncode, vitGrid } from "../nn/vit.ts";
import { mse } from "../ssl/losses.ts";
import type { Rng } from "../tensor/rng.ts";
import { decodeTokens, initTokenDecoder } from "./autoencoder.ts";
import type { PredictorConfig } from "./ijepa.ts";

/** The model's shape. */
export interface NextFrameConfig {
  encoder: VitConfig;
  decoder: PredictorConfig;
  numActions: number;
}

/** Encoder, action embedding and decoder. */
export interface NextFrameModel {
  cfg: NextFrameConfig;
  encoder: Params;
  decoder: Params;
  encoderPos: Float32Array;
  decoderPos: Float32Array;
}

/** Builds a model. */
export function initNextFrame(rng: Rng, cfg: NextFrameConfig): NextFrameModel {
  const { rows, cols } = vitGrid(cfg.encoder);
  const p = cfg.encoder.patch;
  const decoder = initTokenDecoder(rng.fork("decoder"), cfg.encoder.width, cfg.decoder, p * p);
  decoder.action = initLinear(rng.fork("action"), cfg.numActions, cfg.decoder.width);
  return {
    cfg,
    encoder: initVit(rng.fork("encoder"), cfg.encoder),
    decoder,
    encoderPos: sincos2d(cfg.encoder.width, rows, cols),
    decoderPos: sincos2d(cfg.decoder.width, rows, cols),
  };
}

/** Encoder tokens `[B, N, width]` of patches `[B, N, patchDim]`. */
export function encodeTokens(model: NextFrameModel, patches: tf.Tensor3D): tf.Tensor3D {
  const n = patches.shape[1];
  const pos = tf.tensor3d(model.encoderPos, [1, n, model.cfg.encoder.width]);
  return vitEncode(model.encoder, model.cfg.encoder, patches, pos);
}

/** Pooled embeddings `[B, width]`, for probes and latent-space comparisons. */
export function nextFrameEmbedding(model: NextFrameModel, patches: tf.Tensor3D): tf.Tensor2D {
  return pool(encodeTokens(model, patches), model.cfg.encoder.cls);
}

/** The newest frame of patches `[B, N, p * p * k]` (channels interleaved): `[B, N, p * p]`. */
export function newestFrame(model: NextFrameModel, patches: tf.Tensor3D): tf.Tensor3D {
  const [b, n] = patches.shape;
  const { patch: p, channels: k } = model.cfg.encoder;
  return patches.reshape([b, n, p * p, k]).slice([0, 0, 0, k - 1], [b, n, p * p, 1])
    .reshape([b, n, p * p]);
}

/** Predicted patches `[B, N, p * p]` of the next frame, from patches and one-hot actions. */
export function predictNextFrame(
  model: NextFrameModel,
  patches: tf.Tensor3D,
  actions: tf.Tensor2D,
): tf.Tensor3D {
  const [b, n] = patches.shape;
  const dc = model.cfg.decoder;
  const condition = linear(model.decoder.action as Params, actions).reshape([b, 1, dc.width]);
  const change = decodeTokens(
    model.decoder,
    dc.heads,
    encodeTokens(model, patches),
    tf.tensor3d(model.decoderPos, [1, n, dc.width]),
    condition,
  );
  return tf.add(newestFrame(model, patches), change);
}

/** Pixel MSE against the next frame's patches `[B, N, p * p]` in [0, 1]. */
export function nextFrameLoss(
  model: NextFrameModel,
  patches: tf.Tensor3D,
  actions: tf.Tensor2D,
  target: tf.Tensor3D,
): tf.Scalar {
  return mse(predictNextFrame(model, patches, actions), target);
}
