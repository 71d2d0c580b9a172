/**
 * Frame-to-action JEPA (the user's first system, after its seed project): a context encoder f
 * reads a stack of frames, a predictor g maps its output into an action-embedding space, and a
 * target encoder h embeds each of the game's A actions there. The action a player took is
 * predicted as the action whose embedding is nearest:
 *
 *   s_hat = g(f(x))            e_j = LN(h(onehot(j))),  j = 1..A
 *   a_hat = argmax_j  sim(s_hat, e_j)
 *
 * Losses (`loss`), for the action a taken on x:
 *
 *   mse       ||s_hat - sg(e_a)||^2                     sim = -||s_hat - e_j||^2
 *   cosine    1 - cos(s_hat, sg(e_a))                   sim = cos(s_hat, e_j)
 *   infonce   -log softmax_j(cos(s_hat, e_j) / tau)_a   sim = cos(s_hat, e_j)
 *   softmax   -log softmax(g(f(x)))_a                   the baseline a reviewer asks for: the same
 *                                                       encoder and predictor, A logits out
 *
 * Under mse and cosine the targets are fixed (sg: no gradient, so h stays at its random
 * initialisation): a target encoder trained on these losses can put every action on one point
 * and the loss to zero. InfoNCE trains h too, since the other actions are its negatives.
 *
 * Parts, each chosen by the config (`ActionJepaConfig`):
 * - context encoders: the Nature CNN, an IMPALA ResNet, or a ViT (optionally initialised from an
 *   I-JEPA encoder artifact), frozen or trained;
 * - target encoders: an MLP over the one-hot action, or an embedding table;
 * - predictors: an MLP on the pooled output, a residual MLP, or a transformer over the encoder's
 *   tokens (its feature-map positions for the CNNs) read out at a query token that starts from
 *   the pooled output;
 * - optional masked-frame self-supervision (the seed's `--use_masking`): square patches of the
 *   input blanked, and a small head predicting the unmasked frame's pooled output (stop-gradient)
 *   from the masked one's, weighted into the loss;
 * - optional gaze supervision, where the data has gaze (Atari-HEAD's eye tracking): a linear
 *   head predicting where the player looked, from the pooled output, weighted into the loss.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import {
  initNatureCnn,
  initResNet,
  NATURE_CNN_CHANNELS,
  natureCnnFeatureMap,
  natureCnnGrid,
  resNetFeatureMap,
} from "../nn/cnn.ts";
import {
  blocks,
  initBlocks,
  initLayerNorm,
  initLinear,
  initMlp,
  layerNorm,
  linear,
  mlp,
  noGrad,
  normalize,
} from "../nn/layers.ts";
import {
  cloneParams,
  disposeParams,
  namedParams,
  type Params,
  variableOf,
  zeros,
} from "../nn/params.ts";
import { initVit, patchify, sincos2d, type VitConfig, vitEncode, vitGrid } from "../nn/vit.ts";
import type { Rng } from "../tensor/rng.ts";
import { loadEncoder } from "./encoder.ts";

/** Channels of the IMPALA ResNet's three stages (its default). */
const RESNET_CHANNELS = [16, 32, 32];

/** The context encoder. */
export interface ContextEncoderConfig {
  arch: "cnn" | "resnet" | "vit";
  /** Width of the pooled output (CNN and ResNet dense layer; a ViT's is its token width). */
  features: number;
  /** The ViT's shape (arch `vit`). */
  vit?: Omit<VitConfig, "imageSize" | "channels">;
  /** A ViT encoder artifact to start from (an I-JEPA checkpoint directory); "" for none. */
  init: string;
  /** Keep the encoder's weights as they start (a pretrained encoder probed by the task). */
  frozen: boolean;
}

/** Everything that defines a model. */
export interface ActionJepaConfig {
  /** `[height, width, channels x stack]` of the input. */
  inputShape: [number, number, number];
  numActions: number;
  encoder: ContextEncoderConfig;
  target: { kind: "mlp" | "embedding"; hidden: number };
  predictor: {
    kind: "mlp" | "residual" | "transformer";
    width: number;
    depth: number;
    heads: number;
  };
  loss: "mse" | "cosine" | "infonce" | "softmax";
  /** D: width of the action embeddings. */
  embedDim: number;
  /** InfoNCE's temperature. */
  temperature: number;
  /** Masked-frame self-supervision (weight 0: off). */
  masking: { ratio: number; patch: number; weight: number };
  /**
   * Gaze as an auxiliary target (weight 0: off): a linear head on the pooled output predicts
   * where the player looked on the newest frame (screen fractions), on frames with gaze.
   */
  gaze: { weight: number };
}

