/**
 * DQN (Mnih et al. 2015) after CleanRL's `dqn_atari.py`, with the seed project's exploration
 * modes. A Q-network (the Nature CNN and a linear head; an MLP for toy envs) is trained on
 * minibatches from a replay buffer (`replay.ts`, each frame stored once) toward the targets of a
 * slowly copied target network:
 *
 *   y = r + gamma (1 - done) Q_target(s', a*),   a* = argmax_a Q(s', a)  (Double DQN; without
 *                                                 it a* = argmax_a Q_target(s', a))
 *   loss = mean_i w_i huber(Q(s_i, a_i) - y_i)    (w: importance weights, 1 without PER)
 *
 * Exploration (`exploration.mode`):
 * - `epsilon`: a random action with probability epsilon, annealed linearly (the reference);
 * - `boltzmann`: actions drawn from softmax(Q / T), the temperature T annealed linearly, with
 *   proportional prioritized replay (priorities |delta| + eps to the alpha, beta annealed to 1);
 * - `rnd`: epsilon-greedy on Q_E + w Q_I, two heads of one network (Burda et al. 2019). Q_E learns
 *   the clipped game reward as above; Q_I learns RND's intrinsic reward of the next frame
 *   (`rnd.ts`), computed when the batch is drawn, with its own discount and no game-over cut
 *   (the paper's non-episodic intrinsic return):
 *
 *     y_E = r_E + gamma   (1 - done) Q_E,target(s', a*)
 *     y_I = r_I + gamma_I            Q_I,target(s', a*),   a* = argmax_a (Q_E + w Q_I)(s', a)
 *     loss = mean_i huber(Q_E(s_i, a_i) - y_E,i) + huber(Q_I(s_i, a_i) - y_I,i)
 *
 *   RND's predictor trains on each batch's next frames; its two CNNs take the Q-network's
 *   convolution widths.
 *
 * Hyper-parameters in one typed block (`DQN_ATARI`, CleanRL's); the training loop owns the NaN
 * guard and the schedule.
 *
 * @module
 */

