/**
 * The pixel-reconstruction control: the same ViT encoder as I-JEPA, followed by a small
 * transformer decoder that predicts every patch's pixels, trained with MSE. Where I-JEPA predicts
 * features, this predicts pixels; comparing their probes shows what each objective keeps.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { blocks, initBlocks, initLayerNorm, initLinear, layerNorm, linear } from "../nn/layers.ts";
import type { Params } from "../nn/params.ts";
import { initVit, sincos2d, type VitConfig, vitEncode, vitGrid } from "../nn/vit.ts";
import { mse } from "../ssl/losses.ts";
import type { Rng } from "../tensor/rng.ts";
import type { PredictorConfig } from "./ijepa.ts";

/** Autoencoder shape: the encoder, and a decoder like I-JEPA's predictor. */
export interface AutoencoderConfig {
  encoder: VitConfig;
  decoder: PredictorConfig;
}

/** Encoder and decoder parameters. */
export interface AutoencoderModel {
  cfg: AutoencoderConfig;
  encoder: Params;
  decoder: Params;
  encoderPos: Float32Array;
  decoderPos: Float32Array;
}

/**
 * A transformer from encoder tokens (width `dIn`) to `outDim` values per token: the
 * autoencoder's decoder, shared with the next-frame model.
 */
export function initTokenDecoder(
  rng: Rng,
  dIn: number,
  cfg: PredictorConfig,
  outDim: number,
): Params {
  return {
    embed: initLinear(rng.fork("embed"), dIn, cfg.width),
    blocks: initBlocks(rng.fork("blocks"), cfg.depth, cfg.width, cfg.mlpRatio),
    norm: initLayerNorm(cfg.width),
    out: initLinear(rng.fork("out"), cfg.width, outDim),
  };
}

/**
 * Decodes tokens `z [B, N, dIn]`: `out(LN(blocks(embed(z) + pos + condition)))`. `pos` is
 * `[1, N, width]`; `condition` (e.g. an action embedding, `[B, 1, width]`) is added to every
 * token when given.
 */
export function decodeTokens(
  p: Params,
  heads: number,
  z: tf.Tensor3D,
  pos: tf.Tensor,
  condition?: tf.Tensor,
): tf.Tensor3D {
  let x = tf.add(linear(p.embed as Params, z), pos) as tf.Tensor3D;
  if (condition) x = tf.add(x, condition) as tf.Tensor3D;
  return linear(
    p.out as Params,
    layerNorm(p.norm as Params, blocks(p.blocks as Params, x, heads)),
  ) as tf.Tensor3D;
}

/** Builds an autoencoder. */
export function initAutoencoder(rng: Rng, cfg: AutoencoderConfig): AutoencoderModel {
  const { rows, cols, patchDim } = vitGrid(cfg.encoder);
  return {
    cfg,
    encoder: initVit(rng.fork("encoder"), cfg.encoder),
    decoder: initTokenDecoder(rng.fork("decoder"), cfg.encoder.width, cfg.decoder, patchDim),
    encoderPos: sincos2d(cfg.encoder.width, rows, cols),
    decoderPos: sincos2d(cfg.decoder.width, rows, cols),
  };
}

/** Reconstructed patches `[B, N, patchDim]` from patches. */
export function reconstruct(model: AutoencoderModel, patches: tf.Tensor3D): tf.Tensor3D {
  const { encoder: enc, decoder: dc } = model.cfg;
  const n = patches.shape[1];
  const z = vitEncode(
    model.encoder,
    enc,
    patches,
    tf.tensor3d(model.encoderPos, [1, n, enc.width]),
  );
  return decodeTokens(
    model.decoder,
    dc.heads,
    z,
    tf.tensor3d(model.decoderPos, [1, n, dc.width]),
  );
}

/** Pixel MSE of the reconstruction. */
export function autoencoderLoss(
  model: AutoencoderModel,
  patches: Float32Array,
  b: number,
): tf.Scalar {
  const { tokens, patchDim } = vitGrid(model.cfg.encoder);
  const x = tf.tensor3d(patches, [b, tokens, patchDim]);
  return mse(reconstruct(model, x), x);
}
