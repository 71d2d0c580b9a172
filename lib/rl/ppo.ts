/**
 * PPO for ALE-style games, following CleanRL's `ppo_atari.py` (Huang et al., "The 37
 * implementation details of PPO"): vectorised envs with same-step auto-reset, GAE, advantage
 * normalisation per minibatch, the clipped surrogate objective, a clipped value loss, an
 * entropy bonus, Adam (eps 1e-5) with a linearly annealed learning rate, gradient clipping by
 * global norm, orthogonal init. All hyper-parameters are in {@linkcode PpoConfig}; its default
 * {@linkcode CLEANRL_PPO_ATARI} is CleanRL's.
 *
 * The agent (`agent.ts`) may sit on a pretrained encoder, frozen or fine-tuned at a lower
 * learning rate. Checkpoints are written at update boundaries and hold the weights, the Adam
 * moments, the random stream and the env state (game seeds + actions, restored by replay; see
 * `replay_env.ts`), so a killed run resumed with `resume: true` ends with the same weights as an
 * uninterrupted one (on a deterministic backend: cpu or wasm).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { CLEANRL_ATARI, type EnvConfig, makeEnv } from "../envs/make.ts";
import { randomPolicy } from "../envs/policies.ts";
import type { Env } from "../envs/types.ts";
import { type FrozenEncoder, loadEncoder, randomEncoder } from "../models/encoder.ts";
import { disposeParams, flattenParams } from "../nn/params.ts";
import { AdamW, globalNormClip } from "../train/optim.ts";
import {
  assignTensors,
  hasCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from "../tensor/checkpoint.ts";
import { deriveSeed, Rng, type RngState } from "../tensor/rng.ts";
import { NonFiniteLossError } from "../train/loop.ts";
import type { OnStep } from "../run/progress.ts";
import { type Agent, type AgentConfig, type AgentSpec, buildAgent, createAgent } from "./agent.ts";
import { type EnvSnapshot, ReplayVectorEnv } from "./replay_env.ts";

// ---------------------------------------------------------------------------------------------
// Hyper-parameters

/** Everything that defines a PPO run. */
export interface PpoConfig {
  seed: number;
  /** The env and its wrapper stack (evaluation uses `evalEnvConfig` of the same config). */
  env: EnvConfig;
  agent: AgentConfig;
  /** Env steps over all envs (CleanRL's `total_timesteps`). */
  totalSteps: number;
  numEnvs: number;
  /** Steps per env per rollout; a rollout is `numEnvs * numSteps` samples. */
  numSteps: number;
  /** Adam learning rate (of the heads; a fine-tuned encoder gets `agent.encoderLrScale` of it). */
  lr: number;
  /** Anneal the learning rate linearly to 0 over the run. */
  annealLr: boolean;
  adamEps: number;
  gamma: number;
  /** GAE lambda. */
  gaeLambda: number;
  numMinibatches: number;
  updateEpochs: number;
  /** Normalise advantages per minibatch. */
  normAdv: boolean;
  /** Surrogate clipping coefficient (also clips the value loss when `clipVloss`). */
  clipCoef: number;
  clipVloss: boolean;
  entCoef: number;
  vfCoef: number;
  /** Gradient clipping by global norm. */
  maxGradNorm: number;
  /** Stop an update's epochs early once approx-KL exceeds this (0: never, CleanRL's None). */
  targetKl: number;
  /** Checkpoint every this many updates (and at the end). */
  checkpointEvery: number;
}

/** CleanRL's `ppo_atari.py` defaults: Breakout about 415 at 10M steps on ALE. */
export const CLEANRL_PPO_ATARI: PpoConfig = {
  seed: 1,
  env: { ...CLEANRL_ATARI },
  agent: {
    encoder: "cnn",
    checkpoint: "",
    frozen: false,
    encoderLrScale: 0.1,
    hidden: 512,
    readout: "tokens",
    centerFeatures: true,
  },
  totalSteps: 10_000_000,
  numEnvs: 8,
  numSteps: 128,
  lr: 2.5e-4,
  annealLr: true,
  adamEps: 1e-5,
  gamma: 0.99,
  gaeLambda: 0.95,
  numMinibatches: 4,
  updateEpochs: 4,
  normAdv: true,
  clipCoef: 0.1,
  clipVloss: true,
  entCoef: 0.01,
  vfCoef: 0.5,
  maxGradNorm: 0.5,
  targetKl: 0,
  checkpointEvery: 25,
};