/** A model's variables by part, and what its forward pass needs besides them. */
export interface ActionJepa {
  cfg: ActionJepaConfig;
  encoder: Params;
  predictor: Params;
  /** The target encoder (none for `softmax`). */
  target: Params;
  /** The masked-frame head (none when masking is off). */
  maskHead: Params;
  /** The gaze head (none when gaze is off). */
  gazeHead: Params;
  /** Token positions for a ViT encoder and the transformer predictor. */
  pos: { encoder?: tf.Tensor; predictor?: tf.Tensor };
}

/** The ViT config of a model's encoder. */
function vitConfig(cfg: ActionJepaConfig): VitConfig {
  const v = cfg.encoder.vit;
  if (!v) throw new Error("action JEPA: encoder.arch is 'vit' but encoder.vit is not set");
  const [h, w, c] = cfg.inputShape;
  return { ...v, imageSize: [h, w], channels: c };
}

/** Tokens (count, width) and pooled width of the context encoder. */
export function encoderShape(
  cfg: ActionJepaConfig,
): { tokens: number; tokenWidth: number; pooled: number } {
  const [h, w] = cfg.inputShape;
  if (cfg.encoder.arch === "vit") {
    const v = vitConfig(cfg);
    return { tokens: vitGrid(v).tokens, tokenWidth: v.width, pooled: v.width };
  }
  const pooled = cfg.encoder.features;
  if (cfg.encoder.arch === "cnn") {
    const [oh, ow] = natureCnnGrid(h, w);
    return { tokens: oh * ow, tokenWidth: NATURE_CNN_CHANNELS, pooled };
  }
  // The ResNet's three stages each halve the frame (a 3x3/2 max-pool, "same" padding).
  return {
    tokens: Math.ceil(h / 8) * Math.ceil(w / 8),
    tokenWidth: RESNET_CHANNELS.at(-1)!,
    pooled,
  };
}

