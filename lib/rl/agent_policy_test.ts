import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { CLEANRL_ATARI, makeEnv } from "../envs/make.ts";
import { recordingEnvConfig } from "../data/atari_head/mod.ts";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import { buildAgent } from "./agent.ts";
import { agentScreenPolicy } from "./agent_policy.ts";

await initBackend({ backend: "cpu" });

Deno.test("an agent on raw screens sees the stacks its training env gives it", () => {
  // Without max-pooling, RGB screens and the env's gray frames convert the same way.
  const trained = { ...CLEANRL_ATARI, maxPool: false, episodicLife: false, fireReset: false };
  const agent = buildAgent({
    encoder: "cnn",
    frozen: false,
    obsShape: [84, 84, 4],
    numActions: 4,
    hidden: 16,
  }, new Rng(0));
  const seen: Uint8Array[] = [];
  const forward = agent.forward.bind(agent);
  agent.forward = (input, n) => {
    seen.push((input as Uint8Array).slice());
    return forward(input, n);
  };
  const policy = agentScreenPolicy(agent, trained, new Rng(1));
  const screens = makeEnv(recordingEnvConfig(trained), 4);
  const stacks = makeEnv(trained, 4);
  for (let game = 0; game < 2; game++) {
    policy.reset!();
    let screen = screens.reset(9 + game).obs;
    let stack = stacks.reset(9 + game).obs;
    for (let t = 0; t < 12; t++) {
      const action = policy.act(screen, { lives: 5, state: {}, episodeFrame: 0 });
      assert.ok(Number.isInteger(action) && action >= 0 && action < 4);
      assert.deepEqual(seen.at(-1), stack, `game ${game}, step ${t}`);
      screen = screens.step(action).obs;
      stack = stacks.step(action).obs;
    }
  }
  tf.dispose(agent.tensors().map(([, v]) => v));
});