/** Checks a config; throws an Error naming the key and what was expected. */
export function checkPpoConfig(cfg: PpoConfig): void {
  const positiveInts = ["numEnvs", "numSteps", "numMinibatches", "updateEpochs"] as const;
  for (const key of positiveInts) {
    if (!(Number.isInteger(cfg[key]) && cfg[key] >= 1)) {
      throw new Error(`${key} must be an integer >= 1, got ${cfg[key]}`);
    }
  }
  const batch = cfg.numEnvs * cfg.numSteps;
  if (batch % cfg.numMinibatches !== 0) {
    throw new Error(
      `numMinibatches (${cfg.numMinibatches}) must divide numEnvs * numSteps (${batch})`,
    );
  }
  if (!(cfg.totalSteps >= batch)) {
    throw new Error(`totalSteps (${cfg.totalSteps}) is less than one rollout (${batch} steps)`);
  }
  if (!(Number.isInteger(cfg.checkpointEvery) && cfg.checkpointEvery >= 1)) {
    throw new Error(`checkpointEvery must be an integer >= 1, got ${cfg.checkpointEvery}`);
  }
  for (const key of ["gamma", "gaeLambda"] as const) {
    if (!(cfg[key] >= 0 && cfg[key] <= 1)) throw new Error(`${key} must be in [0, 1]`);
  }
}

// ---------------------------------------------------------------------------------------------
// The PPO equations

/**
 * What {@linkcode gae} reads: a rollout of `numSteps x numEnvs` steps (index `t * numEnvs + i`,
 * `numEnvs` the length of `nextValue`) in CleanRL's convention, and the discounts.
 */
export interface GaeInput {
  /** `r_t`, `[numSteps * numEnvs]`. */
  rewards: Float32Array;
  /** `V(s_t)`, `[numSteps * numEnvs]`. */
  values: Float32Array;
  /** `done_t`: the observation of step t is the first of a new episode. */
  dones: Uint8Array;
  /** `V` of the observation after the last step, `[numEnvs]`. */
  nextValue: Float32Array;
  /** `done` of the observation after the last step, `[numEnvs]`. */
  nextDone: Uint8Array;
  /** The discount. */
  gamma: number;
  /** GAE's lambda. */
  lambda: number;
}

/**
 * Generalised advantage estimation over a rollout (see {@linkcode GaeInput}):
 *
 *   delta_t = r_t + gamma * V(s_{t+1}) * (1 - done_{t+1}) - V(s_t)
 *   A_t     = delta_t + gamma * lambda * (1 - done_{t+1}) * A_{t+1}
 *   R_t     = A_t + V(s_t)   (the value target)
 */
export function gae(input: GaeInput): { advantages: Float32Array; returns: Float32Array } {
  const { rewards, values, dones, nextValue, nextDone, gamma, lambda } = input;
  const numEnvs = nextValue.length;
  const numSteps = rewards.length / numEnvs;
  if (
    !Number.isInteger(numSteps) || values.length !== rewards.length ||
    dones.length !== rewards.length || nextDone.length !== numEnvs
  ) {
    throw new Error(
      `gae: rewards, values and dones need steps of ${numEnvs} envs (nextValue's length) and ` +
        `nextDone one per env; got ${rewards.length}, ${values.length}, ${dones.length} and ` +
        `${nextDone.length}`,
    );
  }
  const advantages = new Float32Array(numSteps * numEnvs);
  const returns = new Float32Array(numSteps * numEnvs);
  for (let i = 0; i < numEnvs; i++) {
    let lastGae = 0;
    for (let t = numSteps - 1; t >= 0; t--) {
      const k = t * numEnvs + i;
      const last = t === numSteps - 1;
      const nextNonTerminal = 1 - (last ? nextDone[i] : dones[k + numEnvs]);
      const nextV = last ? nextValue[i] : values[k + numEnvs];
      const delta = rewards[k] + gamma * nextV * nextNonTerminal - values[k];
      lastGae = delta + gamma * lambda * nextNonTerminal * lastGae;
      advantages[k] = lastGae;
      returns[k] = lastGae + values[k];
    }
  }
  return { advantages, returns };
}

