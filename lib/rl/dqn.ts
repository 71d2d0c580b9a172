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
 * - `rnd`: epsilon-greedy, and the stored reward is sign(r_ext) + w r_int with RND's intrinsic
 *   reward of the next frame (`rnd.ts`); its predictor trains on each batch's next frames.
 *
 * Hyper-parameters in one typed block (`DQN_ATARI`, CleanRL's); the training loop owns the NaN
 * guard and the schedule.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { Env } from "../envs/types.ts";
import { initDense, initNatureCnn, natureCnn } from "../nn/cnn.ts";
import { linear } from "../nn/layers.ts";
import { cloneParams, disposeParams, namedParams, type Params } from "../nn/params.ts";
import { Rng } from "../tensor/rng.ts";
import { AdamW, globalNormClip } from "../train/optim.ts";
import { NonFiniteLossError } from "../train/loop.ts";
import { ReplayBuffer } from "./replay.ts";
import { initRnd, intrinsicRewards, type Rnd, rndError, rndParams, rndTrainable } from "./rnd.ts";

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
  /** RND (mode `rnd`): the intrinsic reward's weight, the networks' output width, their lr. */
  rnd: { weight: number; width: number; lr: number };
}

/** Everything that defines a DQN run besides its env. */
export interface DqnConfig {
  seed: number;
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
  network: { kind: "cnn" | "mlp"; hidden: number };
  exploration: ExplorationConfig;
}

/** CleanRL's `dqn_atari.py` hyper-parameters (10M steps, meant for a GPU). */
export const DQN_ATARI: DqnConfig = {
  seed: 0,
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
    rnd: { weight: 0.5, width: 512, lr: 1e-4 },
  },
};

/** A Q-network's variables and its forward pass. */
export interface QNetwork {
  params: Params;
  /** `[n, A]` Q-values of `n` observations (uint8, `obsShape` each). */
  forward(obs: Uint8Array, n: number): tf.Tensor2D;
}

