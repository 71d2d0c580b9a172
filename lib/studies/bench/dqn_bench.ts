/**
 * `dqn-update`: one DQN gradient step with the Nature CNN Q-network on a batch of 32 transitions
 * (84x84x4 frame stacks): the online network on both stacks and the target network on the next
 * ones (Double DQN), the Huber loss, backward, gradient clipping and Adam, through the same
 * `DqnLearner.update` that training runs. Reports updates per second.
 *
 * The PyTorch peer `peers/dqn_update.py` runs CleanRL's `dqn_atari` Q-network and the same
 * update on the same kind of synthetic batch; keep the two in step when either changes.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { DQN_ATARI, type DqnBatch, DqnLearner } from "../../rl/dqn.ts";
import { Rng } from "../../tensor/rng.ts";
import type { Benchmark } from "./measure.ts";
import { measureRate, peakRssMiB, resetPeakRss } from "./measure.ts";

/** Transitions per update: CleanRL's batch. */
export const DQN_BENCH_BATCH = DQN_ATARI.batchSize;

/** The benchmark's learner and synthetic batch; `step()` is one update. */
export function makeDqnUpdate(): { step(): void; dispose(): void } {
  const rng = new Rng(0);
  const shape: [number, number, number] = [84, 84, 4];
  const numActions = 4;
  const learner = new DqnLearner(DQN_ATARI, shape, numActions, rng.fork("learner"));
  const b = DQN_BENCH_BATCH;
  const bytes = b * 84 * 84 * 4;
  // Frames with Breakout-like content: mostly dark, a few bright pixels.
  const frames = () => Uint8Array.from({ length: bytes }, () => (rng.float() < 0.1 ? 142 : 0));
  const batch: DqnBatch = {
    obs: frames(),
    nextObs: frames(),
    actions: Int32Array.from({ length: b }, () => rng.int(numActions)),
    rewards: Float32Array.from({ length: b }, () => (rng.float() < 0.1 ? 1 : 0)),
    dones: Uint8Array.from({ length: b }, () => (rng.float() < 0.01 ? 1 : 0)),
    weights: new Float32Array(b).fill(1),
  };
  let step = 0;
  return {
    step() {
      learner.update(batch, step++);
    },
    dispose() {
      learner.disposeTraining();
      tf.dispose(learner.trainable.map(([, v]) => v));
    },
  };
}

/** See the module doc. */
export const dqnUpdateBench: Benchmark = {
  name: "dqn-update",
  description: "one DQN update (Double DQN, Huber, Adam), Nature CNN on 84x84x4, batch of 32",
  prepare: makeDqnUpdate,
  stepUnits: 1,
  pairedSteps: 10,
  async run({ quick }) {
    resetPeakRss();
    const update = makeDqnUpdate();
    const rate = await measureRate(
      () => update.step(),
      1,
      quick
        ? { windows: 1, windowSeconds: 0, warmupSeconds: 0 }
        : { windows: 5, windowSeconds: 2, warmupSeconds: 1 },
    );
    update.dispose();
    const peak = peakRssMiB();
    return {
      bench: "dqn-update",
      backend: tf.getBackend(),
      value: Number(rate.median.toPrecision(3)),
      unit: "updates/s",
      config: {
        batch: DQN_BENCH_BATCH,
        obs: [84, 84, 4],
        network: "Nature CNN (im2col + matmul)",
        ...(peak !== undefined ? { peakRssMiB: peak } : {}),
      },
      range: [Number(rate.min.toPrecision(3)), Number(rate.max.toPrecision(3))],
    };
  },
};
