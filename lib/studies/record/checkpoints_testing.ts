/**
 * Test helper: checkpoints of tiny agents (36x36 observations, a few steps of training), as the
 * DQN and PPO trainers write them, for the recording tests.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { CLEANRL_ATARI, type EnvConfig, evalEnvConfig, makeEnv } from "../../envs/make.ts";
import { disposeParams, namedParams, type Params } from "../../nn/params.ts";
import { DQN_ATARI, type QNetwork, trainDqn } from "../../rl/dqn.ts";
import { CLEANRL_PPO_ATARI, trainPpo } from "../../rl/ppo.ts";
import { loadCheckpoint, saveCheckpoint } from "../../tensor/checkpoint.ts";
import { Rng } from "../../tensor/rng.ts";

/** The tiny agents' training env: Breakout through CleanRL's stack at 36x36. */
export const TINY_AGENT_ENV: EnvConfig = {
  ...CLEANRL_ATARI,
  resize: [36, 36],
  maxEpisodeSteps: 23,
};

/** A PPO checkpoint in `dir` after one update of a CNN agent. */
export async function tinyPpoCheckpoint(dir: string, env = TINY_AGENT_ENV): Promise<string> {
  const { agent } = await trainPpo({
    ...CLEANRL_PPO_ATARI,
    seed: 5,
    env,
    agent: { ...CLEANRL_PPO_ATARI.agent, hidden: 32 },
    numEnvs: 2,
    numSteps: 16,
    totalSteps: 32,
    numMinibatches: 2,
    updateEpochs: 1,
    checkpointEvery: 1,
  }, { checkpointDir: dir });
  agent.dispose();
  return dir;
}

/**
 * A DQN checkpoint in `dir` of a CNN Q-network as initialised (no update before it), its head's
 * bias shifted so that every action's mean Q over a few random-play observations is the same:
 * then the greedy action follows the screen (an untrained network's otherwise never changes).
 */
export async function tinyDqnCheckpoint(dir: string): Promise<string> {
  const trained = await trainDqn({
    ...DQN_ATARI,
    env: TINY_AGENT_ENV,
    totalSteps: 8,
    bufferSize: 64,
    learningStarts: DQN_ATARI.batchSize,
    network: { kind: "cnn", hidden: 32 },
    checkpointEvery: 8,
    logEvery: 8,
  }, { checkpointDir: dir });
  const meanQ = meanQValues(trained.network, 64);
  // The checkpoint names the variables as loadDqn does (namedParams under "q").
  const headBias = (trained.network.params.head as Params).b;
  const [biasName] = namedParams("q", trained.network.params).find(([, v]) => v === headBias)!;
  disposeParams(trained.network.params);
  const { meta, tensors } = loadCheckpoint(dir);
  const bias = tensors.get(biasName)!;
  bias.data.forEach((b, a) => (bias.data[a] = b - meanQ[a]));
  const saved = [...tensors].map(([name, t]) => [name, tf.tensor(t.data, t.shape)]);
  await saveCheckpoint(dir, meta.step, saved as [string, tf.Tensor][], meta.config, meta.extra);
  tf.dispose(saved.map(([, t]) => t as tf.Tensor));
  return dir;
}

/** Each action's mean Q over `n` observations of random play in the tiny agents' env. */
function meanQValues(network: QNetwork, n: number): Float32Array {
  const env = makeEnv(evalEnvConfig(TINY_AGENT_ENV), 1);
  const rng = new Rng(2);
  let obs = env.reset(3).obs;
  const batch = new Uint8Array(n * obs.length);
  for (let i = 0; i < n; i++) {
    batch.set(obs, i * obs.length);
    const r = env.step(rng.int(env.spec.actionMeanings.length));
    obs = r.terminated || r.truncated ? env.reset().obs : r.obs;
  }
  env.close();
  return tf.tidy(() => network.forward(batch, n).mean(0).dataSync() as Float32Array);
}