/** A minibatch as the loss sees it. */
export interface LossBatch {
  actions: Int32Array;
  /** Log-probabilities of the actions under the rollout's policy. */
  logProbs: Float32Array;
  /** Advantages (already normalised when `normAdv`). */
  advantages: Float32Array;
  /** Value targets. */
  returns: Float32Array;
  /** The rollout's value estimates. */
  values: Float32Array;
}

/** The loss and its parts (scalars). */
export interface PpoLossParts {
  loss: tf.Scalar;
  pgLoss: tf.Scalar;
  vLoss: tf.Scalar;
  entropy: tf.Scalar;
  /** `mean(-log ratio)` (Schulman's k1 estimator of KL). */
  oldApproxKl: tf.Scalar;
  /** `mean((ratio - 1) - log ratio)` (the unbiased k3 estimator). */
  approxKl: tf.Scalar;
  /** Fraction of samples whose ratio left [1 - clip, 1 + clip]. */
  clipFrac: tf.Scalar;
}

/**
 * The PPO loss of a minibatch from the new policy's `logits [n, A]` and `value [n]`:
 *
 *   ratio   = exp(log pi(a|s) - log pi_old(a|s))
 *   L_pg    = mean(max(-A * ratio, -A * clip(ratio, 1 - c, 1 + c)))
 *   L_v     = 0.5 * mean(max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2))   (clipVloss)
 *           = 0.5 * mean((V - R)^2)                                                (otherwise)
 *   loss    = L_pg - entCoef * mean(entropy) + vfCoef * L_v
 */
export function ppoLoss(
  logits: tf.Tensor2D,
  value: tf.Tensor1D,
  batch: LossBatch,
  cfg: Pick<PpoConfig, "clipCoef" | "clipVloss" | "entCoef" | "vfCoef">,
): PpoLossParts {
  const numActions = logits.shape[1];
  const c = cfg.clipCoef;
  const logp = tf.logSoftmax(logits);
  // A one-hot product instead of a gather: gather's gradient is missing on wasm.
  const oneHot = tf.oneHot(tf.tensor1d(batch.actions, "int32"), numActions);
  const newLogProb = tf.sum(tf.mul(logp, oneHot), 1);
  const entropy = tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), 1));
  const logRatio = tf.sub(newLogProb, tf.tensor1d(batch.logProbs));
  const ratio = tf.exp(logRatio);

  const adv = tf.tensor1d(batch.advantages);
  const pg1 = tf.mul(tf.neg(adv), ratio);
  const pg2 = tf.mul(tf.neg(adv), tf.clipByValue(ratio, 1 - c, 1 + c));
  const pgLoss = tf.mean(tf.maximum(pg1, pg2)) as tf.Scalar;

  const returns = tf.tensor1d(batch.returns);
  const vUnclipped = tf.square(tf.sub(value, returns));
  let vLoss: tf.Scalar;
  if (cfg.clipVloss) {
    const oldValues = tf.tensor1d(batch.values);
    const vClipped = tf.add(oldValues, tf.clipByValue(tf.sub(value, oldValues), -c, c));
    const vLossClipped = tf.square(tf.sub(vClipped, returns));
    vLoss = tf.mul(0.5, tf.mean(tf.maximum(vUnclipped, vLossClipped))) as tf.Scalar;
  } else {
    vLoss = tf.mul(0.5, tf.mean(vUnclipped)) as tf.Scalar;
  }
  const entropyMean = tf.mean(entropy) as tf.Scalar;
  const loss = tf.add(
    tf.sub(pgLoss, tf.mul(cfg.entCoef, entropyMean)),
    tf.mul(cfg.vfCoef, vLoss),
  ) as tf.Scalar;

  const oldApproxKl = tf.mean(tf.neg(logRatio)) as tf.Scalar;
  const approxKl = tf.mean(tf.sub(tf.sub(ratio, 1), logRatio)) as tf.Scalar;
  // |ratio - 1| > c as a float without Greater (no gradient needed, but keep it kernel-light).
  const clipFrac = tf.mean(
    tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), c), "float32"),
  ) as tf.Scalar;
  return { loss, pgLoss, vLoss, entropy: entropyMean, oldApproxKl, approxKl, clipFrac };
}