import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { CLEANRL_ATARI, type EnvConfig, envObsShape, gameActions, makeEnv } from "../envs/make.ts";
import type { Env, StepInfo } from "../envs/types.ts";
import type { ActFn } from "../eval/robustness.ts";
import { initDense, initNatureCnn, natureCnn } from "../nn/cnn.ts";
import { linear, noGrad } from "../nn/layers.ts";
import { cloneParams, disposeParams, namedParams, type Params } from "../nn/params.ts";
import type { OnStep } from "../run/progress.ts";
import {
  assignTensors,
  hasCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from "../tensor/checkpoint.ts";
import { deriveSeed, Rng, type RngState } from "../tensor/rng.ts";
import { AdamW, globalNormClip } from "../train/optim.ts";
import { NonFiniteLossError } from "../train/loop.ts";
import { loadReplay, ReplayBuffer, type ReplayFileRef, saveReplay } from "./replay.ts";
import { type EnvSnapshot, ReplayVectorEnv } from "./replay_env.ts";
import {
  initRnd,
  intrinsicRewards,
  observeFrames,
  observeReturn,
  predictorStep,
  type RndNormalize,
  rndParams,
  rndTrainable,
  type RunningStatsState,
} from "./rnd.ts";

/** How the agent explores. */
export interface ExplorationConfig {
  /** `rnd`: epsilon-greedy on the schedule, plus RND's intrinsic reward (`rnd.ts`). */
  mode: "epsilon" | "boltzmann" | "rnd";
  /** epsilon (mode `epsilon`) or the temperature (mode `boltzmann`): start, end, and the share of the run it takes to anneal. */
  start: number;
  end: number;
  fraction: number;
  /** Prioritized replay (mode `boltzmann`): alpha, eps, and beta's start (annealed to 1). */
  per: { alpha: number; eps: number; beta0: number };
  /**
   * RND (mode `rnd`): the intrinsic value's weight w in Q_E + w Q_I, the networks' output width,
   * the predictor's lr, the intrinsic discount gamma_I, and what the intrinsic rewards are
   * divided by (`rnd.ts`: the std of the intrinsic return, the paper's, or of the rewards).
   */
  rnd: { weight: number; width: number; lr: number; gamma: number; normalize: RndNormalize };
}

/** Everything that defines a DQN run. */
export interface DqnConfig {
  seed: number;
  /** The env and its wrapper stack (observations: stacks of `env.frameStack` frames). */
  env: EnvConfig;
  totalSteps: number;
  bufferSize: number;
  batchSize: number;
  lr: number;
  gamma: number;
  /** Copy the online network to the target every this many steps. */
  targetUpdateEvery: number;
  /** One gradient step every this many env steps. */
  trainEvery: number;
  /** Env steps of pure exploration before the first update. */
  learningStarts: number;
  double: boolean;
  maxGradNorm: number;
  /** The Q-network: the Nature CNN (convolution `widths`, default 32/64/64) or an MLP (toys). */
  network: { kind: "cnn" | "mlp"; hidden: number; widths?: [number, number, number] };
  exploration: ExplorationConfig;
  /** Checkpoint (weights, optimiser, replay buffer, env, RNG) every this many env steps. */
  checkpointEvery: number;
  /** One metrics record (window means) every this many env steps. */
  logEvery: number;
}

/** CleanRL's `dqn_atari.py` hyper-parameters (10M steps, meant for a GPU). */
export const DQN_ATARI: DqnConfig = {
  seed: 0,
  env: CLEANRL_ATARI,
  totalSteps: 10_000_000,
  bufferSize: 1_000_000,
  batchSize: 32,
  lr: 1e-4,
  gamma: 0.99,
  targetUpdateEvery: 1000,
  trainEvery: 4,
  learningStarts: 80_000,
  double: true,
  maxGradNorm: 10,
  network: { kind: "cnn", hidden: 512 },
  exploration: {
    mode: "epsilon",
    start: 1,
    end: 0.01,
    fraction: 0.1,
    per: { alpha: 0.6, eps: 1e-6, beta0: 0.4 },
    rnd: { weight: 0.5, width: 512, lr: 1e-4, gamma: 0.99, normalize: "return" },
  },
  checkpointEvery: 100_000,
  logEvery: 1000,
};

/** A Q-network's variables and its forward pass. */
export interface QNetwork {
  params: Params;
  /** `[n, A]` the values the agent acts on, of `n` observations (uint8, `obsShape` each). */
  forward(obs: Uint8Array, n: number): tf.Tensor2D;
  /** Each head's `[n, A]` Q-values: Q_E, and Q_I where the network has an intrinsic head. */
  heads(obs: Uint8Array, n: number): tf.Tensor2D[];
}

/** Options of {@linkcode initQNetwork}. */
export interface QNetworkOptions {
  /** Variables to use instead of new ones (a target network's copy). */
  params?: Params;
  /** Adds an intrinsic head Q_I; the agent acts on Q_E + weight Q_I. */
  intrinsicWeight?: number;
}

/** A Q-network for observations of `obsShape` and `numActions` actions. */
export function initQNetwork(
  rng: Rng,
  obsShape: [number, number, number],
  numActions: number,
  net: DqnConfig["network"],
  opts: QNetworkOptions = {},
): QNetwork {
  const [h, w, c] = obsShape;
  const weight = opts.intrinsicWeight;
  // One linear layer holds both heads: [Q_E | Q_I].
  const outputs = numActions * (weight === undefined ? 1 : 2);
  const p = opts.params ?? (net.kind === "cnn"
    ? {
      trunk: initNatureCnn(rng.fork("trunk"), obsShape, net.hidden, net.widths),
      head: initDense(rng.fork("head"), net.hidden, outputs, 1),
    }
    : {
      trunk: { fc: initDense(rng.fork("trunk"), h * w * c, net.hidden) },
      head: initDense(rng.fork("head"), net.hidden, outputs, 1),
    });
  const heads = (obs: Uint8Array, n: number): tf.Tensor2D[] => {
    const trunk = p.trunk as Params;
    const features = net.kind === "cnn"
      ? natureCnn(trunk, { bytes: obs, shape: [n, h, w, c], scale: 1 / 255 })
      : tf.relu(
        linear(trunk.fc as Params, tf.div(tf.tensor2d(obs, [n, h * w * c], "float32"), 255)),
      ) as tf.Tensor2D;
    const q = linear(p.head as Params, features) as tf.Tensor2D;
    return weight === undefined ? [q] : tf.split(q, 2, 1);
  };
  return {
    params: p,
    heads,
    forward(obs, n) {
      const [qE, qI] = heads(obs, n);
      return qI ? tf.add(qE, tf.mul(weight!, qI)) as tf.Tensor2D : qE;
    },
  };
}

/** The weight of the intrinsic head of a run's Q-network (mode `rnd`), else none. */
function intrinsicWeightOf(cfg: DqnConfig): number | undefined {
  return cfg.exploration.mode === "rnd" ? cfg.exploration.rnd.weight : undefined;
}

/** The linear schedule of the exploration parameter at `step`. */
export function explorationAt(x: ExplorationConfig, step: number, total: number): number {
  const span = Math.max(1, x.fraction * total);
  return step >= span ? x.end : x.start + (x.end - x.start) * (step / span);
}

/** An action from Q-values `q` (one row): epsilon-greedy, or drawn from softmax(q / T). */
export function exploreAction(
  q: ArrayLike<number>,
  x: ExplorationConfig,
  param: number,
  rng: Rng,
): number {
  const A = q.length;
  if (x.mode === "epsilon") {
    if (rng.float() < param) return rng.int(A);
    let best = 0;
    for (let j = 1; j < A; j++) if (q[j] > q[best]) best = j;
    return best;
  }
  let max = -Infinity;
  for (let j = 0; j < A; j++) max = Math.max(max, q[j]);
  const p = Array.from({ length: A }, (_, j) => Math.exp((q[j] - max) / Math.max(param, 1e-8)));
  const total = p.reduce((a, b) => a + b, 0);
  let u = rng.float() * total;
  for (let j = 0; j < A; j++) {
    u -= p[j];
    if (u < 0) return j;
  }
  return A - 1;
}

/** A batch of transitions as the loss reads it (a `ReplayBatch`'s fields). */
export interface DqnBatch {
  obs: Uint8Array;
  nextObs: Uint8Array;
  actions: Int32Array;
  rewards: Float32Array;
  dones: Uint8Array;
  weights: Float32Array;
}

/** The discounts and heads of {@linkcode dqnTargets} and {@linkcode dqnLoss}. */
export interface DqnLossOptions {
  gamma: number;
  double: boolean;
  numActions: number;
  intrinsic?: { rewards: Float32Array; gamma: number };
}

/** The Q-value of each row's action: `sum_a q[i, a] onehot(actions[i])[a]`. */
function takenQ(q: tf.Tensor2D, actions: tf.Tensor1D, numActions: number): tf.Tensor1D {
  return tf.sum(tf.mul(q, tf.oneHot(actions, numActions)), 1);
}

/**
 * The bootstrap targets of a batch, `[y_E]` or `[y_E, y_I]` (the module doc's equations), off the
 * gradient tape: they carry no gradient (the action is an argmax), and on the tape the online
 * network's pass over the next observations was back-propagated too (to zeros), two fifths of
 * the backward pass.
 */
export function dqnTargets(
  online: QNetwork,
  target: QNetwork,
  batch: DqnBatch,
  opts: DqnLossOptions,
): tf.Tensor1D[] {
  const n = batch.actions.length;
  const A = opts.numActions;
  const stacked = noGrad(() => tf.tidy(() => tf.stack(targetRows()) as tf.Tensor2D));
  const ys = tf.unstack(stacked) as tf.Tensor1D[];
  stacked.dispose();
  return ys;

  function targetRows(): tf.Tensor1D[] {
    const aStar = tf.argMax((opts.double ? online : target).forward(batch.nextObs, n), 1);
    const [nextE, nextI] = target.heads(batch.nextObs, n);
    const notDone = tf.sub(1, tf.tensor1d(Float32Array.from(batch.dones)));
    const yE: tf.Tensor1D = tf.add(
      tf.tensor1d(batch.rewards),
      tf.mul(opts.gamma, tf.mul(notDone, takenQ(nextE, aStar as tf.Tensor1D, A))),
    );
    if (!nextI) return [yE];
    if (!opts.intrinsic) throw new Error("dqnLoss: a network with an intrinsic head needs rewards");
    // No (1 - done): the intrinsic return runs on across game overs.
    const yI: tf.Tensor1D = tf.add(
      tf.tensor1d(opts.intrinsic.rewards),
      tf.mul(opts.intrinsic.gamma, takenQ(nextI, aStar as tf.Tensor1D, A)),
    );
    return [yE, yI];
  }
}

/**
 * The loss of a batch (the module doc's equations) and each transition's TD error
 * `Q_E(s, a) - y_E` (for the priorities). A network with an intrinsic head needs
 * `opts.intrinsic`: the batch's intrinsic rewards and their discount.
 */
export function dqnLoss(
  online: QNetwork,
  target: QNetwork,
  batch: DqnBatch,
  opts: DqnLossOptions,
): { loss: tf.Scalar; tdErrors: tf.Tensor1D; qTaken: tf.Scalar } {
  const n = batch.actions.length;
  const ys = dqnTargets(online, target, batch, opts);
  const actions = tf.tensor1d(batch.actions, "int32");
  const qs = online.heads(batch.obs, n).map((q) => takenQ(q, actions, opts.numActions));
  const tds = qs.map((q, i) => tf.sub(q, ys[i]) as tf.Tensor1D);
  // Huber with delta 1: 0.5 x^2 inside, |x| - 0.5 outside, written as one smooth expression.
  const huber = (td: tf.Tensor1D) => {
    const abs = tf.abs(td);
    const inside = tf.minimum(abs, 1);
    return tf.add(tf.mul(0.5, tf.square(inside)), tf.sub(abs, inside));
  };
  const perSample = tds.map(huber).reduce((a, b) => tf.add(a, b));
  const loss = tf.mean(tf.mul(perSample, tf.tensor1d(batch.weights))) as tf.Scalar;
  tf.dispose(ys);
  return { loss, tdErrors: tds[0], qTaken: tf.mean(qs[0]) as tf.Scalar };
}

/**
 * The online and target networks and the optimiser: `update` is one gradient step on a batch
 * (Adam, gradients clipped by global norm; a non-finite loss stops before the step),
 * `syncTarget` copies the online weights to the target.
 */
export class DqnLearner {
  readonly online: QNetwork;
  readonly target: QNetwork;
  readonly trainable: [string, tf.Variable][];
  readonly #targetVars: [string, tf.Variable][];
  readonly #optimizer: AdamW;

  constructor(
    readonly cfg: DqnConfig,
    obsShape: [number, number, number],
    readonly numActions: number,
    rng: Rng,
  ) {
    const intrinsicWeight = intrinsicWeightOf(cfg);
    this.online = initQNetwork(rng.fork("q"), obsShape, numActions, cfg.network, {
      intrinsicWeight,
    });
    this.target = initQNetwork(rng, obsShape, numActions, cfg.network, {
      params: cloneParams(this.online.params, false),
      intrinsicWeight,
    });
    this.trainable = namedParams("q", this.online.params);
    this.#targetVars = namedParams("q", this.target.params);
    this.#optimizer = new AdamW(this.trainable);
  }

  /**
   * One gradient step; the loss, each transition's TD error and the mean Q of the taken actions.
   * `intrinsic`: the batch's intrinsic rewards (mode `rnd`).
   */
  update(
    batch: DqnBatch,
    step: number,
    intrinsic?: Float32Array,
  ): { loss: number; td: Float32Array; q: number } {
    let td: Float32Array = new Float32Array(0);
    let q = NaN;
    const opts: DqnLossOptions = {
      gamma: this.cfg.gamma,
      double: this.cfg.double,
      numActions: this.numActions,
      intrinsic: intrinsic && { rewards: intrinsic, gamma: this.cfg.exploration.rnd.gamma },
    };
    const { value, grads } = tf.variableGrads(() => {
      const out = dqnLoss(this.online, this.target, batch, opts);
      td = out.tdErrors.dataSync() as Float32Array;
      q = out.qTaken.dataSync()[0];
      return out.loss;
    }, this.trainable.map(([, v]) => v));
    const loss = value.dataSync()[0];
    if (!Number.isFinite(loss)) {
      tf.dispose([value, ...Object.values(grads)]);
      throw new NonFiniteLossError(`dqn: loss ${loss} at step ${step}`);
    }
    const named: Record<string, tf.Tensor> = {};
    for (const [name, v] of this.trainable) named[name] = grads[v.name];
    const clip = globalNormClip(named, this.cfg.maxGradNorm);
    this.#optimizer.apply(named, this.cfg.lr, 0, clip.scale);
    tf.dispose([value, ...Object.values(grads)]);
    return { loss, td, q };
  }

  /** Every variable a checkpoint holds: both networks and the optimiser's moments, by name. */
  tensors(): [string, tf.Variable][] {
    return [
      ...this.trainable,
      ...namedParams("target", this.target.params),
      ...this.#optimizer.stateTensors().map(([k, v]) => [`opt/${k}`, v] as [string, tf.Variable]),
    ];
  }

  /** Adam's step count (bias correction), saved and restored with the moments. */
  get optimizerStep(): number {
    return this.#optimizer.step;
  }
  set optimizerStep(step: number) {
    this.#optimizer.step = step;
  }

  /** Copies the online network's weights into the target network. */
  syncTarget(): void {
    tf.tidy(() => this.#targetVars.forEach(([, t], i) => t.assign(this.trainable[i][1])));
  }

  /** Frees the optimiser and the target network (the online network is the caller's). */
  disposeTraining(): void {
    this.#optimizer.dispose();
    disposeParams(this.target.params);
  }
}

/** A finished game of a run. */
export interface DqnEpisode {
  /** Env steps done when it ended. */
  step: number;
  return: number;
  length: number;
}

/** What a run reports as it goes. */
export interface DqnHooks {
  /**
   * Every `cfg.logEvery` env steps, as loop "dqn" (step: env steps done): the means over the
   * window of loss, Q of the taken actions, |TD error|, intrinsic reward, and the exploration
   * parameter, beta, games ended, their mean return, env steps per second, the process's RSS
   * and the live tensor count.
   */
  onStep?: OnStep;
  onEpisode?(episode: DqnEpisode): void;
  log?(line: string): void;
}

/**
 * Something that watches every env step (the ground-truth state after it) and whose state is
 * saved in the checkpoint, so that what it counts survives a resume (a state-coverage count).
 */
export interface StepObserver {
  observe(info: StepInfo, step: number): void;
  snapshot(): unknown;
  restore(snapshot: unknown): void;
}

/** Options of one call of {@linkcode trainDqn}. */
export interface DqnOptions {
  checkpointDir: string;
  resume?: boolean;
  /** Stop (throwing) after this many env steps in this call: simulates a kill in tests. */
  stopAfter?: number;
  /** Builds the env (default: `makeEnv(cfg.env)`); for toy envs in tests. */
  makeEnv?: () => Env;
  observer?: StepObserver;
}

/** A finished run: the online network (the caller disposes its params) and its speed. */
export interface DqnResult {
  network: QNetwork;
  steps: number;
  /** Env steps per second over this call. */
  sps: number;
}

/** The newest frame (`c` channels) of a channels-last stack of `k` frames. */
export function newestFrame(stack: Uint8Array, pixels: number, c: number, k: number): Uint8Array {
  const out = new Uint8Array(pixels * c);
  for (let p = 0; p < pixels; p++) {
    for (let ch = 0; ch < c; ch++) out[p * c + ch] = stack[(p * k + k - 1) * c + ch];
  }
  return out;
}

/** The newest frames of `n` stacks laid end to end (`newestFrame` of each). */
function newestFrames(
  stacks: Uint8Array,
  n: number,
  pixels: number,
  c: number,
  k: number,
): Uint8Array {
  const out = new Uint8Array(n * pixels * c);
  const stackBytes = pixels * c * k;
  for (let i = 0; i < n; i++) {
    const stack = stacks.subarray(i * stackBytes, (i + 1) * stackBytes);
    out.set(newestFrame(stack, pixels, c, k), i * pixels * c);
  }
  return out;
}

/** Checks a config's numbers before a run starts; the error names the field. */
export function checkDqnConfig(cfg: DqnConfig): void {
  const positive: [string, number][] = [
    ["totalSteps", cfg.totalSteps],
    ["bufferSize", cfg.bufferSize],
    ["batchSize", cfg.batchSize],
    ["targetUpdateEvery", cfg.targetUpdateEvery],
    ["trainEvery", cfg.trainEvery],
    ["checkpointEvery", cfg.checkpointEvery],
    ["logEvery", cfg.logEvery],
  ];
  for (const [key, v] of positive) {
    if (!(Number.isInteger(v) && v >= 1)) {
      throw new Error(`${key} must be an integer >= 1, got ${v}`);
    }
  }
  if (!(Number.isInteger(cfg.learningStarts) && cfg.learningStarts >= cfg.batchSize)) {
    throw new Error(
      `learningStarts must be an integer >= batchSize (${cfg.batchSize}), got ${cfg.learningStarts}`,
    );
  }
  if (!(cfg.gamma >= 0 && cfg.gamma <= 1)) {
    throw new Error(`gamma must be in [0, 1], got ${cfg.gamma}`);
  }
  if (!["epsilon", "boltzmann", "rnd"].includes(cfg.exploration.mode)) {
    throw new Error(
      `exploration.mode must be epsilon, boltzmann or rnd, got ${cfg.exploration.mode}`,
    );
  }
  if (!["return", "reward"].includes(cfg.exploration.rnd.normalize)) {
    throw new Error(
      `exploration.rnd.normalize must be return or reward, got ${cfg.exploration.rnd.normalize}`,
    );
  }
}

/** What a DQN checkpoint's sidecar holds besides the config. */
interface DqnCheckpointExtra {
  [key: string]: unknown;
  optimizerStep: number;
  rng: { act: RngState; sample: RngState };
  env: EnvSnapshot;
  replay: ReplayFileRef;
  /** The next stored frame starts an episode. */
  first: boolean;
  window: Window;
  rnd: {
    obs: RunningStatsState;
    reward: RunningStatsState;
    returns: RunningStatsState;
    intrinsicReturn: number;
    optimizerStep: number;
  } | null;
  observer: unknown;
}

/** The running sums of one logging window. */
interface Window {
  updates: number;
  loss: number;
  q: number;
  td: number;
  intrinsic: number;
  intrinsicCount: number;
  episodes: number;
  returns: number;
}

const emptyWindow = (): Window => ({
  updates: 0,
  loss: 0,
  q: 0,
  td: 0,
  intrinsic: 0,
  intrinsicCount: 0,
  episodes: 0,
  returns: 0,
});

/**
 * Trains (or resumes) DQN on `cfg.env`. Observations are stacks of `cfg.env.frameStack` frames;
 * the buffer stores the newest frame of each. A checkpoint every `cfg.checkpointEvery` steps
 * holds the networks, the optimisers, the replay buffer with its priorities, the RNG streams,
 * the env (by replay), RND's running statistics and the observer's counts, so a killed run
 * resumed with `resume: true` ends with the weights of an uninterrupted one.
 */
export async function trainDqn(
  cfg: DqnConfig,
  opts: DqnOptions,
  hooks: DqnHooks = {},
): Promise<DqnResult> {
  checkDqnConfig(cfg);
  const envs = new ReplayVectorEnv(
    opts.makeEnv ?? (() => makeEnv(cfg.env, deriveSeed(cfg.seed, "env/0"))),
    1,
    deriveSeed(cfg.seed, "train"),
  );
  const [h, w, cs] = envs.spec.obsShape;
  const k = cfg.env.frameStack;
  const c = cs / k;
  if (!Number.isInteger(c)) {
    envs.close();
    throw new Error(`trainDqn: observations have ${cs} channels, not a multiple of ${k} frames`);
  }
  const A = envs.spec.actionMeanings.length;
  const rng = new Rng(cfg.seed);
  const learner = new DqnLearner(cfg, [h, w, cs], A, rng.fork("learner"));
  const x = cfg.exploration;
  const buffer = new ReplayBuffer({
    capacity: cfg.bufferSize,
    frameShape: [h, w, c],
    stack: k,
    priorities: x.mode === "boltzmann" ? { alpha: x.per.alpha, eps: x.per.eps } : undefined,
  });
  const act = rng.fork("act"), sample = rng.fork("sample");
  const rnd = x.mode === "rnd"
    ? initRnd(rng.fork("rnd"), [h, w, c], x.rnd.width, cfg.network.widths)
    : null;
  const rndOptimizer = rnd ? new AdamW(rndTrainable(rnd)) : null;
  const saved = (): [string, tf.Variable][] => [
    ...learner.tensors(),
    ...(rnd ? rndParams(rnd) : []),
    ...(rndOptimizer
      ? rndOptimizer.stateTensors().map(([n, v]) => [`rnd/opt/${n}`, v] as [string, tf.Variable])
      : []),
  ];
  const frameOf = (stack: Uint8Array) => newestFrame(stack, h * w, c, k);
  let first = true;
  let window = emptyWindow();
  let start = 0;
  try {
    if (opts.resume && hasCheckpoint(opts.checkpointDir)) {
      const { meta, tensors } = loadCheckpoint(opts.checkpointDir);
      if (JSON.stringify(meta.config) !== JSON.stringify(cfg)) {
        throw new Error(
          `${opts.checkpointDir}: the checkpoint was made with a different config; start a new run`,
        );
      }
      const extra = meta.extra as DqnCheckpointExtra;
      assignTensors(saved(), tensors, opts.checkpointDir);
      learner.optimizerStep = extra.optimizerStep;
      act.setState(extra.rng.act);
      sample.setState(extra.rng.sample);
      loadReplay(buffer, join(opts.checkpointDir, safeFileName(extra.replay.file)), extra.replay);
      envs.restore(extra.env);
      first = extra.first;
      window = extra.window;
      if (rnd && extra.rnd) {
        rnd.obsStats.restore(extra.rnd.obs);
        rnd.rewardStats.restore(extra.rnd.reward);
        rnd.returnStats.restore(extra.rnd.returns);
        rnd.intrinsicReturn = extra.rnd.intrinsicReturn;
        rndOptimizer!.step = extra.rnd.optimizerStep;
      }
      if (opts.observer) opts.observer.restore(extra.observer);
      start = meta.step;
      hooks.log?.(`resumed from step ${start} (${opts.checkpointDir})`);
    } else {
      envs.reset();
    }

    const sessionStart = performance.now();
    let windowStart = performance.now();
    let lastCheckpoint = start;
    for (let step = start; step < cfg.totalSteps; step++) {
      if (opts.stopAfter !== undefined && step - start >= opts.stopAfter) {
        throw new Error(`stopped after ${opts.stopAfter} steps`);
      }
      const param = explorationAt(x, step, cfg.totalSteps);
      const q = tf.tidy(() => learner.online.forward(envs.obs, 1).dataSync() as Float32Array);
      const action = exploreAction(q, x, param, act);
      const frame = frameOf(envs.obs);
      const r = envs.step([action]);
      const next = r.finalObs[0] ?? envs.obs;
      const reward = Math.sign(r.rewards[0]);
      if (rnd) {
        const seen = frameOf(next);
        observeFrames(rnd, seen, 1);
        if (x.rnd.normalize === "return") observeReturn(rnd, seen, x.rnd.gamma);
      }
      buffer.add(frame, { first, action, reward, done: r.terminated[0] === 1 });
      first = false;
      opts.observer?.observe(r.infos[0], step + 1);
      if (r.dones[0]) {
        // The episode's final frame, so the last transition has its next state.
        buffer.add(frameOf(next), { first: false, action: -1, reward: 0, done: false });
        first = true;
      }
      const episode = r.episodes[0];
      if (episode) {
        window.episodes++;
        window.returns += episode.return;
        hooks.onEpisode?.({ step: step + 1, return: episode.return, length: episode.length });
      }
      if (step >= cfg.learningStarts && step % cfg.trainEvery === 0) {
        const beta = x.per.beta0 + (1 - x.per.beta0) * Math.min(1, step / cfg.totalSteps);
        const batch = buffer.sample(cfg.batchSize, sample, beta);
        let intrinsic: Float32Array | undefined;
        if (rnd) {
          const frames = newestFrames(batch.nextObs, cfg.batchSize, h * w, c, k);
          const errors = predictorStep(rnd, rndOptimizer!, frames, cfg.batchSize, x.rnd.lr);
          intrinsic = intrinsicRewards(rnd, errors, x.rnd.normalize);
          window.intrinsic += intrinsic.reduce((a, b) => a + b, 0) / intrinsic.length;
          window.intrinsicCount++;
        }
        let out;
        try {
          out = learner.update(batch, step, intrinsic);
        } catch (err) {
          if (!(err instanceof NonFiniteLossError)) throw err;
          throw new NonFiniteLossError(
            `${err.message}; no step was applied. The last good checkpoint (step ` +
              `${lastCheckpoint}) is in ${opts.checkpointDir}`,
          );
        }
        buffer.updatePriorities(batch.slots, out.td);
        window.updates++;
        window.loss += out.loss;
        window.q += out.q;
        window.td += out.td.reduce((a, b) => a + Math.abs(b), 0) / out.td.length;
      }
      if (step % cfg.targetUpdateEvery === 0) learner.syncTarget();

      const done = step + 1;
      if (done % cfg.logEvery === 0 || done === cfg.totalSteps) {
        const now = performance.now();
        const steps = done % cfg.logEvery || cfg.logEvery;
        const u = Math.max(window.updates, 1);
        hooks.onStep?.({
          loop: "dqn",
          step: done,
          total: cfg.totalSteps,
          values: {
            loss: window.updates ? window.loss / u : NaN,
            q: window.updates ? window.q / u : NaN,
            td: window.updates ? window.td / u : NaN,
            intrinsic: window.intrinsicCount ? window.intrinsic / window.intrinsicCount : NaN,
            explore: param,
            beta: x.per.beta0 + (1 - x.per.beta0) * Math.min(1, step / cfg.totalSteps),
            episodes: window.episodes,
            meanReturn: window.episodes ? window.returns / window.episodes : NaN,
            sps: steps / Math.max((now - windowStart) / 1000, 1e-9),
            // Memory, for soaks: both stay flat once the replay buffer is full.
            rssMiB: Deno.memoryUsage().rss / 2 ** 20,
            numTensors: tf.memory().numTensors,
          },
        });
        window = emptyWindow();
        windowStart = now;
      }
      if (done % cfg.checkpointEvery === 0 || done === cfg.totalSteps) {
        const replayName = `replay-${String(done).padStart(9, "0")}.bin`;
        const replay = await saveReplay(buffer, join(opts.checkpointDir, replayName));
        const extra: DqnCheckpointExtra = {
          optimizerStep: learner.optimizerStep,
          rng: { act: act.state(), sample: sample.state() },
          env: envs.snapshot(),
          replay,
          first,
          window,
          rnd: rnd
            ? {
              obs: rnd.obsStats.state(),
              reward: rnd.rewardStats.state(),
              returns: rnd.returnStats.state(),
              intrinsicReturn: rnd.intrinsicReturn,
              optimizerStep: rndOptimizer!.step,
            }
            : null,
          observer: opts.observer?.snapshot() ?? null,
        };
        await saveCheckpoint(opts.checkpointDir, done, saved(), cfg, extra);
        for (const f of readdirSync(opts.checkpointDir)) {
          if (f.startsWith("replay-") && f !== replayName) rmSync(join(opts.checkpointDir, f));
        }
        lastCheckpoint = done;
      }
    }
    const seconds = (performance.now() - sessionStart) / 1000;
    return {
      network: learner.online,
      steps: cfg.totalSteps,
      sps: (cfg.totalSteps - start) / Math.max(seconds, 1e-9),
    };
  } catch (err) {
    disposeParams(learner.online.params);
    throw err;
  } finally {
    learner.disposeTraining();
    rndOptimizer?.dispose();
    if (rnd) tf.dispose(rndParams(rnd).map(([, v]) => v));
    envs.close();
  }
}

/** A file name read from a sidecar, refused if it leads outside its directory. */
function safeFileName(name: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith(".")) {
    throw new Error(`checkpoint names the file '${name}', which is not a plain file name`);
  }
  return name;
}

/**
 * The Q-network of a DQN checkpoint (its online weights), with the config it was trained with.
 * The caller disposes `network.params`.
 */
export function loadDqn(
  checkpointDir: string,
): { network: QNetwork; cfg: DqnConfig; step: number } {
  const { meta, tensors } = loadCheckpoint(checkpointDir);
  const cfg = meta.config as DqnConfig;
  const network = initQNetwork(
    new Rng(0),
    envObsShape(cfg.env),
    gameActions(cfg.env.id).length,
    cfg.network,
    { intrinsicWeight: intrinsicWeightOf(cfg) },
  );
  assignTensors(namedParams("q", network.params), tensors, checkpointDir);
  return { network, cfg, step: meta.step };
}

/** A Q-network as a behaviour policy: greedy, with a random action at probability `epsilon`. */
export function dqnPolicy(network: QNetwork, epsilon: number): ActFn {
  return (obs, n, rng) => {
    const q = tf.tidy(() => network.forward(obs, n).dataSync() as Float32Array);
    const A = q.length / n;
    return Int32Array.from({ length: n }, (_, i) => {
      if (rng.float() < epsilon) return rng.int(A);
      let best = 0;
      for (let j = 1; j < A; j++) if (q[i * A + j] > q[i * A + best]) best = j;
      return best;
    });
  };
}