/** A new model; a ViT encoder with `encoder.init` starts from that artifact's weights. */
export function initActionJepa(rng: Rng, cfg: ActionJepaConfig): ActionJepa {
  const [h, w, c] = cfg.inputShape;
  const { tokens, tokenWidth, pooled } = encoderShape(cfg);
  let encoder: Params;
  const pos: ActionJepa["pos"] = {};
  if (cfg.encoder.arch === "vit") {
    const v = vitConfig(cfg);
    if (cfg.encoder.init) {
      const { encoder: loaded } = loadEncoder(cfg.encoder.init);
      const lc = loaded.cfg as VitConfig;
      const same = loaded.cfg.arch !== "cnn" &&
        (["patch", "width", "depth", "heads", "mlpRatio", "cls", "channels"] as const)
          .every((k) => lc[k] === v[k]) &&
        lc.imageSize.join() === v.imageSize.join();
      if (!same) {
        throw new Error(
          `${cfg.encoder.init}: its encoder (${JSON.stringify(loaded.cfg)}) is not the ViT the ` +
            `model asks for (${JSON.stringify(v)})`,
        );
      }
      encoder = cloneParams(loaded.params, !cfg.encoder.frozen);
      disposeParams(loaded.params);
    } else encoder = initVit(rng.fork("encoder"), v);
    const g = vitGrid(v);
    pos.encoder = tf.keep(tf.tensor3d(sincos2d(v.width, g.rows, g.cols), [1, g.tokens, v.width]));
  } else if (cfg.encoder.arch === "cnn") {
    encoder = initNatureCnn(rng.fork("encoder"), [h, w, c], cfg.encoder.features);
  } else {
    encoder = initResNet(rng.fork("encoder"), [h, w, c], RESNET_CHANNELS, cfg.encoder.features);
  }
  const out = cfg.loss === "softmax" ? cfg.numActions : cfg.embedDim;
  const pc = cfg.predictor;
  let predictor: Params;
  if (pc.kind === "mlp") predictor = initMlp(rng.fork("predictor"), pooled, pc.width, out);
  else if (pc.kind === "residual") {
    const blocksP: Params = {};
    for (let i = 0; i < pc.depth; i++) {
      blocksP[String(i)] = {
        ln: initLayerNorm(pc.width),
        mlp: initMlp(rng.fork(`predictor/block/${i}`), pc.width, 2 * pc.width),
      };
    }
    predictor = {
      embed: initLinear(rng.fork("predictor/embed"), pooled, pc.width),
      blocks: blocksP,
      norm: initLayerNorm(pc.width),
      proj: initLinear(rng.fork("predictor/proj"), pc.width, out),
    };
  } else {
    predictor = {
      embed: initLinear(rng.fork("predictor/embed"), tokenWidth, pc.width),
      query: zeros([1, 1, pc.width]),
      pooled: initLinear(rng.fork("predictor/pooled"), pooled, pc.width),
      blocks: initBlocks(rng.fork("predictor/blocks"), pc.depth, pc.width),
      norm: initLayerNorm(pc.width),
      proj: initLinear(rng.fork("predictor/proj"), pc.width, out),
    };
    pos.predictor = tf.keep(tf.tensor3d(sincos1d(pc.width, tokens), [1, tokens, pc.width]));
  }
  const A = cfg.numActions;
  const target: Params = cfg.loss === "softmax"
    ? {}
    : cfg.target.kind === "mlp"
    ? initMlp(rng.fork("target"), A, cfg.target.hidden, cfg.embedDim)
    : {
      table: variableOf(
        tf.randomNormal([A, cfg.embedDim], 0, 1, "float32", rng.fork("target").uint32()),
      ),
    };
  const maskHead = cfg.masking.weight > 0 ? initMlp(rng.fork("mask"), pooled, pooled, pooled) : {};
  const gazeHead = cfg.gaze.weight > 0 ? initLinear(rng.fork("gaze"), pooled, 2) : {};
  return { cfg, encoder, predictor, target, maskHead, gazeHead, pos };
}

/** Sinusoidal positions of `n` tokens in a line, `[n * d]`. */
function sincos1d(d: number, n: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d / 2; k++) {
      const f = i / 10000 ** ((2 * k) / d);
      out[i * d + 2 * k] = Math.sin(f);
      out[i * d + 2 * k + 1] = Math.cos(f);
    }
  }
  return out;
}

/** The variables the optimiser trains (the frozen encoder's and fixed targets' left out). */
export function trainableParams(m: ActionJepa): [string, tf.Variable][] {
  return [
    ...(m.cfg.encoder.frozen ? [] : namedParams("encoder", m.encoder)),
    ...namedParams("predictor", m.predictor),
    ...(m.cfg.loss === "infonce" ? namedParams("target", m.target) : []),
    ...namedParams("mask", m.maskHead),
    ...namedParams("gaze", m.gazeHead),
  ];
}

/** Every variable, by checkpoint name. */
export function allParams(m: ActionJepa): [string, tf.Variable][] {
  return [
    ...namedParams("encoder", m.encoder),
    ...namedParams("predictor", m.predictor),
    ...namedParams("target", m.target),
    ...namedParams("mask", m.maskHead),
    ...namedParams("gaze", m.gazeHead),
  ];
}

/** Frees a model's variables and positions. */
export function disposeActionJepa(m: ActionJepa): void {
  tf.dispose(allParams(m).map(([, v]) => v));
  tf.dispose([m.pos.encoder, m.pos.predictor].filter((t): t is tf.Tensor => t !== undefined));
}