/** A Q-network for observations of `obsShape` and `numActions` actions. */
export function initQNetwork(
  rng: Rng,
  obsShape: [number, number, number],
  numActions: number,
  net: DqnConfig["network"],
  params?: Params,
): QNetwork {
  const [h, w, c] = obsShape;
  const p = params ?? (net.kind === "cnn"
    ? {
      trunk: initNatureCnn(rng.fork("trunk"), obsShape, net.hidden),
      head: initDense(rng.fork("head"), net.hidden, numActions, 1),
    }
    : {
      trunk: { fc: initDense(rng.fork("trunk"), h * w * c, net.hidden) },
      head: initDense(rng.fork("head"), net.hidden, numActions, 1),
    });
  return {
    params: p,
    forward(obs, n) {
      const trunk = p.trunk as Params;
      const features = net.kind === "cnn"
        ? natureCnn(trunk, { bytes: obs, shape: [n, h, w, c], scale: 1 / 255 })
        : tf.relu(
          linear(trunk.fc as Params, tf.div(tf.tensor2d(obs, [n, h * w * c], "float32"), 255)),
        ) as tf.Tensor2D;
      return linear(p.head as Params, features) as tf.Tensor2D;
    },
  };
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

/**
 * The loss of a batch (the module doc's equation) and each transition's TD error
 * `Q(s, a) - y` (for the priorities).
 */
export function dqnLoss(
  online: QNetwork,
  target: QNetwork,
  batch: {
    obs: Uint8Array;
    nextObs: Uint8Array;
    actions: Int32Array;
    rewards: Float32Array;
    dones: Uint8Array;
    weights: Float32Array;
  },
  opts: { gamma: number; double: boolean; numActions: number },
): { loss: tf.Scalar; tdErrors: tf.Tensor1D; qTaken: tf.Scalar } {
  const n = batch.actions.length;
  const A = opts.numActions;
  const y = tf.tidy(() => {
    const qNextTarget = target.forward(batch.nextObs, n);
    const aStar = opts.double
      ? tf.argMax(online.forward(batch.nextObs, n), 1)
      : tf.argMax(qNextTarget, 1);
    const next = tf.sum(tf.mul(qNextTarget, tf.oneHot(aStar as tf.Tensor1D, A)), 1);
    const notDone = tf.sub(1, tf.tensor1d(Float32Array.from(batch.dones)));
    return tf.add(tf.tensor1d(batch.rewards), tf.mul(opts.gamma, tf.mul(notDone, next)));
  });
  const q = tf.sum(
    tf.mul(online.forward(batch.obs, n), tf.oneHot(tf.tensor1d(batch.actions, "int32"), A)),
    1,
  );
  const td = tf.sub(q, y) as tf.Tensor1D;
  const abs = tf.abs(td);
  // Huber with delta 1: 0.5 x^2 inside, |x| - 0.5 outside, written as one smooth expression.
  const inside = tf.minimum(abs, 1);
  const huber = tf.add(tf.mul(0.5, tf.square(inside)), tf.sub(abs, inside));
  const loss = tf.mean(tf.mul(huber, tf.tensor1d(batch.weights))) as tf.Scalar;
  y.dispose();
  return { loss, tdErrors: td, qTaken: tf.mean(q) as tf.Scalar };
}

/** A batch the learner trains on (a `ReplayBatch`'s fields). */
export type DqnBatch = Parameters<typeof dqnLoss>[2];

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
    this.online = initQNetwork(rng.fork("q"), obsShape, numActions, cfg.network);
    this.target = initQNetwork(
      rng,
      obsShape,
      numActions,
      cfg.network,
      cloneParams(this.online.params, false),
    );
    this.trainable = namedParams("q", this.online.params);
    this.#targetVars = namedParams("q", this.target.params);
    this.#optimizer = new AdamW(this.trainable);
  }

  /** One gradient step; the loss, each transition's TD error and the mean Q of the taken actions. */
  update(batch: DqnBatch, step: number): { loss: number; td: Float32Array; q: number } {
    let td: Float32Array = new Float32Array(0);
    let q = NaN;
    const { value, grads } = tf.variableGrads(() => {
      const out = dqnLoss(this.online, this.target, batch, {
        gamma: this.cfg.gamma,
        double: this.cfg.double,
        numActions: this.numActions,
      });
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

/** What a run reports as it goes. */
export interface DqnHooks {
  /** Each finished game: its return and length, and the step. */
  onEpisode?(e: { step: number; return: number; length: number }): void;
  /** Each gradient step's statistics (`intrinsic`: the mean intrinsic reward since the last). */
  onUpdate?(
    u: { step: number; loss: number; q: number; explore: number; beta: number; intrinsic: number },
  ): void;
}

/** The newest frame (`c` channels) of a channels-last stack of `k` frames. */
export function newestFrame(stack: Uint8Array, pixels: number, c: number, k: number): Uint8Array {
  const out = new Uint8Array(pixels * c);
  for (let p = 0; p < pixels; p++) {
    for (let ch = 0; ch < c; ch++) out[p * c + ch] = stack[(p * k + k - 1) * c + ch];
  }
  return out;
}

/**
 * Trains DQN on `env` (its observations stacks of `stack` frames of `c` channels); returns the
 * online network (the caller disposes its params). Every game's statistics go to `onEpisode`.
 */
export function trainDqn(
  cfg: DqnConfig,
  env: Env,
  frame: { channels: number; stack: number },
  hooks: DqnHooks = {},
): QNetwork {
  const [h, w, cs] = env.spec.obsShape;
  const { channels: c, stack: k } = frame;
  if (cs !== c * k) throw new Error(`trainDqn: observations have ${cs} channels, not ${c} x ${k}`);
  const A = env.spec.actionMeanings.length;
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
  const rnd = x.mode === "rnd" ? initRnd(rng.fork("rnd"), [h, w, c], x.rnd.width) : null;
  const rndOptimizer = rnd ? new AdamW(rndTrainable(rnd)) : null;
  let intrinsicSum = 0, intrinsicCount = 0;
  let obs = env.reset(rng.fork("env").uint32()).obs.slice();
  let first = true, gameReturn = 0, gameLength = 0;
  try {
    for (let step = 0; step < cfg.totalSteps; step++) {
      const param = explorationAt(x, step, cfg.totalSteps);
      const q = tf.tidy(() => learner.online.forward(obs, 1).dataSync() as Float32Array);
      const action = exploreAction(q, x, param, act);
      const r = env.step(action);
      let reward = Math.sign(r.reward);
      if (rnd) {
        const rInt = intrinsicRewards(rnd, newestFrame(r.obs, h * w, c, k), 1)[0];
        reward += x.rnd.weight * rInt;
        intrinsicSum += rInt;
        intrinsicCount++;
      }
      buffer.add(newestFrame(obs, h * w, c, k), { first, action, reward, done: r.terminated });
      first = false;
      gameReturn += r.reward;
      gameLength++;
      obs = r.obs.slice();
      if (r.terminated || r.truncated) {
        buffer.add(newestFrame(obs, h * w, c, k), {
          first: false,
          action: -1,
          reward: 0,
          done: false,
        });
        const episode = (r.info as { episode?: { return: number; length: number } }).episode;
        hooks.onEpisode?.({
          step,
          return: episode?.return ?? gameReturn,
          length: episode?.length ?? gameLength,
        });
        obs = env.reset().obs.slice();
        first = true;
        gameReturn = 0;
        gameLength = 0;
      }
      if (step >= cfg.learningStarts && step % cfg.trainEvery === 0) {
        const beta = x.per.beta0 + (1 - x.per.beta0) * Math.min(1, step / cfg.totalSteps);
        const batch = buffer.sample(cfg.batchSize, sample, beta);
        const { loss, td, q: qMean } = learner.update(batch, step);
        buffer.updatePriorities(batch.slots, td);
        if (rnd) trainPredictor(rnd, rndOptimizer!, batch.nextObs, cfg.batchSize, frame, x.rnd.lr);
        hooks.onUpdate?.({
          step,
          loss,
          q: qMean,
          explore: param,
          beta,
          intrinsic: intrinsicCount ? intrinsicSum / intrinsicCount : NaN,
        });
        intrinsicSum = 0;
        intrinsicCount = 0;
      }
      if (step % cfg.targetUpdateEvery === 0) learner.syncTarget();
    }
  } finally {
    learner.disposeTraining();
    rndOptimizer?.dispose();
    if (rnd) tf.dispose(rndParams(rnd).map(([, v]) => v));
  }
  return learner.online;
}

/** One step of RND's predictor on the newest frames of a batch's next stacks. */
function trainPredictor(
  rnd: Rnd,
  optimizer: AdamW,
  nextObs: Uint8Array,
  n: number,
  frame: { channels: number; stack: number },
  lr: number,
): void {
  const [h, w, c] = rnd.shape;
  const stackBytes = h * w * c * frame.stack;
  const frames = new Uint8Array(n * h * w * c);
  for (let i = 0; i < n; i++) {
    const stack = nextObs.subarray(i * stackBytes, (i + 1) * stackBytes);
    frames.set(newestFrame(stack, h * w, c, frame.stack), i * h * w * c);
  }
  const vars = rndTrainable(rnd);
  const { value, grads } = tf.variableGrads(
    () => tf.mean(rndError(rnd, frames, n)) as tf.Scalar,
    vars.map(([, v]) => v),
  );
  const named: Record<string, tf.Tensor> = {};
  for (const [name, v] of vars) named[name] = grads[v.name];
  optimizer.apply(named, lr, 0);
  tf.dispose([value, ...Object.values(grads)]);
}
