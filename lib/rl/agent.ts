/**
 * Actor-critic agents with a swappable encoder, for PPO (`ppo.ts`):
 *
 * - `cnn`: CleanRL's Nature CNN (conv trunk + dense 512) trained end to end, with an actor head
 *   (orthogonal init, gain 0.01) and a critic head (gain 1);
 * - `jepa` / `ae` / `random`: a ViT encoder of 84x84x4 frame stacks (a pretraining checkpoint,
 *   or a random init of the same shape), read as all its tokens or their mean (`readout`),
 *   centred (`centerFeatures`); the heads are a dense 512 layer + ReLU (the counterpart of the
 *   CNN's dense layer) and the same actor and critic. The encoder is frozen (only the heads
 *   train) or fine-tuned at a lower learning rate;
 * - `mlp`: a small MLP on flattened observations, for toy envs and tests.
 *
 * A frozen encoder never changes, so the rollout stores its features instead of frames: each
 * env step is embedded once, and the update epochs train the heads on the cached features.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { type CnnConfig, type FrozenEncoder, requireVit } from "../models/encoder.ts";
import { initDense, initNatureCnn, natureCnn } from "../nn/cnn.ts";
import { linear } from "../nn/layers.ts";
import { cloneParams, disposeParams, namedParams, type Params } from "../nn/params.ts";
import {
  initVit,
  patchify,
  pool,
  sincos2d,
  unpatchifyFloats,
  type VitConfig,
  vitEncode,
  vitGrid,
} from "../nn/vit.ts";
import type { Rng } from "../tensor/rng.ts";

/** Which encoder an agent has. */
export const ENCODER_KINDS = ["cnn", "jepa", "ae", "random", "mlp"] as const;
/** One of {@linkcode ENCODER_KINDS}. */
export type EncoderKind = typeof ENCODER_KINDS[number];

/** The agent part of a PPO config. */
export interface AgentConfig {
  /** `cnn` (end to end), `jepa` / `ae` (a pretraining checkpoint), `random` (random-init ViT), `mlp`. */
  encoder: EncoderKind;
  /**
   * Where the encoder artifact (`encoder.safetensors`) of a `jepa` / `ae` agent is: a
   * pretraining checkpoint directory, or the file; for `random`, one whose encoder shape to copy
   * (its weights are not used).
   */
  checkpoint: string;
  /** Keep the encoder's weights fixed (only the heads train); ViT encoders only. */
  frozen: boolean;
  /** Learning rate of a fine-tuned encoder, as a fraction of the heads' (0.1). */
  encoderLrScale: number;
  /** Width of the dense layer under the actor and critic (CleanRL: 512). */
  hidden: number;
  /**
   * What the heads read of a ViT's final tokens: `tokens` (all of them, flattened: 49 x width
   * values, like the CNN's 7x7x64 feature map under its dense layer) or `mean` (their average,
   * one width-sized vector). Breakout's ball covers one patch in 49, which the mean dilutes.
   */
  readout: Readout;
  /**
   * ViT encoders: subtract each feature's mean and divide by the features' overall std, both
   * measured on random play before training ({@linkcode Agent.centerOn}) and kept fixed. A
   * ViT's tokens end in a LayerNorm: they vary about 1% from frame to frame around a large
   * constant (I-JEPA 0.009 std per feature against a mean magnitude of 0.78 on native Breakout,
   * a random-init ViT 0.011), so without this the heads' first layer sees a nearly constant
   * input. One scale for all features keeps the encoder's geometry: a feature that barely varies
   * stays small.
   */
  centerFeatures: boolean;
}

/** What the heads of a ViT agent read: see {@linkcode AgentConfig.readout}. */
export type Readout = "tokens" | "mean";

/** What a checkpoint stores to rebuild an agent without its pretraining checkpoint. */
export interface AgentSpec {
  encoder: EncoderKind;
  frozen: boolean;
  obsShape: [number, number, number];
  numActions: number;
  hidden: number;
  /** ViT encoders: the encoder's shape, and what the heads read of it. */
  vit?: VitConfig;
  readout?: Readout;
  /** Absent in checkpoints from before the centring existed: no centring. */
  centerFeatures?: boolean;
}

/** A group of parameters trained at `lrScale` times the learning rate. */
export interface ParamGroup {
  name: "heads" | "encoder";
  lrScale: number;
  params: [string, tf.Variable][];
}