/** The context encoder on `n` uint8 frame stacks: its tokens and its pooled output. */
export function encode(
  m: ActionJepa,
  x: Uint8Array,
  n: number,
): { tokens: tf.Tensor3D; pooled: tf.Tensor2D } {
  const [h, w, c] = m.cfg.inputShape;
  const arch = m.cfg.encoder.arch;
  if (arch === "vit") {
    const v = vitConfig(m.cfg);
    const { tokens, patchDim } = vitGrid(v);
    const patches = tf.tensor3d(patchify(x, n, h, w, c, v.patch), [n, tokens, patchDim]);
    const out = vitEncode(m.encoder, v, patches, m.pos.encoder!);
    const toks = v.cls ? out.slice([0, 1, 0], [-1, tokens, -1]) as tf.Tensor3D : out;
    return { tokens: toks, pooled: tf.mean(toks, 1) as tf.Tensor2D };
  }
  const map = arch === "cnn"
    ? natureCnnFeatureMap(m.encoder, { bytes: x, shape: [n, h, w, c], scale: 1 / 255 })
    : resNetFeatureMap(m.encoder, tf.div(tf.tensor4d(x, [n, h, w, c], "float32"), 255));
  const pooled = tf.relu(linear(m.encoder.fc as Params, map.reshape([n, -1]))) as tf.Tensor2D;
  return { tokens: map.reshape([n, -1, map.shape[3]]) as tf.Tensor3D, pooled };
}

/** The predictor: `[B, D]` (or `[B, A]` logits for `softmax`). */
export function predict(
  m: ActionJepa,
  z: { tokens: tf.Tensor3D; pooled: tf.Tensor2D },
): tf.Tensor2D {
  const p = m.predictor;
  const pc = m.cfg.predictor;
  if (pc.kind === "mlp") return mlp(p, z.pooled) as tf.Tensor2D;
  if (pc.kind === "residual") {
    let x = linear(p.embed as Params, z.pooled);
    for (const b of Object.values(p.blocks as Params) as Params[]) {
      x = tf.add(x, mlp(b.mlp as Params, layerNorm(b.ln as Params, x)));
    }
    return linear(p.proj as Params, layerNorm(p.norm as Params, x)) as tf.Tensor2D;
  }
  const b = z.tokens.shape[0];
  const toks = tf.add(linear(p.embed as Params, z.tokens), m.pos.predictor!) as tf.Tensor3D;
  // The query token starts from the pooled output: what the frame is, before attending to where.
  const query = tf.add(
    p.query as tf.Variable,
    linear(p.pooled as Params, z.pooled).reshape([b, 1, pc.width]),
  ) as tf.Tensor3D;
  const y = blocks(
    p.blocks as Params,
    tf.concat([toks, query], 1) as tf.Tensor3D,
    pc.heads,
    undefined,
    1,
  );
  return linear(
    p.proj as Params,
    layerNorm(p.norm as Params, y.reshape([b, pc.width])),
  ) as tf.Tensor2D;
}

/**
 * The action embeddings `[A, D]`, layer-normed (as I-JEPA norms its targets): unit-scale targets
 * in distinct random directions from the start, whatever the target encoder's init scale.
 */
export function actionEmbeddings(m: ActionJepa): tf.Tensor2D {
  const raw = m.cfg.target.kind === "embedding"
    ? m.target.table as tf.Variable as tf.Tensor2D
    : mlp(m.target, tf.eye(m.cfg.numActions));
  return normalize(raw) as tf.Tensor2D;
}

/** Similarity of each prediction to each action, `[B, A]` (the logits for `softmax`). */
export function actionScores(m: ActionJepa, sHat: tf.Tensor2D): tf.Tensor2D {
  if (m.cfg.loss === "softmax") return sHat;
  const e = actionEmbeddings(m);
  if (m.cfg.loss === "mse") {
    // -||s - e||^2 = 2 s.e - ||e||^2 - ||s||^2; the last term is the same for every action.
    const dot = tf.matMul(sHat, e, false, true);
    return tf.sub(tf.mul(2, dot), tf.sum(tf.square(e), 1)) as tf.Tensor2D;
  }
  return tf.matMul(unit(sHat), unit(e), false, true) as tf.Tensor2D;
}

function unit(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.add(tf.norm(x, "euclidean", 1, true), 1e-8)) as tf.Tensor2D;
}

/** What a batch's loss reads besides its frames and actions. */
export interface ActionJepaLossInputs {
  /** Draws the masked patches (masking on). */
  maskRng?: Rng;
  /** `[n * 2]` gaze of each stack's newest frame as screen fractions, NaN where there is none. */
  gaze?: Float32Array;
}

/**
 * The training loss of a batch: `actions[i]` the action taken on stack i (rows with -1, an
 * episode's final observation, weigh 0), plus the weighted auxiliary terms that are on.
 */
