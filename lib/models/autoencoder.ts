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

/** Builds an autoencoder. */
export function initAutoencoder(rng: Rng, cfg: AutoencoderConfig): AutoencoderModel {
  const { rows, cols, patchDim } = vitGrid(cfg.encoder);
  const d = cfg.decoder;
  const r = rng.fork("decoder");
  return {
    cfg,
    encoder: initVit(rng.fork("encoder"), cfg.encoder),
    decoder: {
      embed: initLinear(r.fork("embed"), cfg.encoder.width, d.width),
      blocks: initBlocks(r.fork("blocks"), d.depth, d.width, d.mlpRatio),
      norm: initLayerNorm(d.width),
      out: initLinear(r.fork("out"), d.width, patchDim),
    },
    encoderPos: sincos2d(cfg.encoder.width, rows, cols),
    decoderPos: sincos2d(d.width, rows, cols),
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
  const p = model.decoder;
  const x = tf.add(
    linear(p.embed as Params, z),
    tf.tensor3d(model.decoderPos, [1, n, dc.width]),
  ) as tf.Tensor3D;
  return linear(
    p.out as Params,
    layerNorm(p.norm as Params, blocks(p.blocks as Params, x, dc.heads)),
  ) as tf.Tensor3D;
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
