/**
 * Trained agents as behaviour policies: on the observations of their own env (`agentPolicy`, the
 * evaluation of the encoder swap), and on raw 210x160 RGB screens (`agentScreenPolicy`, for
 * recording demonstrations in Atari-HEAD's layout), where each screen goes through the agent's
 * training observation pipeline (gray, resize) and frame stack first. Actions are sampled from
 * the policy, as CleanRL evaluates.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { type ScreenPolicy, statePolicy } from "../data/atari_head/mod.ts";
import type { EnvConfig } from "../envs/make.ts";
import { makePolicy, type PolicyName } from "../envs/policies.ts";
import type { EnvSpec } from "../envs/types.ts";
import { ScreenStack } from "../envs/screen.ts";
import type { ActFn } from "../eval/robustness.ts";
import type { Rng } from "../tensor/rng.ts";
import type { Agent } from "./agent.ts";
import { loadAgent, sampleActions } from "./ppo.ts";

/** The policy's logits `[n, A]` for `n` observations of the agent's env (frozen encoders too). */
export function agentLogits(agent: Agent, obs: Uint8Array, n: number): Float32Array {
  const input = agent.featureDim > 0 ? agent.embed(obs, n) : obs;
  return tf.tidy(() => agent.forward(input, n).logits.dataSync() as Float32Array);
}

/** An agent acting on batches of its env's observations. */
export function agentPolicy(agent: Agent): ActFn {
  const numActions = agent.spec.numActions;
  return (obs, n, rng) => sampleActions(agentLogits(agent, obs, n), { n, numActions, rng }).actions;
}

/**
 * An agent trained on `env` (its config: frame options and stack) acting on raw RGB screens of
 * `height x width` (Atari's 210x160 by default), one game at a time.
 */
export function agentScreenPolicy(
  agent: Agent,
  env: EnvConfig,
  rng: Rng,
  screen: { height: number; width: number } = { height: 210, width: 160 },
): ScreenPolicy {
  const stack = new ScreenStack(screen.height, screen.width, env);
  const act = agentPolicy(agent);
  return {
    reset() {
      stack.reset();
    },
    act(rgb) {
      return act(stack.push(rgb), 1, rng)[0];
    },
  };
}

/** What a recording's player is called: in output names, and as the subject code of its trials. */
export function playerNames(opts: { policy: PolicyName; agent: string }): {
  name: string;
  subject: string;
} {
  if (opts.agent) return { name: "ppo", subject: "PPO" };
  return { name: opts.policy, subject: opts.policy === "random" ? "RND" : "SCR" };
}

/**
 * The player of a recording: a trained PPO agent (`agent`, a checkpoint directory), which plays
 * with its own frame skip and fire reset on `env`'s game, or else the behaviour policy `policy`.
 */
export function recordingPlayer(opts: { env: EnvConfig; policy: PolicyName; agent: string }): {
  env: EnvConfig;
  makePolicy: (rng: Rng, spec: EnvSpec) => ScreenPolicy;
  name: string;
  subject: string;
} {
  if (!opts.agent) {
    return {
      env: opts.env,
      makePolicy: (rng, spec) => statePolicy(makePolicy(opts.policy, spec, rng)),
      ...playerNames(opts),
    };
  }
  const { agent, cfg } = loadAgent(opts.agent);
  const game = (id: string) => id.split(":").pop();
  if (game(cfg.env.id) !== game(opts.env.id)) {
    agent.dispose();
    throw new Error(
      `${opts.agent}: the agent was trained on ${cfg.env.id}, not on ${opts.env.id}'s game`,
    );
  }
  return {
    env: { ...cfg.env, id: opts.env.id },
    makePolicy: (rng) => agentScreenPolicy(agent, cfg.env, rng),
    ...playerNames(opts),
  };
}