/** Policy logits and state values for a batch. */
export interface AgentOutput {
  logits: tf.Tensor2D;
  value: tf.Tensor1D;
}

/** An actor-critic agent; see the module doc. */
export interface Agent {
  readonly spec: AgentSpec;
  /** `encoder` (trunk) and `heads` parameter trees. */
  readonly params: { encoder: Params; heads: Params };
  /** What the optimiser trains, by group; a frozen encoder is in no group. */
  readonly groups: ParamGroup[];
  /**
   * Features a rollout stores per step instead of frames (frozen encoders): their width, or 0
   * when the rollout stores the frames themselves.
   */
  readonly featureDim: number;
  /** Frozen encoders: `[n, featureDim]` features of `n` uint8 frame stacks. */
  embed(obs: Uint8Array, n: number): Float32Array;
  /**
   * Every agent: what its heads read for `n` uint8 frame stacks (the trunk's output, centred
   * where the agent centres), `[n, featureWidth]`, without gradients. For a frozen encoder it
   * is `embed`.
   */
  features(obs: Uint8Array, n: number): Float32Array;
  /** The width of {@linkcode Agent.features}. */
  readonly featureWidth: number;
  /**
   * Logits and values of `n` stored inputs: uint8 frame stacks, or features when
   * `featureDim > 0`. Differentiable in the trained parameters; call inside `tf.tidy`.
   */
  forward(input: Uint8Array | Float32Array, n: number): AgentOutput;
  /**
   * Saliency of `n` frame stacks: `|d logit_a / d pixel|` for each stack's most likely action
   * `a`, `[n, h, w, c]`.
   */
  saliency(obs: Uint8Array, n: number): Float32Array;
  /**
   * ViT agents with `centerFeatures`: sets the centring from the encoder's raw features of `n`
   * frame stacks (each feature's mean; one scale, the root mean variance over features).
   */
  centerOn?(obs: Uint8Array, n: number): void;
  /**
   * Every variable by checkpoint name (`encoder/*`, `heads/*`, and `center/*` for a centred
   * ViT), frozen ones included.
   */
  tensors(): [string, tf.Variable][];
  dispose(): void;
}

/** Checks an agent config against an observation shape; throws naming the problem. */
export function checkAgentConfig(cfg: AgentConfig): void {
  if (!(ENCODER_KINDS as readonly string[]).includes(cfg.encoder)) {
    throw new Error(
      `agent.encoder: unknown encoder '${cfg.encoder}' (valid: ${ENCODER_KINDS.join(", ")})`,
    );
  }
  const vit = cfg.encoder === "jepa" || cfg.encoder === "ae" || cfg.encoder === "random";
  if (!vit && cfg.frozen) {
    throw new Error(`agent.frozen: a ${cfg.encoder} encoder is always trained end to end`);
  }
  if (vit && !cfg.checkpoint) {
    throw new Error(
      `agent.checkpoint: a ${cfg.encoder} agent needs a pretraining checkpoint directory` +
        (cfg.encoder === "random" ? " (for the encoder's shape)" : ""),
    );
  }
  if (!(cfg.encoderLrScale > 0)) {
    throw new Error(`agent.encoderLrScale must be > 0, got ${cfg.encoderLrScale}`);
  }
  if (cfg.readout !== "tokens" && cfg.readout !== "mean") {
    throw new Error(`agent.readout must be tokens or mean, got '${cfg.readout}'`);
  }
  if (typeof cfg.centerFeatures !== "boolean") {
    throw new Error(`agent.centerFeatures must be true or false, got ${cfg.centerFeatures}`);
  }
  if (!(Number.isInteger(cfg.hidden) && cfg.hidden >= 1)) {
    throw new Error(`agent.hidden must be an integer >= 1, got ${cfg.hidden}`);
  }
}

function heads(rng: Rng, dIn: number, hidden: number, numActions: number, withFc: boolean): Params {
  const p: Params = {
    // CleanRL: actor std 0.01 (near-uniform first policy), critic std 1.
    actor: initDense(rng.fork("actor"), withFc ? hidden : dIn, numActions, 0.01),
    critic: initDense(rng.fork("critic"), withFc ? hidden : dIn, 1, 1),
  };
  if (withFc) p.fc = initDense(rng.fork("fc"), dIn, hidden);
  return p;
}

