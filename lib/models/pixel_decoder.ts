/**
 * A small pixel decoder on frozen latents, only to make the world model's predictions visible:
 * latents `[N, D]` of a frame stack (patch tokens, or one pooled token spread over the grid by a
 * linear layer) go through a few transformer blocks to the pixels of the stack's newest frame,
 * patch by patch, trained with MSE. It never feeds back into the world model or its losses.
 *
 *   h = W_in s + pos                 (pooled: h = reshape(W_in flat(s)) + pos, a row per patch)
 *   x_hat = W_out LN(blocks(h))      (p x p pixels per patch, in [0, 1])
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { blocks, initBlocks, initLayerNorm, initLinear, layerNorm, linear } from "../nn/layers.ts";
import type { Params } from "../nn/params.ts";
import { sincos2d } from "../nn/vit.ts";
import { mse } from "../ssl/losses.ts";
import type { Rng } from "../tensor/rng.ts";
import type { LatentSpec } from "./world_model.ts";

/** Decoder shape. */
export interface PixelDecoderConfig {
  width: number;
  depth: number;
  heads: number;
  mlpRatio: number;
}

/** Parameters and constants of a decoder. */
export interface PixelDecoder {
  cfg: PixelDecoderConfig;
  spec: LatentSpec;
  /** Patch side in pixels (the encoder's). */
  patch: number;
  params: Params;
  pos: Float32Array;
}

/** Builds a decoder from latents of `spec` to `patch x patch` gray patches on its grid. */
export function initPixelDecoder(
  rng: Rng,
  cfg: PixelDecoderConfig,
  spec: LatentSpec,
  patch: number,
): PixelDecoder {
  const grid = spec.rows * spec.cols;
  // Patch tokens map one to one; any other token count (one pooled token) is flattened and
  // spread over the grid.
  const perToken = spec.tokens === grid;
  return {
    cfg,
    spec,
    patch,
    params: {
      in: perToken
        ? initLinear(rng.fork("in"), spec.dim, cfg.width)
        : initLinear(rng.fork("in"), spec.tokens * spec.dim, grid * cfg.width),
      blocks: initBlocks(rng.fork("blocks"), cfg.depth, cfg.width, cfg.mlpRatio),
      norm: initLayerNorm(cfg.width),
      out: initLinear(rng.fork("out"), cfg.width, patch * patch),
    },
    pos: sincos2d(cfg.width, spec.rows, spec.cols),
  };
}

/** Decoded patches `[B, rows * cols, patch * patch]` of latents `[B, N, D]`. */
export function decodePatches(dec: PixelDecoder, latents: tf.Tensor3D): tf.Tensor3D {
  const b = latents.shape[0];
  const grid = dec.spec.rows * dec.spec.cols;
  const w = dec.cfg.width;
  const flat = latents.shape[1] === grid ? latents : latents.reshape([b, -1]);
  const h = linear(dec.params.in as Params, flat).reshape([b, grid, w]);
  const x = tf.add(h, tf.tensor3d(dec.pos, [1, grid, w])) as tf.Tensor3D;
  const y = layerNorm(
    dec.params.norm as Params,
    blocks(dec.params.blocks as Params, x, dec.cfg.heads),
  );
  return linear(dec.params.out as Params, y) as tf.Tensor3D;
}

/** Pixel MSE of decoded latents against target patches `[B, grid, p * p]` in [0, 1]. */
export function pixelDecoderLoss(
  dec: PixelDecoder,
  latents: tf.Tensor3D,
  target: tf.Tensor3D,
): tf.Scalar {
  return mse(decodePatches(dec, latents), target);
}