/** The shape of a batch of logits for {@linkcode sampleActions}, and its random source. */
export interface SampleActionsOptions {
  /** Number of rows (one action is sampled per row). */
  n: number;
  /** Number of actions `A` (the row width). */
  numActions: number;
  /** Random source: one `rng.float()` is drawn per row, in row order. */
  rng: Rng;
}

/** Samples one action per row of `logits [n, A]`; returns the actions and their log-probs. */
export function sampleActions(
  logits: Float32Array,
  opts: SampleActionsOptions,
): { actions: Int32Array; logProbs: Float32Array } {
  const { n, numActions, rng } = opts;
  const actions = new Int32Array(n);
  const logProbs = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * numActions, (i + 1) * numActions);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    const logZ = max + Math.log(sum);
    let u = rng.float();
    let a = numActions - 1;
    for (let j = 0; j < numActions; j++) {
      u -= Math.exp(row[j] - logZ);
      if (u < 0) {
        a = j;
        break;
      }
    }
    actions[i] = a;
    logProbs[i] = row[a] - logZ;
  }
  return { actions, logProbs };
}

// ---------------------------------------------------------------------------------------------
// The training loop

/** What one update reports (CleanRL's TensorBoard scalars, and timings). */
export interface PpoUpdateStats extends UpdateStats {
  update: number;
  globalStep: number;
  lr: number;
  explainedVariance: number;
  /** Whole games finished during this rollout, their mean return and length (NaN: none). */
  episodes: number;
  meanReturn: number;
  meanLength: number;
  /** Env steps per second over this update (rollout + optimisation). */
  sps: number;
  /** Seconds of this update spent in the rollout and in the optimisation. */
  rolloutSec: number;
  updateSec: number;
}

/** A finished game during training. */
export interface PpoEpisode {
  globalStep: number;
  env: number;
  return: number;
  length: number;
}

/** Callbacks of {@linkcode trainPpo}. */
export interface PpoHooks {
  /** Each update, as loop "ppo" (step: updates done) with the {@linkcode PpoUpdateStats}. */
  onStep?: OnStep;
  onEpisode?(episode: PpoEpisode): void;
  log?(line: string): void;
}

/** Options of one call of {@linkcode trainPpo}. */
export interface PpoOptions {
  checkpointDir: string;
  resume?: boolean;
  /** Stop (throwing) after this many updates in this call: simulates a kill in tests. */
  stopAfter?: number;
  /** Builds copy `index` of the env (default: `makeEnv(cfg.env)`); for toy envs in tests. */
  makeEnv?: (index: number) => Env;
}

/** A finished run. */
export interface PpoResult {
  agent: Agent;
  updates: number;
  globalStep: number;
  /** Env steps per second over this call. */
  sps: number;
}

/**
 * Runs `build`, then disposes every tensor and variable it created except the variables of
 * what it returns (`keep`). The parameter initialisers leave each variable's initial tensor
 * behind, and a pretraining checkpoint is loaded with its whole model (predictor, context
 * encoder, ...): a grid of runs in one process would otherwise pile them up.
 */
export function built<T>(build: () => T, keep: (result: T) => tf.Variable[]): T {
  const before = new Set(Object.keys(tf.engine().registeredVariables));
  let result!: T;
  tf.tidy(() => {
    result = build();
  });
  const kept = new Set(keep(result).map((v) => v.name));
  for (const [name, v] of Object.entries(tf.engine().registeredVariables)) {
    if (!before.has(name) && !kept.has(name)) v.dispose();
  }
  return result;
}

