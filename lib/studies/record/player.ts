/**
 * Who plays a recording: uniform random play, or the agent of a DQN or PPO checkpoint (told apart
 * by the config in its `latest.json`), acting on batches of observation stacks from its own
 * training wrapper stack. Each row of a batch draws its randomness (PPO's sampled action, DQN's
 * epsilon) from its own game's stream, so a game's actions do not depend on which other games
 * share its batch: a resumed recording replays the games an uninterrupted one played.
 *
 * @module
 */

import { existsSync, statSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import {
  type EnvConfig,
  envObsShape,
  evalEnvConfig,
  gameActions,
  parseEnvId,
} from "../../envs/make.ts";
import type { ObsShape } from "../../envs/types.ts";
import { disposeParams } from "../../nn/params.ts";
import { agentLogits } from "../../rl/agent_policy.ts";
import { exploreAction, loadDqn } from "../../rl/dqn.ts";
import { loadAgent, sampleActions } from "../../rl/ppo.ts";
import { checkpointSidecar, readCheckpointMeta } from "../../tensor/checkpoint.ts";
import type { Rng } from "../../tensor/rng.ts";
import type { RecordConfig } from "./presets.ts";

/** What plays: random actions, or a trained agent of either trainer. */
export type PlayerKind = "random" | "ppo" | "dqn";

/** The checkpoint a recording's agent comes from, as its `latest.json` describes it. */
export interface CheckpointInfo {
  kind: "ppo" | "dqn";
  /** The trainer's step count at the checkpoint (PPO: updates, DQN: env steps). */
  step: number;
  /** The weights file's sha256: which agent played, whatever the directory is called. */
  sha256: string;
}

/** A player of a recording. */
export interface Player {
  kind: PlayerKind;
  /** The checkpoint, for provenance; null for random play. */
  checkpoint: CheckpointInfo | null;
  /** The wrapper stack the player acts through (evaluation settings: whole games, raw rewards). */
  env: EnvConfig;
  numActions: number;
  /** The shape of the observation stacks `act` reads; null when it reads none (random play). */
  obsShape: ObsShape | null;
  /** One action per observation of `obs` (`n` stacks); row `i` draws from `rngs[i]`. */
  act(obs: Uint8Array, n: number, rngs: readonly Rng[]): Int32Array;
  /** Releases the agent's tensors. */
  dispose(): void;
}

/**
 * Tells which trainer wrote the checkpoint in `dir` from the config in its `latest.json`: DQN
 * configs have `exploration` and `bufferSize`, PPO configs `agent` and `numEnvs`. Throws naming
 * the directory or the file when there is no checkpoint, or one of neither kind.
 */
export function readCheckpointInfo(dir: string): CheckpointInfo {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new Error(`agent checkpoint ${dir}: no such directory`);
  }
  const meta = readCheckpointMeta(dir);
  const config = meta.config;
  const has = (...keys: string[]) =>
    typeof config === "object" && config !== null && keys.every((k) => k in config);
  const kind = has("exploration", "bufferSize") ? "dqn" : has("agent", "numEnvs") ? "ppo" : null;
  if (!kind) {
    throw new Error(
      `${checkpointSidecar(dir)}: its config is neither a DQN config (exploration, bufferSize) ` +
        `nor a PPO config (agent, numEnvs)`,
    );
  }
  return { kind, step: meta.step, sha256: meta.sha256 };
}

/** The player a config asks for: random play, or the agent of `cfg.agent` (loaded here). */
export function openPlayer(cfg: Pick<RecordConfig, "env" | "agent" | "epsilon">): Player {
  if (!cfg.agent) return randomPlayer(cfg.env);
  const checkpoint = readCheckpointInfo(cfg.agent);
  return checkpoint.kind === "ppo"
    ? ppoPlayer(cfg.agent, checkpoint, cfg.env)
    : dqnPlayer(cfg.agent, checkpoint, cfg.env, cfg.epsilon);
}

function randomPlayer(env: EnvConfig): Player {
  const numActions = gameActions(env.id).length;
  return {
    kind: "random",
    checkpoint: null,
    env,
    numActions,
    obsShape: null,
    act: (_obs, n, rngs) => Int32Array.from({ length: n }, (_, i) => rngs[i].int(numActions)),
    dispose() {},
  };
}

function ppoPlayer(dir: string, checkpoint: CheckpointInfo, recording: EnvConfig): Player {
  const { agent, cfg } = loadAgent(dir);
  const env = agentEnv(dir, cfg.env, recording, () => agent.dispose());
  const numActions = agent.spec.numActions;
  return {
    kind: "ppo",
    checkpoint,
    env,
    numActions,
    obsShape: envObsShape(env),
    act(obs, n, rngs) {
      const logits = agentLogits(agent, obs, n);
      return Int32Array.from({ length: n }, (_, i) => {
        const row = logits.subarray(i * numActions, (i + 1) * numActions);
        return sampleActions(row, { n: 1, numActions, rng: rngs[i] }).actions[0];
      });
    },
    dispose: () => agent.dispose(),
  };
}

function dqnPlayer(
  dir: string,
  checkpoint: CheckpointInfo,
  recording: EnvConfig,
  epsilon: number,
): Player {
  const { network, cfg } = loadDqn(dir);
  const env = agentEnv(dir, cfg.env, recording, () => disposeParams(network.params));
  // The trained exploration mode does not matter here: the recording plays epsilon-greedy.
  const greedy = { ...cfg.exploration, mode: "epsilon" as const };
  const numActions = gameActions(env.id).length;
  return {
    kind: "dqn",
    checkpoint,
    env,
    numActions,
    obsShape: envObsShape(env),
    act(obs, n, rngs) {
      const q = tf.tidy(() => network.forward(obs, n).dataSync() as Float32Array);
      return Int32Array.from({ length: n }, (_, i) => {
        const row = q.subarray(i * numActions, (i + 1) * numActions);
        return exploreAction(row, greedy, epsilon, rngs[i]);
      });
    },
    dispose: () => disposeParams(network.params),
  };
}

/**
 * The wrapper stack an agent plays a recording through: its training stack with evaluation
 * settings, on the recording's env id (native or real Atari of the same game) and game cap.
 */
function agentEnv(
  dir: string,
  trained: EnvConfig,
  recording: EnvConfig,
  dispose: () => void,
): EnvConfig {
  if (parseEnvId(trained.id).game !== parseEnvId(recording.id).game) {
    dispose();
    throw new Error(
      `${dir}: the agent was trained on ${trained.id}, not on ${recording.id}'s game`,
    );
  }
  return {
    ...evalEnvConfig(trained),
    id: recording.id,
    maxEpisodeSteps: recording.maxEpisodeSteps,
  };
}
