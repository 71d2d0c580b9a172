/**
 * A frozen image encoder as the evaluations see it: a ViT config, its parameters, and how to
 * turn uint8 frame stacks into one vector per frame (mean of the final tokens, or CLS), or into
 * the grid of final tokens.
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
 * What {@linkcode embedFrames} returns per frame: the pooled vector (`[width]`), or every final
 * token (`[tokens, width]`, row-major over the patch grid; without CLS).
 */
export type Embedding = "pooled" | "tokens";

/**
 * Embeds `frames [B, H, W, C]` (uint8, channels last) in chunks of `batch`; returns `[B, width]`
 * floats, or `[B, tokens, width]` with `embedding: "tokens"`.
 */
export function embedFrames(
  enc: FrozenEncoder,
  frames: Uint8Array,
  count: number,
  batch = 128,
  embedding: Embedding = "pooled",
): Float32Array {
  const [h, w] = enc.cfg.imageSize;
  const c = enc.cfg.channels;
  const { tokens, patchDim } = vitGrid(enc.cfg);
  const d = enc.cfg.width;
  const perFrame = embedding === "pooled" ? d : tokens * d;
  const frameBytes = h * w * c;
  if (frames.length !== count * frameBytes) {
    throw new Error(`embedFrames: ${frames.length} bytes for ${count} frames of ${h}x${w}x${c}`);
  }
  const out = new Float32Array(count * perFrame);
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
    const z = tf.tidy(() => {
      const h = vitEncode(enc.params, enc.cfg, tf.tensor3d(patches, [n, tokens, patchDim]), pos);
      if (embedding === "pooled") return pool(h, enc.cfg.cls);
      return enc.cfg.cls ? h.slice([0, 1, 0], [-1, tokens, -1]) : h;
    });
    out.set(z.dataSync(), start * perFrame);
    z.dispose();
  }
  pos.dispose();
  return out;
}
