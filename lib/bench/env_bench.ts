/**
 * `env-breakout`: agent steps per second of native Breakout under CleanRL's wrapper stack (skip 4
 * with max-pool, 84x84 gray, stack 4), 8 envs in a vector env, random actions, on one core.
 *
 * @module
 */

import { CLEANRL_ATARI, makeEnv } from "../envs/make.ts";
import { VectorEnv } from "../envs/vector.ts";
import { Rng } from "../tensor/rng.ts";
import { type Benchmark, measureRate } from "./bench.ts";

/** See the module doc. */
export const envBreakoutBench: Benchmark = {
  name: "env-breakout",
  description:
    "native Breakout, CleanRL wrappers (skip 4, 84x84 gray, stack 4), 8 envs, random actions",
  async run({ quick }) {
    const numEnvs = 8;
    const config = { ...CLEANRL_ATARI, id: "native:breakout" };
    const venv = VectorEnv.create((seed) => makeEnv(config, seed), numEnvs, 0);
    venv.reset(0);
    const rng = new Rng(1);
    const nActions = venv.spec.actionMeanings.length;
    const actions = new Int32Array(numEnvs);
    const stepsPerCall = 64;
    const rate = await measureRate(
      () => {
        for (let s = 0; s < stepsPerCall; s++) {
          for (let i = 0; i < numEnvs; i++) actions[i] = rng.int(nActions);
          venv.step(actions);
        }
      },
      stepsPerCall * numEnvs,
      quick ? { windows: 1, windowSeconds: 0.2, warmupSeconds: 0.1 } : {},
    );
    venv.close();
    return {
      bench: "env-breakout",
      backend: "js",
      value: Math.round(rate.median),
      unit: "agent steps/s",
      config: {
        numEnvs,
        frameSkip: config.frameSkip,
        resize: config.resize,
        frameStack: config.frameStack,
        policy: "random",
      },
      range: [Math.round(rate.min), Math.round(rate.max)],
    };
  },
};