/** Actor and critic on trunk features `[n, d]` (through `fc` + ReLU when the heads have one). */
function applyHeads(h: Params, z: tf.Tensor2D): AgentOutput {
  const x = h.fc ? tf.relu(linear(h.fc as Params, z)) as tf.Tensor2D : z;
  return {
    logits: linear(h.actor as Params, x) as tf.Tensor2D,
    value: linear(h.critic as Params, x).reshape([-1]) as tf.Tensor1D,
  };
}

/** Index of the largest logit of each row. */
function argmaxRows(logits: Float32Array, n: number, a: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < a; j++) if (logits[i * a + j] > logits[i * a + best]) best = j;
    out[i] = best;
  }
  return out;
}

/**
 * `[n, width]` rows of `f` over `n` uint8 frame stacks of `frameBytes` each, 64 stacks at a time:
 * a rollout's bootstrap, an evaluation batch or the centring's frames can be large.
 */
function rowsInChunks(
  f: (chunk: Uint8Array, m: number) => tf.Tensor2D,
  obs: Uint8Array,
  n: number,
  frameBytes: number,
  width: number,
): Float32Array {
  const out = new Float32Array(n * width);
  for (let at = 0; at < n; at += 64) {
    const m = Math.min(64, n - at);
    const chunk = obs.subarray(at * frameBytes, (at + m) * frameBytes);
    out.set(tf.tidy(() => f(chunk, m).dataSync()), at * width);
  }
  return out;
}

/** `|grad|` of the chosen logits with respect to an input, given `logitsOf(input)`. */
function logitGrad(
  input: tf.Tensor,
  logitsOf: (x: tf.Tensor) => tf.Tensor2D,
  n: number,
  numActions: number,
): Float32Array {
  return tf.tidy(() => {
    const chosen = argmaxRows(logitsOf(input).dataSync() as Float32Array, n, numActions);
    const mask = tf.oneHot(tf.tensor1d(chosen, "int32"), numActions);
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(logitsOf(x), mask)))(input);
    return tf.abs(g).dataSync() as Float32Array;
  });
}

/** What {@linkcode createAgent} builds an agent for, besides its config. */
export interface CreateAgentOptions {
  /** Observation shape `[h, w, c]` the env gives (for ViT agents, the encoder's input shape). */
  obsShape: readonly [number, number, number];
  /** Number of discrete actions (the actor's output width). */
  numActions: number;
  /** Source of the fresh weights (heads, and the encoder of `cnn` / `mlp` agents). */
  rng: Rng;
  /**
   * The encoder of a `jepa` / `ae` / `random` agent (required for those; its parameters are
   * copied: the caller's stay untouched). Unused by `cnn` / `mlp` agents.
   */
  vit?: FrozenEncoder;
}

/** Builds an agent from its config; see {@linkcode CreateAgentOptions}. */
export function createAgent(cfg: AgentConfig, opts: CreateAgentOptions): Agent {
  const { obsShape, numActions, rng, vit } = opts;
  checkAgentConfig(cfg);
  const spec: AgentSpec = {
    encoder: cfg.encoder,
    frozen: cfg.frozen,
    obsShape: [...obsShape],
    numActions,
    hidden: cfg.hidden,
  };
  if (cfg.encoder === "jepa" || cfg.encoder === "ae" || cfg.encoder === "random") {
    if (!vit) throw new Error(`createAgent: a ${cfg.encoder} agent needs its ViT encoder`);
    const [h, w, c] = obsShape;
    const v = requireVit(vit, `a ${cfg.encoder} agent`).cfg;
    if (v.imageSize[0] !== h || v.imageSize[1] !== w || v.channels !== c) {
      throw new Error(
        `the ${vit.name} encoder takes ${v.imageSize.join("x")}x${v.channels} frame stacks, ` +
          `but the env gives ${obsShape.join("x")}: use the pretraining frame pipeline ` +
          `(CLEANRL_ATARI: 84x84 gray, stack 4)`,
      );
    }
    spec.vit = v;
    spec.readout = cfg.readout;
    spec.centerFeatures = cfg.centerFeatures;
  }
  return buildAgent(spec, rng, vit?.params, cfg.encoderLrScale);
}

/**
 * A `cnn` agent's trunk as an encoder (its Nature CNN, trained end to end by the RL loss), for
 * probes and the encoder artifacts; undefined for agents whose encoder is a ViT.
 */