/** The ViT encoder of a `jepa` / `ae` / `random` agent config (null for `cnn` / `mlp`). */
export function loadAgentEncoder(agent: AgentConfig, seed: number): FrozenEncoder | null {
  if (agent.encoder === "cnn" || agent.encoder === "mlp") return null;
  return built(() => {
    const { encoder } = loadEncoder(agent.checkpoint);
    if (agent.encoder !== "random") return { ...encoder, name: agent.encoder };
    // The random control copies the pretrained encoder's shape, never its weights (built()
    // disposes them).
    return randomEncoder(encoder.cfg, deriveSeed(seed, "random-encoder"));
  }, (enc) => flattenParams(enc.params).map(([, v]) => v));
}

/** Checkpoint names of an agent's variables and its optimisers' moments. */
function savedTensors(agent: Agent, optimizers: AdamW[]): [string, tf.Variable][] {
  return [
    ...agent.tensors().map(([k, v]) => [`agent/${k}`, v] as [string, tf.Variable]),
    ...optimizers.flatMap((opt, g) =>
      opt.stateTensors().map(([k, v]) =>
        [`opt/${agent.groups[g].name}/${k}`, v] as [string, tf.Variable]
      )
    ),
  ];
}

/** Random-play frame stacks a centred ViT agent's feature statistics come from. */
const CENTER_STACKS = 1024;

/**
 * `n` observations of uniform random play in a fresh env of `config` (not a training env:
 * their streams stay as they are), as RND's observation statistics start.
 */
export function randomPlayStacks(config: EnvConfig, seed: number, n: number): Uint8Array {
  const env = makeEnv(config, seed);
  try {
    const act = randomPolicy(env.spec, new Rng(deriveSeed(seed, "actions")));
    let { obs, info } = env.reset(seed);
    const out = new Uint8Array(n * obs.length);
    for (let i = 0; i < n; i++) {
      out.set(obs, i * obs.length);
      const step = env.step(act(info));
      ({ obs, info } = step.terminated || step.truncated ? env.reset() : step);
    }
    return out;
  } finally {
    env.close();
  }
}

/** What a PPO checkpoint's sidecar holds besides the config. */
interface PpoCheckpointExtra {
  [key: string]: unknown;
  agent: AgentSpec;
  globalStep: number;
  optimizerStep: number;
  rng: RngState;
  env: EnvSnapshot;
  nextDone: number[];
}

