/**
 * `ppo-update`: one PPO update with the Nature CNN agent on a 1,024-step batch (CleanRL's
 * `ppo_atari`: 8 envs x 128 steps of 84x84x4 frame stacks, 4 epochs of 4 minibatches of 256):
 * forward, clipped losses, backward, gradient clipping and Adam, through the same
 * `optimizeRollout` that training runs. Reports env steps per second of optimisation (1,024
 * divided by the seconds of one update; the rollout's own forward passes are not included).
 *
 * The PyTorch peer `peers/ppo_update.py` runs CleanRL's agent and update on the same synthetic
 * batch; keep the two in step when either changes.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { createAgent } from "../../rl/agent.ts";
import { CLEANRL_PPO_ATARI, optimizeRollout, type Rollout } from "../../rl/ppo.ts";
import { AdamW } from "../../train/optim.ts";
import { Rng } from "../../tensor/rng.ts";
import type { Benchmark } from "./measure.ts";
import { peakRssMiB, resetPeakRss } from "./measure.ts";

/** Env steps per update: CleanRL's 8 envs x 128 steps. */
export const PPO_BENCH_BATCH = CLEANRL_PPO_ATARI.numEnvs * CLEANRL_PPO_ATARI.numSteps;

/**
 * Builds the benchmark's agent, optimisers and synthetic rollout on the active backend;
 * `step()` runs one update of {@linkcode PPO_BENCH_BATCH} env steps.
 */
export function makePpoUpdate(): { step(): void; dispose(): void } {
  const cfg = CLEANRL_PPO_ATARI;
  const batch = PPO_BENCH_BATCH;
  const shape = [84, 84, 4] as const;
  const numActions = 4;
  const rng = new Rng(0);
  const agent = createAgent(cfg.agent, {
    obsShape: shape,
    numActions,
    rng: rng.fork("agent"),
  });
  const optimizers = agent.groups.map((g) =>
    new AdamW(g.params, { beta1: 0.9, beta2: 0.999, eps: cfg.adamEps })
  );
  // Frames with Breakout-like content: mostly dark, a few bright pixels.
  const frameBytes = shape[0] * shape[1] * shape[2];
  const inputs = new Uint8Array(batch * frameBytes);
  for (let i = 0; i < inputs.length; i++) inputs[i] = rng.float() < 0.1 ? 142 : 0;
  const rollout: Rollout = {
    inputs,
    inputWidth: frameBytes,
    actions: Int32Array.from({ length: batch }, () => rng.int(numActions)),
    logProbs: new Float32Array(batch).fill(Math.log(1 / numActions)),
    advantages: Float32Array.from({ length: batch }, () => rng.normal()),
    returns: Float32Array.from({ length: batch }, () => rng.normal()),
    values: new Float32Array(batch),
  };
  return {
    step() {
      optimizeRollout(agent, optimizers, rollout, cfg, cfg.lr, rng);
    },
    dispose() {
      for (const opt of optimizers) opt.dispose();
      agent.dispose();
    },
  };
}

/** See the module doc. */
export const ppoUpdateBench: Benchmark = {
  name: "ppo-update",
  description: "one PPO update (4 epochs x 4 minibatches of 256), Nature CNN on 84x84x4, " +
    "1,024-step batch",
  prepare: makePpoUpdate,
  stepUnits: PPO_BENCH_BATCH,
  // An update takes seconds: paired windows of one update each side.
  pairedSteps: 1,
  run({ quick }) {
    const cfg = CLEANRL_PPO_ATARI;
    const batch = PPO_BENCH_BATCH;
    resetPeakRss();
    const update = makePpoUpdate();
    // One update takes seconds on a CPU: each window times exactly one (after one warm-up
    // update in a full run; a quick run times a single update).
    const rates: number[] = [];
    for (let i = 0; i < (quick ? 1 : 4); i++) {
      const start = performance.now();
      update.step();
      if (quick || i > 0) rates.push(batch / ((performance.now() - start) / 1000));
    }
    rates.sort((a, b) => a - b);
    const rate = { median: rates[Math.floor(rates.length / 2)], min: rates[0], max: rates.at(-1)! };
    update.dispose();
    const peak = peakRssMiB();
    return Promise.resolve({
      bench: "ppo-update",
      backend: tf.getBackend(),
      value: Number(rate.median.toPrecision(3)),
      unit: "env steps/s (optimisation only)",
      config: {
        batch,
        minibatch: batch / cfg.numMinibatches,
        epochs: cfg.updateEpochs,
        obs: [84, 84, 4],
        network: "Nature CNN (im2col + matmul)",
        ...(peak !== undefined ? { peakRssMiB: peak } : {}),
      },
      range: [Number(rate.min.toPrecision(3)), Number(rate.max.toPrecision(3))],
    });
  },
};