export function agentEncoder(agent: Agent, name = "ppo-cnn"): FrozenEncoder<CnnConfig> | undefined {
  if (agent.spec.encoder !== "cnn") return undefined;
  const [h, w, c] = agent.spec.obsShape;
  return {
    name,
    cfg: { arch: "cnn", imageSize: [h, w], channels: c, features: agent.spec.hidden },
    params: agent.params.encoder,
  };
}

/**
 * Builds an agent from its spec with fresh weights (then overwritten from a checkpoint by the
 * caller), or with `vitParams` copied into its encoder.
 */
export function buildAgent(
  spec: AgentSpec,
  rng: Rng,
  vitParams?: Params,
  encoderLrScale = 0.1,
): Agent {
  const [h, w, c] = spec.obsShape;
  const nA = spec.numActions;
  const frameBytes = h * w * c;
  let encoder: Params;
  let headParams: Params;
  let trunk: (input: Uint8Array | tf.Tensor4D, n: number) => tf.Tensor2D;
  let featureDim = 0;
  // The width of the trunk's output, what the heads read.
  let trunkWidth = spec.hidden;
  let embed = (_obs: Uint8Array, _n: number): Float32Array => {
    throw new Error(`embed: the ${spec.encoder} agent's encoder is not frozen`);
  };
  let saliencyInput: (obs: Uint8Array, n: number) => Float32Array;
  // Non-trainable: set once by centerOn, saved and restored with the checkpoint.
  let center: Params = {};
  let centerOn: Agent["centerOn"];

  if (spec.encoder === "cnn") {
    encoder = initNatureCnn(rng.fork("encoder"), [h, w, c], spec.hidden);
    headParams = heads(rng.fork("heads"), spec.hidden, spec.hidden, nA, false);
    trunk = (input, n) =>
      natureCnn(
        encoder,
        input instanceof Uint8Array ? { bytes: input, shape: [n, h, w, c], scale: 1 / 255 } : input,
      );
    saliencyInput = (obs, n) => {
      const x = tf.tidy(() => tf.div(tf.tensor4d(obs, [n, h, w, c], "float32"), 255));
      const g = logitGrad(
        x,
        (t) => applyHeads(headParams, trunk(t as tf.Tensor4D, n)).logits,
        n,
        nA,
      );
      x.dispose();
      return g;
    };
  } else if (spec.encoder === "mlp") {
    encoder = { fc: initDense(rng.fork("encoder"), frameBytes, spec.hidden) };
    headParams = heads(rng.fork("heads"), spec.hidden, spec.hidden, nA, false);
    const mlpTrunk = (x: tf.Tensor2D) => tf.relu(linear(encoder.fc as Params, x)) as tf.Tensor2D;
    trunk = (input, n) => {
      const x = input instanceof Uint8Array
        ? tf.div(tf.tensor2d(input, [n, frameBytes], "float32"), 255) as tf.Tensor2D
        : input.reshape([n, frameBytes]) as tf.Tensor2D;
      return mlpTrunk(x);
    };
    saliencyInput = (obs, n) => {
      const x = tf.tidy(() => tf.div(tf.tensor4d(obs, [n, h, w, c], "float32"), 255));
      const g = logitGrad(
        x,
        (t) => applyHeads(headParams, trunk(t as tf.Tensor4D, n)).logits,
        n,
        nA,
      );
      x.dispose();
      return g;
    };
  } else {
    const v = spec.vit;
    if (!v) throw new Error(`buildAgent: a ${spec.encoder} agent's spec has no ViT config`);
    // A copy, trainable only when fine-tuned: the caller's encoder (and its checkpoint) stay
    // as they were.
    if (vitParams) encoder = cloneParams(vitParams, !spec.frozen);
    else {
      const fresh = initVit(rng.fork("encoder"), v);
      encoder = cloneParams(fresh, !spec.frozen);
      disposeParams(fresh);
    }
    const { tokens, patchDim } = vitGrid(v);
    const pos = tf.keep(
      tf.tensor3d(sincos2d(v.width, h / v.patch, w / v.patch), [1, tokens, v.width]),
    );
    const readout = spec.readout ?? "mean";
    const dIn = readout === "mean" ? v.width : tokens * v.width;
    trunkWidth = dIn;
    const rawEncode = (patches: tf.Tensor3D): tf.Tensor2D => {
      const out = vitEncode(encoder, v, patches, pos);
      if (readout === "mean") return pool(out, v.cls);
      const n = out.shape[0];
      const grid = v.cls ? out.slice([0, 1, 0], [-1, tokens, -1]) : out;
      return grid.reshape([n, dIn]) as tf.Tensor2D;
    };
    const patchTensor = (obs: Uint8Array, n: number) =>
      tf.tensor3d(patchify(obs, n, h, w, c, v.patch), [n, tokens, patchDim]);
    const inChunks = (f: (p: tf.Tensor3D) => tf.Tensor2D, obs: Uint8Array, n: number) =>
      rowsInChunks((chunk, m) => f(patchTensor(chunk, m)), obs, n, frameBytes, dIn);
    let encode = rawEncode;
    if (spec.centerFeatures) {
      center = {
        mean: tf.variable(tf.zeros([dIn]), false),
        invScale: tf.variable(tf.ones([1]), false),
      };
      const { mean, invScale } = center as Record<string, tf.Variable>;
      encode = (patches) => tf.mul(tf.sub(rawEncode(patches), mean), invScale) as tf.Tensor2D;
      centerOn = (obs, n) => {
        if (n < 2) throw new Error(`centerOn: needs at least 2 frame stacks, got ${n}`);
        const f = inChunks(rawEncode, obs, n);
        const sum = new Float64Array(dIn);
        const sumSq = new Float64Array(dIn);
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < dIn; j++) {
            const x = f[i * dIn + j];
            sum[j] += x;
            sumSq[j] += x * x;
          }
        }
        const mu = new Float32Array(dIn);
        let variance = 0;
        for (let j = 0; j < dIn; j++) {
          mu[j] = sum[j] / n;
          variance += Math.max(sumSq[j] / n - mu[j] * mu[j], 0) / dIn;
        }
        mean.assign(tf.tensor1d(mu));
        invScale.assign(tf.tensor1d([1 / Math.sqrt(variance + 1e-12)]));
      };
    }
    headParams = heads(rng.fork("heads"), dIn, spec.hidden, nA, true);
    trunk = (input, n) => {
      if (!(input instanceof Uint8Array)) {
        throw new Error("ViT agents take uint8 frames (saliency goes through the patches)");
      }
      return encode(patchTensor(input, n));
    };
    if (spec.frozen) {
      featureDim = dIn;
      embed = (obs, n) => inChunks(encode, obs, n);
    }
    saliencyInput = (obs, n) => {
      const patches = patchTensor(obs, n);
      const g = logitGrad(
        patches,
        (t) => applyHeads(headParams, encode(t as tf.Tensor3D)).logits,
        n,
        nA,
      );
      patches.dispose();
      return unpatchifyFloats(g, n, h, w, c, v.patch);
    };
    const dispose = () => pos.dispose();
    return finish(dispose);
  }
  return finish(() => {});

  function finish(extraDispose: () => void): Agent {
    const params = { encoder, heads: headParams };
    const variables = () => [
      ...namedParams("encoder", encoder),
      ...namedParams("heads", headParams),
      ...namedParams("center", center),
    ];
    const trainsEncoder = !(featureDim > 0);
    const isVit = spec.vit !== undefined;
    const groups: ParamGroup[] = [
      { name: "heads", lrScale: 1, params: namedParams("heads", headParams) },
    ];
    if (trainsEncoder) {
      groups.push({
        name: "encoder",
        lrScale: isVit ? encoderLrScale : 1,
        params: namedParams("encoder", encoder),
      });
    }
    return {
      spec,
      params,
      groups,
      featureDim,
      embed,
      featureWidth: trunkWidth,
      // The trunk of a frozen ViT is its (centred) encoder: the same rows as `embed`.
      features: (obs, n) =>
        rowsInChunks((chunk, m) => trunk(chunk, m), obs, n, frameBytes, trunkWidth),
      forward(input, n) {
        if (featureDim > 0) {
          if (!(input instanceof Float32Array)) {
            throw new Error("forward: a frozen-encoder agent takes features (see embed)");
          }
          return applyHeads(headParams, tf.tensor2d(input, [n, featureDim]));
        }
        if (!(input instanceof Uint8Array)) throw new Error("forward: expected uint8 frames");
        return applyHeads(headParams, trunk(input, n));
      },
      saliency: (obs, n) => saliencyInput(obs, n),
      centerOn,
      tensors: variables,
      dispose() {
        for (const [, v] of variables()) v.dispose();
        extraDispose();
      },
    };
  }
}