/** Trains (or resumes) a PPO run. The caller owns (and disposes) the returned agent. */
export async function trainPpo(
  cfg: PpoConfig,
  opts: PpoOptions,
  hooks: PpoHooks = {},
): Promise<PpoResult> {
  checkPpoConfig(cfg);
  const { numEnvs: N, numSteps: T } = cfg;
  const batchSize = N * T;
  const numUpdates = Math.floor(cfg.totalSteps / batchSize);
  const envs = new ReplayVectorEnv(
    opts.makeEnv ?? ((i) => makeEnv(cfg.env, deriveSeed(cfg.seed, `env/${i}`))),
    N,
    deriveSeed(cfg.seed, "train"),
  );
  try {
    const obsShape = envs.spec.obsShape;
    const numActions = envs.spec.actionMeanings.length;
    const vit = loadAgentEncoder(cfg.agent, cfg.seed);
    const agent = built(
      () =>
        createAgent(cfg.agent, {
          obsShape,
          numActions,
          rng: new Rng(deriveSeed(cfg.seed, "agent")),
          vit: vit ?? undefined,
        }),
      (a) => a.tensors().map(([, v]) => v),
    );
    if (vit) disposeParams(vit.params);
    const optimizers = built(
      () =>
        agent.groups.map((g) =>
          new AdamW(g.params, { beta1: 0.9, beta2: 0.999, eps: cfg.adamEps })
        ),
      (opts) => opts.flatMap((o) => o.stateTensors().map(([, v]) => v)),
    );
    const rng = new Rng(deriveSeed(cfg.seed, "ppo"));
    let nextDone: Uint8Array = new Uint8Array(N);
    let start = 0;
    if (opts.resume && hasCheckpoint(opts.checkpointDir)) {
      const { meta, tensors } = loadCheckpoint(opts.checkpointDir);
      if (JSON.stringify(meta.config) !== JSON.stringify(cfg)) {
        throw new Error(
          `${opts.checkpointDir}: the checkpoint was made with a different config; start a new run`,
        );
      }
      const extra = meta.extra as PpoCheckpointExtra;
      assignTensors(savedTensors(agent, optimizers), tensors, opts.checkpointDir);
      for (const opt of optimizers) opt.step = extra.optimizerStep;
      rng.setState(extra.rng);
      envs.restore(extra.env);
      nextDone = Uint8Array.from(extra.nextDone);
      start = meta.step;
      hooks.log?.(`resumed from update ${start} (${opts.checkpointDir})`);
    } else {
      if (agent.centerOn) {
        const stacks = randomPlayStacks(cfg.env, deriveSeed(cfg.seed, "center"), CENTER_STACKS);
        agent.centerOn(stacks, CENTER_STACKS);
      }
      envs.reset();
    }

    // Rollout storage, index t * N + i. A frozen encoder's features replace the frames.
    const frameBytes = obsShape[0] * obsShape[1] * obsShape[2];
    const fd = agent.featureDim;
    const inputWidth = fd > 0 ? fd : frameBytes;
    const inputs = fd > 0
      ? new Float32Array(batchSize * fd)
      : new Uint8Array(batchSize * frameBytes);
    const actions = new Int32Array(batchSize);
    const logProbs = new Float32Array(batchSize);
    const rewards = new Float32Array(batchSize);
    const dones = new Uint8Array(batchSize);
    const values = new Float32Array(batchSize);
    const current = (): Uint8Array | Float32Array => fd > 0 ? agent.embed(envs.obs, N) : envs.obs;
    const evaluate = (input: Uint8Array | Float32Array, n: number) =>
      tf.tidy(() => {
        const out = agent.forward(input, n);
        return [out.logits.dataSync() as Float32Array, out.value.dataSync() as Float32Array];
      });

    const sessionStart = performance.now();
    let lastCheckpoint = start;
    for (let update = start; update < numUpdates; update++) {
      if (opts.stopAfter !== undefined && update - start >= opts.stopAfter) {
        throw new Error(`stopped after ${opts.stopAfter} updates`);
      }
      const t0 = performance.now();
      const lr = cfg.annealLr ? (1 - update / numUpdates) * cfg.lr : cfg.lr;
      const globalBase = update * batchSize;
      let epCount = 0;
      let epReturn = 0;
      let epLength = 0;

      // --- Rollout: numSteps steps of every env under the current policy.
      for (let t = 0; t < T; t++) {
        const input = current();
        inputs.set(input, t * N * inputWidth);
        dones.set(nextDone, t * N);
        const [logits, value] = evaluate(input, N);
        const sampled = sampleActions(logits, { n: N, numActions, rng });
        actions.set(sampled.actions, t * N);
        logProbs.set(sampled.logProbs, t * N);
        values.set(value, t * N);
        const step = envs.step(sampled.actions);
        rewards.set(step.rewards, t * N);
        nextDone = step.dones;
        step.episodes.forEach((ep, i) => {
          if (!ep) return;
          epCount++;
          epReturn += ep.return;
          epLength += ep.length;
          hooks.onEpisode?.({
            globalStep: globalBase + (t + 1) * N,
            env: i,
            return: ep.return,
            length: ep.length,
          });
        });
      }
      const nextValue = evaluate(current(), N)[1];
      const { advantages, returns } = gae({
        rewards,
        values,
        dones,
        nextValue,
        nextDone,
        gamma: cfg.gamma,
        lambda: cfg.gaeLambda,
      });
      const t1 = performance.now();

      // --- Optimisation: updateEpochs passes over the rollout in shuffled minibatches.
      const rollout: Rollout = {
        inputs,
        inputWidth,
        actions,
        logProbs,
        advantages,
        returns,
        values,
      };
      let opt: UpdateStats;
      try {
        opt = optimizeRollout(agent, optimizers, rollout, cfg, lr, rng);
      } catch (err) {
        if (!(err instanceof NonFiniteLossError)) throw err;
        throw new NonFiniteLossError(
          `${err.message} in update ${update + 1}; no step was applied. The last good ` +
            `checkpoint (update ${lastCheckpoint}) is in ${opts.checkpointDir}`,
        );
      }
      const t2 = performance.now();

      const done = update + 1;
      const stats: PpoUpdateStats = {
        update: done,
        globalStep: done * batchSize,
        lr,
        ...opt,
        explainedVariance: explainedVariance(values, returns),
        episodes: epCount,
        meanReturn: epCount ? epReturn / epCount : NaN,
        meanLength: epCount ? epLength / epCount : NaN,
        sps: batchSize / ((t2 - t0) / 1000),
        rolloutSec: (t1 - t0) / 1000,
        updateSec: (t2 - t1) / 1000,
      };
      hooks.onStep?.({ loop: "ppo", step: done, total: numUpdates, values: { ...stats } });

      if (done % cfg.checkpointEvery === 0 || done === numUpdates) {
        const extra: PpoCheckpointExtra = {
          agent: agent.spec,
          globalStep: done * batchSize,
          optimizerStep: optimizers[0].step,
          rng: rng.state(),
          env: envs.snapshot(),
          nextDone: Array.from(nextDone),
        };
        await saveCheckpoint(
          opts.checkpointDir,
          done,
          savedTensors(agent, optimizers),
          cfg,
          extra,
        );
        lastCheckpoint = done;
      }
    }
    for (const opt of optimizers) opt.dispose();
    const seconds = (performance.now() - sessionStart) / 1000;
    return {
      agent,
      updates: numUpdates,
      globalStep: numUpdates * batchSize,
      sps: ((numUpdates - start) * batchSize) / Math.max(seconds, 1e-9),
    };
  } finally {
    envs.close();
  }
}