export function actionJepaLoss(
  m: ActionJepa,
  frames: Uint8Array,
  actions: Int32Array,
  inputs: ActionJepaLossInputs = {},
): tf.Scalar {
  const { maskRng, gaze } = inputs;
  const n = actions.length;
  const cfg = m.cfg;
  const weight = tf.tensor1d(Float32Array.from(actions, (a) => (a >= 0 ? 1 : 0)));
  const labels = tf.tensor1d(Int32Array.from(actions, (a) => Math.max(a, 0)), "int32");
  const count = tf.maximum(tf.sum(weight), 1);
  const mean = (perRow: tf.Tensor1D) => tf.div(tf.sum(tf.mul(perRow, weight)), count) as tf.Scalar;
  const z = encode(m, frames, n);
  const sHat = predict(m, z);
  let loss: tf.Scalar;
  if (cfg.loss === "softmax" || cfg.loss === "infonce") {
    const logits = cfg.loss === "softmax"
      ? sHat
      : tf.div(actionScores(m, sHat), cfg.temperature) as tf.Tensor2D;
    const ce = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(labels, cfg.numActions)), 1));
    loss = mean(ce as tf.Tensor1D);
  } else {
    const target = tf.gather(noGrad(() => actionEmbeddings(m)), labels) as tf.Tensor2D;
    const perRow = cfg.loss === "mse"
      ? tf.sum(tf.square(tf.sub(sHat, target)), 1)
      : tf.sub(1, tf.sum(tf.mul(unit(sHat), unit(target)), 1));
    loss = mean(perRow as tf.Tensor1D);
  }
  if (cfg.masking.weight > 0 && maskRng) {
    const masked = maskFrames(frames, cfg.inputShape, n, cfg.masking, maskRng);
    const zm = encode(m, masked, n);
    const pred = mlp(m.maskHead, zm.pooled);
    const aux = tf.mean(tf.square(tf.sub(normalize(pred), noGrad(() => normalize(z.pooled)))));
    loss = tf.add(loss, tf.mul(cfg.masking.weight, aux)) as tf.Scalar;
  }
  if (cfg.gaze.weight > 0 && gaze) {
    // Frames without gaze weigh 0; the others share the mean squared error.
    const has = Float32Array.from({ length: n }, (_, i) => (Number.isFinite(gaze[2 * i]) ? 1 : 0));
    const target = tf.tensor2d(gaze.map((v) => (Number.isFinite(v) ? v : 0)), [n, 2]);
    const err = tf.sum(tf.square(tf.sub(linear(m.gazeHead, z.pooled), target)), 1);
    const w = tf.tensor1d(has);
    const aux = tf.div(tf.sum(tf.mul(err, w)), tf.maximum(tf.sum(w), 1));
    loss = tf.add(loss, tf.mul(cfg.gaze.weight, aux)) as tf.Scalar;
  }
  return loss;
}

/** A copy of `frames` with a `ratio` share of square `patch` blocks blanked, per stack. */
export function maskFrames(
  frames: Uint8Array,
  [h, w, c]: [number, number, number],
  n: number,
  { ratio, patch }: { ratio: number; patch: number },
  rng: Rng,
): Uint8Array {
  const out = frames.slice();
  const rows = Math.ceil(h / patch), cols = Math.ceil(w / patch);
  const k = Math.round(ratio * rows * cols);
  for (let i = 0; i < n; i++) {
    for (const cell of rng.permutation(rows * cols).slice(0, k)) {
      const r0 = Math.floor(cell / cols) * patch, c0 = (cell % cols) * patch;
      for (let y = r0; y < Math.min(h, r0 + patch); y++) {
        out.fill(0, ((i * h + y) * w + c0) * c, ((i * h + y) * w + Math.min(w, c0 + patch)) * c);
      }
    }
  }
  return out;
}

/** Scores `[n, A]` of `n` frame stacks (no gradient; leaves no tensors behind). */
export function scoreFrames(m: ActionJepa, frames: Uint8Array, n: number): Float32Array {
  return tf.tidy(() =>
    actionScores(m, predict(m, encode(m, frames, n))).dataSync() as Float32Array
  );
}
