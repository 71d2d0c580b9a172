/**
 * Vision transformer: patch embedding, fixed 2-D sin-cos positions, pre-norm blocks, final
 * norm, optional CLS token.
 *
 * Patches are cut from the uint8 frames in JS ({@linkcode patchify}) rather than by a rank-6
 * transpose in tfjs (slow on wasm), and masked token selection happens on those arrays too
 * ({@linkcode gatherTokens}): the encoder only ever sees the tokens it keeps, and no gather sits
 * in the differentiated path. The patch embedding is then a linear layer (a strided convolution
 * in other codebases; the same function).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../tensor/rng.ts";
import {
  block,
  blocks,
  initBlocks,
  initLayerNorm,
  initLinear,
  layerNorm,
  linear,
} from "./layers.ts";
import { type Params, truncNormal } from "./params.ts";

/** Shape of a ViT. */
export interface VitConfig {
  /** Input height and width in pixels. */
  imageSize: [number, number];
  /** Input channels (stacked frames). */
  channels: number;
  patch: number;
  width: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  /** Prepend a learned CLS token (pooling then reads it instead of averaging tokens). */
  cls: boolean;
}

/** The patch grid of a config. */
export function vitGrid(
  cfg: VitConfig,
): { rows: number; cols: number; tokens: number; patchDim: number } {
  const [h, w] = cfg.imageSize;
  if (h % cfg.patch !== 0 || w % cfg.patch !== 0) {
    throw new Error(`ViT: image ${h}x${w} is not divisible into ${cfg.patch}x${cfg.patch} patches`);
  }
  const rows = h / cfg.patch;
  const cols = w / cfg.patch;
  return { rows, cols, tokens: rows * cols, patchDim: cfg.patch * cfg.patch * cfg.channels };
}

/** Parameters of a ViT: `patch` (embedding), `blocks`, `norm`, and `cls` if configured. */
export function initVit(rng: Rng, cfg: VitConfig): Params {
  if (cfg.width % cfg.heads !== 0) {
    throw new Error(`ViT: width ${cfg.width} is not divisible by ${cfg.heads} heads`);
  }
  const { patchDim } = vitGrid(cfg);
  const p: Params = {
    patch: initLinear(rng.fork("patch"), patchDim, cfg.width),
    blocks: initBlocks(rng.fork("blocks"), cfg.depth, cfg.width, cfg.mlpRatio),
    norm: initLayerNorm(cfg.width),
  };
  if (cfg.cls) p.cls = truncNormal([1, 1, cfg.width], 0.02, rng.fork("cls"));
  return p;
}

/**
 * Encodes tokens: `patches [B, K, patchDim]` (any subset of the grid) with their positions
 * `pos [B or 1, K, width]`; returns `[B, K (+1 with CLS), width]` after the final norm.
 *
 * With `outputTokens` (`[B * k]`: k distinct rows of each sample's token sequence, the CLS token
 * being row 0 when there is one), returns those tokens' outputs alone, `[B, k, width]` in that
 * order: the same values, for less work. Every block but the last runs on all tokens; then each
 * sample's tokens are reordered to put the wanted ones last (attention does not depend on the
 * order of tokens: each carries its position embedding), and the last block computes those
 * alone ({@linkcode blocks}' `lastQueries`).
 */
export function vitEncode(
  p: Params,
  cfg: VitConfig,
  patches: tf.Tensor3D,
  pos: tf.Tensor,
  outputTokens?: Int32Array,
): tf.Tensor3D {
  let x = tf.add(linear(p.patch as Params, patches), pos) as tf.Tensor3D;
  if (cfg.cls) {
    const cls = tf.tile(p.cls as tf.Variable, [x.shape[0], 1, 1]);
    x = tf.concat([cls, x], 1) as tf.Tensor3D;
  }
  if (!outputTokens) {
    return layerNorm(p.norm as Params, blocks(p.blocks as Params, x, cfg.heads)) as tf.Tensor3D;
  }
  const [b, n, d] = x.shape;
  const k = outputTokens.length / b;
  const order = tf.tensor1d(wantedLast(outputTokens, b, n), "int32");
  const wantedLastOf = (t: tf.Tensor3D) =>
    tf.gather(t.reshape([b * n, d]), order).reshape([b, n, d]) as tf.Tensor3D;
  const stack = Object.values(p.blocks as Params) as Params[];
  if (stack.length === 0) x = wantedLastOf(x).slice([0, n - k, 0], [-1, k, -1]);
  stack.forEach((params, i) => {
    const last = i === stack.length - 1;
    x = last
      ? block(params, wantedLastOf(x), cfg.heads, undefined, k)
      : block(params, x, cfg.heads);
  });
  return layerNorm(p.norm as Params, x) as tf.Tensor3D;
}

/**
 * Row indices into `[B * N]` that reorder each sample's N tokens so that its `wanted` ones
 * (`[B * k]`, distinct per sample) come last, in the order given; the others keep their order.
 */
