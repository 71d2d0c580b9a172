/**
 * A frozen image encoder as the evaluations see it: a ViT config, its parameters, and how to
 * turn uint8 frame stacks into one vector per frame (mean of the final tokens, or CLS).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import { patchify, pool, sincos2d, type VitConfig, vitEncode, vitGrid } from "../nn/vit.ts";

/** An encoder to evaluate. */
export interface FrozenEncoder {
  /** What it is, for tables: "ijepa", "ae", "random", ... */
  name: string;
  cfg: VitConfig;
  params: Params;
}

/**
 * Embeds `frames [B, H, W, C]` (uint8, channels last) in chunks of `batch`; returns
 * `[B, width]` floats.
 */
export function embedFrames(
  enc: FrozenEncoder,
  frames: Uint8Array,
  count: number,
  batch = 128,
): Float32Array {
  const [h, w] = enc.cfg.imageSize;
  const c = enc.cfg.channels;
  const { tokens, patchDim } = vitGrid(enc.cfg);
  const d = enc.cfg.width;
  const frameBytes = h * w * c;
  if (frames.length !== count * frameBytes) {
    throw new Error(`embedFrames: ${frames.length} bytes for ${count} frames of ${h}x${w}x${c}`);
  }
  const out = new Float32Array(count * d);
  const pos = tf.tensor3d(
    sincos2d(d, enc.cfg.imageSize[0] / enc.cfg.patch, enc.cfg.imageSize[1] / enc.cfg.patch),
    [1, tokens, d],
  );
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const patches = patchify(
      frames.subarray(start * frameBytes, (start + n) * frameBytes),
      n,
      h,
      w,
      c,
      enc.cfg.patch,
    );
    const z = tf.tidy(() =>
      pool(
        vitEncode(enc.params, enc.cfg, tf.tensor3d(patches, [n, tokens, patchDim]), pos),
        enc.cfg.cls,
      )
    );
    out.set(z.dataSync(), start * d);
    z.dispose();
  }
  pos.dispose();
  return out;
}
