/**
 * `env-breakout` and `env-ale-breakout`: agent steps per second of Breakout under CleanRL's
 * wrapper stack (skip 4 with max-pool, 84x84 gray, stack 4), 8 envs in a vector env, random
 * actions: our native game on one core, and real Atari (ALE in helper processes, skipped with
 * a note where ale-py is missing).
 *
 * @module
 */

import { aleStatus } from "../../envs/ale.ts";
import { CLEANRL_ATARI, makeEnv } from "../../envs/make.ts";
import { VectorEnv } from "../../envs/vector.ts";
import { Rng } from "../../tensor/rng.ts";
import type { Benchmark, BenchResult } from "./measure.ts";
import { measureRate } from "./measure.ts";

const NUM_ENVS = 8;

/** Times a vector env of `envId` under the CleanRL stack with random actions. */
async function vectorEnvRate(
  bench: string,
  envId: string,
  quick: boolean | undefined,
): Promise<BenchResult> {
  const config = { ...CLEANRL_ATARI, id: envId };
  const venv = VectorEnv.create((seed) => makeEnv(config, seed), NUM_ENVS, 0);
  try {
    venv.reset(0);
    const rng = new Rng(1);
    const nActions = venv.spec.actionMeanings.length;
    const actions = new Int32Array(NUM_ENVS);
    // Enough steps per timed call that the clock is read rarely, few enough for slow envs.
    const stepsPerCall = envId.startsWith("ale:") ? 4 : 64;
    const rate = await measureRate(
      () => {
        for (let s = 0; s < stepsPerCall; s++) {
          for (let i = 0; i < NUM_ENVS; i++) actions[i] = rng.int(nActions);
          venv.step(actions);
        }
      },
      stepsPerCall * NUM_ENVS,
      quick ? { windows: 1, windowSeconds: 0.2, warmupSeconds: 0.1 } : {},
    );
    return {
      bench,
      backend: "js",
      value: Math.round(rate.median),
      unit: "agent steps/s",
      config: {
        env: envId,
        numEnvs: NUM_ENVS,
        frameSkip: config.frameSkip,
        resize: config.resize,
        frameStack: config.frameStack,
        policy: "random",
      },
      range: [Math.round(rate.min), Math.round(rate.max)],
    };
  } finally {
    venv.close();
  }
}

/** Native Breakout; see the module doc. */
export const envBreakoutBench: Benchmark = {
  name: "env-breakout",
  description:
    "native Breakout, CleanRL wrappers (skip 4, 84x84 gray, stack 4), 8 envs, random actions",
  run: ({ quick }) => vectorEnvRate("env-breakout", "native:breakout", quick),
};

/** Real Breakout through ALE helper processes, same config as `env-breakout`. */
export const envAleBreakoutBench: Benchmark = {
  name: "env-ale-breakout",
  description: "real Breakout (ALE helper processes), same config as env-breakout; " +
    "skipped where ale-py is missing",
  run: ({ quick }) => {
    const status = aleStatus();
    if (!status.available) {
      return Promise.resolve({
        bench: "env-ale-breakout",
        backend: "js",
        value: NaN,
        unit: "agent steps/s",
        config: { env: "ale:breakout", skipped: status.error },
      });
    }
    return vectorEnvRate("env-ale-breakout", "ale:breakout", quick);
  },
};