export function wantedLast(wanted: Int32Array, b: number, n: number): Int32Array {
  const k = wanted.length / b;
  if (!Number.isInteger(k) || k > n) {
    throw new Error(
      `vitEncode: outputTokens holds ${wanted.length} indices: not k <= ${n} per sample for ${b} samples`,
    );
  }
  const order = new Int32Array(b * n);
  const isWanted = new Uint8Array(n);
  for (let i = 0; i < b; i++) {
    isWanted.fill(0);
    for (let j = 0; j < k; j++) {
      const t = wanted[i * k + j];
      if (!Number.isInteger(t) || t < 0 || t >= n || isWanted[t]) {
        throw new Error(
          `vitEncode: outputTokens of sample ${i} must be distinct rows in [0, ${n}), got ${t}`,
        );
      }
      isWanted[t] = 1;
      order[i * n + n - k + j] = i * n + t;
    }
    let o = i * n;
    for (let t = 0; t < n; t++) if (!isWanted[t]) order[o++] = i * n + t;
  }
  return order;
}

/** One vector per image: the CLS token, or the mean of the tokens. */
export function pool(tokens: tf.Tensor3D, cls: boolean): tf.Tensor2D {
  if (cls) return tokens.slice([0, 0, 0], [-1, 1, -1]).squeeze([1]) as tf.Tensor2D;
  return tokens.mean(1) as tf.Tensor2D;
}

/**
 * Fixed 2-D sin-cos position embeddings (MAE / I-JEPA): half the channels encode the row, half
 * the column, each as sin/cos at geometric frequencies. Returns `[rows * cols, d]` row-major.
 */
export function sincos2d(d: number, rows: number, cols: number): Float32Array {
  if (d % 4 !== 0) throw new Error(`sincos2d: width ${d} must be divisible by 4`);
  const quarter = d / 4;
  const out = new Float32Array(rows * cols * d);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const base = (r * cols + c) * d;
      for (let i = 0; i < quarter; i++) {
        const omega = 1 / 10000 ** (i / quarter);
        // First half: column (x) position, second half: row (y) position, as MAE.
        out[base + i] = Math.sin(c * omega);
        out[base + quarter + i] = Math.cos(c * omega);
        out[base + 2 * quarter + i] = Math.sin(r * omega);
        out[base + 3 * quarter + i] = Math.cos(r * omega);
      }
    }
  }
  return out;
}

/**
 * Cuts `frames [B, H, W, C]` (uint8, channels last) into patches `[B, rows*cols, p*p*C]`
 * scaled to [0, 1], patch pixels in (y, x, channel) order.
 */
export function patchify(
  frames: Uint8Array,
  b: number,
  h: number,
  w: number,
  c: number,
  p: number,
): Float32Array {
  const rows = h / p;
  const cols = w / p;
  const patchDim = p * p * c;
  const out = new Float32Array(b * rows * cols * patchDim);
  const scale = 1 / 255;
  let o = 0;
  for (let i = 0; i < b; i++) {
    const img = i * h * w * c;
    for (let r = 0; r < rows; r++) {
      for (let col = 0; col < cols; col++) {
        for (let y = 0; y < p; y++) {
          let src = img + ((r * p + y) * w + col * p) * c;
          for (let k = 0; k < p * c; k++) out[o++] = frames[src++] * scale;
        }
      }
    }
  }
  return out;
}

/** The inverse of {@linkcode patchify} on values: `[B, N, p*p*C]` back to `[B, h, w, C]`. */
export function unpatchifyFloats(
  patches: Float32Array,
  b: number,
  h: number,
  w: number,
  c: number,
  p: number,
): Float32Array {
  const rows = h / p;
  const cols = w / p;
  const out = new Float32Array(b * h * w * c);
  let o = 0;
  for (let i = 0; i < b; i++) {
    const img = i * h * w * c;
    for (let r = 0; r < rows; r++) {
      for (let col = 0; col < cols; col++) {
        for (let y = 0; y < p; y++) {
          let dst = img + ((r * p + y) * w + col * p) * c;
          for (let k = 0; k < p * c; k++) out[dst++] = patches[o++];
        }
      }
    }
  }
  return out;
}

/** The inverse of {@linkcode patchify}: `[B, N, p*p*C]` in [0, 1] back to uint8 frames. */
export function unpatchify(
  patches: Float32Array,
  b: number,
  h: number,
  w: number,
  c: number,
  p: number,
): Uint8Array {
  return Uint8Array.from(
    unpatchifyFloats(patches, b, h, w, c, p),
    (v) => Math.max(0, Math.min(255, Math.round(v * 255))),
  );
}

/**
 * Selects rows of `src [B, N, F]`: `index` holds `k` token indices per sample (`[B * k]`);
 * returns `[B, k, F]`. A source with `B = 1` (a table such as the position embeddings) is
 * shared by every sample.
 */
export function gatherTokens(
  src: Float32Array,
  n: number,
  f: number,
  index: Int32Array,
  k: number,
): Float32Array {
  const b = index.length / k;
  const shared = src.length === n * f;
  const out = new Float32Array(b * k * f);
  for (let i = 0; i < b; i++) {
    const base = shared ? 0 : i * n * f;
    for (let j = 0; j < k; j++) {
      const t = index[i * k + j];
      out.set(src.subarray(base + t * f, base + (t + 1) * f), (i * k + j) * f);
    }
  }
  return out;
}
