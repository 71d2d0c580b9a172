/**
 * Convolutional encoders for frame stacks `[B, H, W, C]` (channels last, values in [0, 1]):
 * the Nature CNN of DQN / CleanRL's `ppo_atari` (its convolutions as im2col + products,
 * `conv.ts`, which also read uint8 frames directly), and a small IMPALA-style ResNet. Weights
 * use CleanRL's orthogonal init (gain sqrt 2, zero biases).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../tensor/rng.ts";
import { type ByteImages, convMM, convOut } from "./conv.ts";
import { linear } from "./layers.ts";
import { orthogonal, type Params, zeros } from "./params.ts";

/** A `k x k` convolution from `cin` to `cout` channels. */
export function initConv(
  rng: Rng,
  k: number,
  cin: number,
  cout: number,
  gain = Math.SQRT2,
): Params {
  return { w: orthogonal([k, k, cin, cout], gain, rng), b: zeros([cout]) };
}

/** Convolution with bias, `valid` padding unless told otherwise. */
export function conv(
  p: Params,
  x: tf.Tensor4D,
  stride: number,
  pad: "valid" | "same" = "valid",
): tf.Tensor4D {
  return tf.add(
    tf.conv2d(x, p.w as tf.Variable as tf.Tensor4D, stride, pad),
    p.b as tf.Variable,
  ) as tf.Tensor4D;
}

/** Dense layer with orthogonal init (CleanRL's `layer_init`). */
export function initDense(rng: Rng, dIn: number, dOut: number, gain = Math.SQRT2): Params {
  return { w: orthogonal([dIn, dOut], gain, rng), b: zeros([dOut]) };
}

/** Channels of the Nature CNN's last feature map (its third convolution). */
export const NATURE_CNN_CHANNELS = 64;

/** Height and width of the Nature CNN's last feature map; throws if the input is too small. */
export function natureCnnGrid(h: number, w: number): [number, number] {
  const oh = convOut(convOut(convOut(h, 8, 4), 4, 2), 3, 1);
  const ow = convOut(convOut(convOut(w, 8, 4), 4, 2), 3, 1);
  if (oh < 1 || ow < 1) throw new Error(`Nature CNN: input ${h}x${w} is too small`);
  return [oh, ow];
}

/** The Nature CNN's convolution widths. */
export const NATURE_CNN_WIDTHS: readonly [number, number, number] = [32, 64, NATURE_CNN_CHANNELS];

/**
 * Nature CNN: conv 8x8/4 (32), 4x4/2 (64), 3x3/1 (64), dense `features` (512), ReLUs. Other
 * convolution `widths` give the same layout at another cost (a half-width one for CPU-sized
 * runs); the forward pass reads them from the weights.
 */
export function initNatureCnn(
  rng: Rng,
  inputShape: [number, number, number],
  features = 512,
  widths: readonly [number, number, number] = NATURE_CNN_WIDTHS,
): Params {
  const [h, w, c] = inputShape;
  const [oh, ow] = natureCnnGrid(h, w);
  const [w1, w2, w3] = widths;
  return {
    c1: initConv(rng.fork("c1"), 8, c, w1),
    c2: initConv(rng.fork("c2"), 4, w1, w2),
    c3: initConv(rng.fork("c3"), 3, w2, w3),
    fc: initDense(rng.fork("fc"), oh * ow * w3, features),
  };
}

/** A convolution ({@linkcode convMM}) with bias and ReLU, as a feature map `[b, oh, ow, cout]`. */
function convRelu(p: Params, x: tf.Tensor4D | ByteImages, stride: number): tf.Tensor4D {
  const w = p.w as tf.Variable;
  const [k, , , cout] = w.shape;
  const [b, h, wd] = x.shape;
  return tf.relu(tf.add(convMM(x, w, stride), p.b as tf.Variable))
    .reshape([b, convOut(h, k, stride), convOut(wd, k, stride), cout]) as tf.Tensor4D;
}

/**
 * Nature CNN forward: `[B, H, W, C]` -> `[B, features]`. The input is a float tensor (values in
 * [0, 1]; differentiable in it too, for saliency maps) or uint8 frame stacks read with their
 * `scale` (1/255 as CleanRL), whose pixels get no gradient.
 */
export function natureCnn(p: Params, x: tf.Tensor4D | ByteImages): tf.Tensor2D {
  const a3 = natureCnnFeatureMap(p, x);
  return tf.relu(linear(p.fc as Params, a3.reshape([a3.shape[0], -1]))) as tf.Tensor2D;
}

/**
 * The Nature CNN's last feature map (after its third convolution's ReLU, before the dense
 * layer): `[B, oh, ow, 64]` ({@linkcode natureCnnGrid}, {@linkcode NATURE_CNN_CHANNELS}). What
 * spatial probes read (AtariARI-style), where the dense layer has mixed the positions.
 */
export function natureCnnFeatureMap(p: Params, x: tf.Tensor4D | ByteImages): tf.Tensor4D {
  const [, h, w] = x.shape;
  natureCnnGrid(h, w); // throws if the input is too small
  const a1 = convRelu(p.c1 as Params, x, 4);
  const a2 = convRelu(p.c2 as Params, a1, 2);
  return convRelu(p.c3 as Params, a2, 1);
}

/**
 * IMPALA-style ResNet (Espeholt et al. 2018): per stage a 3x3 conv, a 3x3/2 max-pool and two
 * residual blocks; then a dense layer. `channels` per stage, default (16, 32, 32).
 */
export function initResNet(
  rng: Rng,
  inputShape: [number, number, number],
  channels: number[] = [16, 32, 32],
  features = 256,
): Params {
  let [h, w, c] = inputShape;
  const stages: Params = {};
  channels.forEach((out, i) => {
    const r = rng.fork(`stage/${i}`);
    stages[String(i)] = {
      conv: initConv(r.fork("conv"), 3, c, out),
      res0a: initConv(r.fork("r0a"), 3, out, out),
      res0b: initConv(r.fork("r0b"), 3, out, out),
      res1a: initConv(r.fork("r1a"), 3, out, out),
      res1b: initConv(r.fork("r1b"), 3, out, out),
    };
    c = out;
    h = Math.ceil(h / 2);
    w = Math.ceil(w / 2);
  });
  return { stages, fc: initDense(rng.fork("fc"), h * w * c, features) };
}

/** ResNet forward: `[B, H, W, C]` -> `[B, features]`. */
export function resNet(p: Params, x: tf.Tensor4D): tf.Tensor2D {
  const h = resNetFeatureMap(p, x);
  return tf.relu(linear(p.fc as Params, h.reshape([h.shape[0], -1]))) as tf.Tensor2D;
}

/** The ResNet's last feature map, after its ReLU and before the dense layer: `[B, h, w, c]`. */
export function resNetFeatureMap(p: Params, x: tf.Tensor4D): tf.Tensor4D {
  let h = x;
  for (const s of Object.values(p.stages as Params) as Params[]) {
    h = tf.maxPool(conv(s.conv as Params, h, 1, "same"), 3, 2, "same");
    for (const k of ["res0", "res1"]) {
      const r = conv(
        s[`${k}b`] as Params,
        tf.relu(conv(s[`${k}a`] as Params, tf.relu(h), 1, "same")),
        1,
        "same",
      );
      h = tf.add(h, r) as tf.Tensor4D;
    }
  }
  return tf.relu(h) as tf.Tensor4D;
}
