/**
 * `vitEncode` of `lib/nn/vit.ts` with the same parameters and the same function, but every
 * linear layer's gradient formed with explicit transposes ({@linkcode dense}): on the wasm
 * backend a product with a transposed operand flag runs 5-10x slower than a transpose and a
 * plain product, which made one PPO update of a fine-tuned ViT (width 64, depth 2, 1,024 frames)
 * take about two minutes there. Layer norm, GELU and the attention products are `lib/nn`'s.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { gelu, layerNorm } from "../nn/layers.ts";
import type { Params } from "../nn/params.ts";
import type { VitConfig } from "../nn/vit.ts";
import { dense } from "./conv.ts";

/** `x @ w + b` over the last axis of any rank (`lib/nn/layers.ts` `linear`). */
export function linearFast(p: Params, x: tf.Tensor): tf.Tensor {
  const w = p.w as tf.Variable;
  const [dIn, dOut] = w.shape;
  const lead = x.shape.slice(0, -1);
  const y = tf.add(
    dense(x.reshape([-1, dIn]) as tf.Tensor2D, w as tf.Tensor as tf.Tensor2D),
    p.b as tf.Variable,
  );
  return y.reshape([...lead, dOut]);
}

/** Multi-head self-attention (`lib/nn/layers.ts` `attention`, without a mask). */
function attentionFast(p: Params, x: tf.Tensor3D, heads: number): tf.Tensor3D {
  const [b, n, d] = x.shape;
  const dh = d / heads;
  const split = (t: tf.Tensor) => t.reshape([b, n, heads, dh]).transpose([0, 2, 1, 3]);
  const q = split(linearFast(p.q as Params, x));
  const k = split(linearFast(p.k as Params, x));
  const v = split(linearFast(p.v as Params, x));
  const logits = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh));
  const out = tf.matMul(tf.softmax(logits), v).transpose([0, 2, 1, 3]).reshape([b, n, d]);
  return linearFast(p.proj as Params, out) as tf.Tensor3D;
}

/** Pre-norm block: `x + attn(ln(x))`, then `x + mlp(ln(x))`. */
function blockFast(p: Params, x: tf.Tensor3D, heads: number): tf.Tensor3D {
  const h = tf.add(
    x,
    attentionFast(p.attn as Params, layerNorm(p.ln1 as Params, x) as tf.Tensor3D, heads),
  );
  const m = p.mlp as Params;
  const mlp = linearFast(
    m.fc2 as Params,
    gelu(linearFast(m.fc1 as Params, layerNorm(p.ln2 as Params, h))),
  );
  return tf.add(h, mlp) as tf.Tensor3D;
}

/** `vitEncode`: tokens `[B, K, patchDim]` + positions -> `[B, K (+1 with CLS), width]`. */
export function vitEncodeFast(
  p: Params,
  cfg: VitConfig,
  patches: tf.Tensor3D,
  pos: tf.Tensor,
): tf.Tensor3D {
  let x = tf.add(linearFast(p.patch as Params, patches), pos) as tf.Tensor3D;
  if (cfg.cls) {
    const cls = tf.tile(p.cls as tf.Variable, [x.shape[0], 1, 1]);
    x = tf.concat([cls, x], 1) as tf.Tensor3D;
  }
  for (const k of Object.keys(p.blocks as Params)) {
    x = blockFast((p.blocks as Params)[k] as Params, x, cfg.heads);
  }
  return layerNorm(p.norm as Params, x) as tf.Tensor3D;
}
