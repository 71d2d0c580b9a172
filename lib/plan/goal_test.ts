import assert from "node:assert/strict";
import { collectionEnvConfig } from "../data/collect.ts";
import { CLEANRL_ATARI, type EnvConfig, makeEnv } from "../envs/make.ts";
import { Rng } from "../tensor/rng.ts";
import { cem } from "./cem.ts";
import {
  drawGoalTasks,
  evaluatePlanners,
  type GoalTaskConfig,
  paddleActions,
  type Planner,
  randomPlanner,
  startEnv,
  stillStack,
  summarizeGoals,
  toAction,
} from "./goal.ts";

const ENV: EnvConfig = {
  ...collectionEnvConfig({ ...CLEANRL_ATARI, resize: [32, 32] }),
  frameStack: 4,
};
const GOAL: GoalTaskConfig = {
  seed: 1,
  tasks: 6,
  horizon: 6,
  tolerance: 10,
  warmup: [10, 60],
  shift: [30, 90],
};

Deno.test("goal tasks are reachable, replay exactly, and put the goal away from the start", () => {
  const tasks = drawGoalTasks(ENV, GOAL);
  assert.equal(tasks.length, 6);
  for (const t of tasks) {
    assert.ok(Math.abs(t.goalX - t.startX) >= 20, `start ${t.startX} goal ${t.goalX}`);
    const a = startEnv(ENV, t);
    assert.equal(a.x, t.startX);
    assert.deepEqual(a.obs, t.startObs, "the prefix replays to the same start frame");
    assert.equal(t.goalObs.length, 32 * 32 * 4);
  }
});

Deno.test("an oracle CEM over the real game reaches the goals; no-op and random mostly do not", () => {
  const tasks = drawGoalTasks(ENV, GOAL);
  const a = paddleActions(makeEnv(ENV));
  // Planning against the true game (the ideal world model: it replays the game rather than
  // reading frames) through the same CEM and action mapping as the latent planner.
  const oracle =
    (goalX: number, prefix: number[], seed: number, rng: Rng): Planner => (_obs, remaining) => {
      const cost = (u: Float32Array, n: number) =>
        Float64Array.from({ length: n }, (_, i) => {
          const { env } = startEnv(ENV, { seed, prefix });
          let x = 0;
          for (let h = 0; h < remaining; h++) {
            x = env.step(toAction(u[i * remaining + h], a)).info.state.paddleX;
          }
          return Math.abs(x - goalX);
        });
      const r = cem(cost, remaining, {
        samples: 32,
        iterations: 4,
        elites: 6,
        initStd: 1,
        minStd: 0.05,
        bounds: [-1, 1],
      }, rng);
      return Array.from(r.best, (v) => toAction(v, a));
    };
  const outcomes = evaluatePlanners(ENV, tasks, {
    oracle: (t, i) => oracle(t.goalX, t.prefix, t.seed, new Rng(i)),
    random: (_t, i) => randomPlanner(a, new Rng(100 + i)),
    "no-op": () => (_obs, remaining) => Array(remaining).fill(a.noop),
  }, { horizon: GOAL.horizon, tolerance: GOAL.tolerance, replan: false });
  const summary = Object.fromEntries(summarizeGoals(outcomes).map((s) => [s.planner, s]));
  assert.ok(summary.oracle.success >= 5 / 6, JSON.stringify(summary));
  assert.ok(summary["no-op"].success <= 1 / 6, JSON.stringify(summary));
  assert.ok(summary.oracle.success > summary.random.success);
  assert.equal(outcomes.oracle[0].frames.length, GOAL.horizon + 1);
});

Deno.test("a still goal stack repeats the newest frame through the stack", () => {
  // Two pixels, stacks of 3 gray frames (oldest first), then of 2 RGB frames.
  assert.deepEqual(Array.from(stillStack(Uint8Array.from([1, 2, 3, 4, 5, 6]), 3)), [
    3,
    3,
    3,
    6,
    6,
    6,
  ]);
  assert.deepEqual(
    Array.from(stillStack(Uint8Array.from([1, 2, 3, 4, 5, 6]), 2, 3)),
    [4, 5, 6, 4, 5, 6],
  );
});