/** A rollout as the optimisation reads it (index `t * numEnvs + i`). */
export interface Rollout {
  /** Per sample `inputWidth` values: uint8 frame stacks, or a frozen encoder's features. */
  inputs: Uint8Array | Float32Array;
  inputWidth: number;
  actions: Int32Array;
  logProbs: Float32Array;
  advantages: Float32Array;
  returns: Float32Array;
  values: Float32Array;
}

/** Means over an update's minibatches. */
export interface UpdateStats {
  pgLoss: number;
  vLoss: number;
  entropy: number;
  oldApproxKl: number;
  approxKl: number;
  clipFrac: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/**
 * The optimisation of one PPO update: `updateEpochs` passes over the rollout in shuffled
 * minibatches (order drawn from `rng`), each a gradient step on {@linkcode ppoLoss} with the
 * gradients clipped by global norm and Adam at `lr` (times each group's scale). Throws
 * {@linkcode NonFiniteLossError} before applying a step whose loss is not finite.
 */
export function optimizeRollout(
  agent: Agent,
  optimizers: AdamW[],
  rollout: Rollout,
  cfg: PpoConfig,
  lr: number,
  rng: Rng,
): UpdateStats {
  const { inputs, inputWidth } = rollout;
  const batchSize = rollout.actions.length;
  const mbSize = batchSize / cfg.numMinibatches;
  const mbInput = inputs instanceof Float32Array
    ? new Float32Array(mbSize * inputWidth)
    : new Uint8Array(mbSize * inputWidth);
  const mb: LossBatch = {
    actions: new Int32Array(mbSize),
    logProbs: new Float32Array(mbSize),
    advantages: new Float32Array(mbSize),
    returns: new Float32Array(mbSize),
    values: new Float32Array(mbSize),
  };
  const trainable = agent.groups.flatMap((g) => g.params);
  const sums = new Float64Array(7);
  let minibatches = 0;
  for (let epoch = 0; epoch < cfg.updateEpochs; epoch++) {
    const perm = rng.permutation(batchSize);
    let lastKl = 0;
    for (let s = 0; s < batchSize; s += mbSize) {
      for (let j = 0; j < mbSize; j++) {
        const k = perm[s + j];
        mbInput.set(inputs.subarray(k * inputWidth, (k + 1) * inputWidth), j * inputWidth);
        mb.actions[j] = rollout.actions[k];
        mb.logProbs[j] = rollout.logProbs[k];
        mb.advantages[j] = rollout.advantages[k];
        mb.returns[j] = rollout.returns[k];
        mb.values[j] = rollout.values[k];
      }
      if (cfg.normAdv) normalizeInPlace(mb.advantages);
      const kept: { stats?: tf.Tensor } = {};
      const { value: lossValue, grads } = tf.variableGrads(() => {
        const out = agent.forward(mbInput, mbSize);
        const parts = ppoLoss(out.logits, out.value, mb, cfg);
        kept.stats = tf.keep(tf.stack([
          parts.pgLoss,
          parts.vLoss,
          parts.entropy,
          parts.oldApproxKl,
          parts.approxKl,
          parts.clipFrac,
        ]));
        return parts.loss;
      }, trainable.map(([, v]) => v));
      const loss = lossValue.dataSync()[0];
      const statValues = kept.stats!.dataSync();
      kept.stats!.dispose();
      if (!Number.isFinite(loss)) {
        tf.dispose([lossValue, ...Object.values(grads)]);
        throw new NonFiniteLossError(`loss became ${loss} in epoch ${epoch}`);
      }
      const named: Record<string, tf.Tensor> = {};
      for (const [name, v] of trainable) named[name] = grads[v.name];
      const clip = globalNormClip(named, cfg.maxGradNorm);
      agent.groups.forEach((g, i) => optimizers[i].apply(named, lr * g.lrScale, 0, clip.scale));
      sums[6] += clip.norm;
      tf.dispose([lossValue, ...Object.values(grads)]);
      for (let q = 0; q < 6; q++) sums[q] += statValues[q];
      lastKl = statValues[4];
      minibatches++;
    }
    // CleanRL stops the epochs once the last minibatch's approx-KL exceeds the target.
    if (cfg.targetKl > 0 && lastKl > cfg.targetKl) break;
  }
  const mean = (q: number) => sums[q] / minibatches;
  return {
    pgLoss: mean(0),
    vLoss: mean(1),
    entropy: mean(2),
    oldApproxKl: mean(3),
    approxKl: mean(4),
    clipFrac: mean(5),
    gradNorm: mean(6),
  };
}

/** Rebuilds the trained agent of a PPO checkpoint (weights only; no env, no optimiser). */
export function loadAgent(checkpointDir: string): { agent: Agent; cfg: PpoConfig; update: number } {
  const { meta, tensors } = loadCheckpoint(checkpointDir);
  const cfg = meta.config as PpoConfig;
  const spec = (meta.extra as PpoCheckpointExtra).agent;
  const agent = built(
    () => buildAgent(spec, new Rng(0), undefined, cfg.agent.encoderLrScale),
    (a) => a.tensors().map(([, v]) => v),
  );
  const names = agent.tensors().map(([k, v]) => [`agent/${k}`, v] as [string, tf.Variable]);
  assignTensors(names, tensors, checkpointDir);
  return { agent, cfg, update: meta.step };
}

/** `(x - mean) / (std + 1e-8)` with the unbiased std, as torch's `.std()`. */
function normalizeInPlace(x: Float32Array): void {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let ss = 0;
  for (const v of x) ss += (v - mean) ** 2;
  const std = Math.sqrt(ss / Math.max(1, x.length - 1));
  for (let i = 0; i < x.length; i++) x[i] = (x[i] - mean) / (std + 1e-8);
}

/** `1 - Var(returns - values) / Var(returns)` (NaN when the returns do not vary). */
export function explainedVariance(values: Float32Array, returns: Float32Array): number {
  const n = values.length;
  let my = 0;
  let md = 0;
  for (let i = 0; i < n; i++) {
    my += returns[i];
    md += returns[i] - values[i];
  }
  my /= n;
  md /= n;
  let vy = 0;
  let vd = 0;
  for (let i = 0; i < n; i++) {
    vy += (returns[i] - my) ** 2;
    vd += (returns[i] - values[i] - md) ** 2;
  }
  return vy === 0 ? NaN : 1 - vd / vy;
}
