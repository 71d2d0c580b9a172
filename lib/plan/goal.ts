/**
 * A goal-reaching task in Breakout for latent planning, and the planners compared on it.
 *
 * Task: from a state reached by some play, bring the paddle to where a goal frame shows it,
 * within H agent steps. The goal frame is real: the same game (same seed, same actions up to the
 * start) continued for H steps by a controller that steers the paddle to a target x drawn
 * `shift` pixels away. The ball and bricks evolve the same way whatever the paddle does (unless
 * the paddle meets the ball), so the goal differs from any other reachable frame mostly in the
 * paddle. The goal is that one frame, held still through the frame stack (see
 * {@linkcode stillStack}). A plan succeeds when the paddle ends within `tolerance` pixels of the
 * goal's.
 *
 * Planners:
 * - `cem`: the cross-entropy method over H continuous values in [-1, 1], each mapped to LEFT
 *   (< -1/3), NOOP or RIGHT (> 1/3), scored by the world model: roll out from the current latent
 *   and take the L1 distance of the last predicted latent to the goal's latent (V-JEPA 2-AC's
 *   energy). With `replan`, model-predictive control: re-plan after every executed action.
 * - `cem` with the action-blind model: the same search on a model that ignores actions (a
 *   control: its costs do not depend on the plan);
 * - `random`: uniform LEFT / NOOP / RIGHT.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { withRandomSegments } from "../data/collect.ts";
import { type EnvConfig, makeEnv } from "../envs/make.ts";
import { ballTrackingPolicy } from "../envs/policies.ts";
import type { Env } from "../envs/types.ts";
import type { FrozenEncoder } from "../models/encoder.ts";
import {
  actionOneHot,
  encodeLatents,
  type LatentSpec,
  rollout,
  type WorldModel,
} from "../models/world_model.ts";
import { deriveSeed, Rng } from "../tensor/rng.ts";
import { cem, type CemConfig } from "./cem.ts";

/** The goal-reaching task. */
export interface GoalTaskConfig {
  seed: number;
  /** Tasks to draw. */
  tasks: number;
  /** Agent steps to reach the goal (H). */
  horizon: number;
  /** Success: final paddle x within this many pixels of the goal's. */
  tolerance: number;
  /** Steps of play (ball tracker with random segments) before the start state, [min, max]. */
  warmup: [number, number];
  /** Distance of the target x from the start's paddle x, in pixels, [min, max]. */
  shift: [number, number];
}

/** The planner settings. */
export interface PlannerConfig extends CemConfig {
  /** Re-plan after every executed action (MPC) instead of executing one plan open-loop. */
  replan: boolean;
}

/** One drawn task. */
export interface GoalTask {
  seed: number;
  /** Actions from reset to the start state. */
  prefix: number[];
  startX: number;
  /** Paddle x in the goal frame. */
  goalX: number;
  /** The goal frame stack and the start frame stack. */
  goalObs: Uint8Array;
  startObs: Uint8Array;
}

/** Chooses the next actions from the current frame stack; returns `remaining` actions. */
export type Planner = (obs: Uint8Array, remaining: number) => number[];

/** Action ids of the planning action set. */
export interface PaddleActions {
  noop: number;
  left: number;
  right: number;
}

/** LEFT, NOOP and RIGHT of an env. */
export function paddleActions(env: Env): PaddleActions {
  const id = (name: string) => {
    const i = env.spec.actionMeanings.indexOf(name);
    if (i < 0) throw new Error(`${env.spec.id} has no ${name} action`);
    return i;
  };
  return { noop: id("NOOP"), left: id("LEFT"), right: id("RIGHT") };
}

/** A continuous plan value in [-1, 1] as an action: LEFT below -1/3, RIGHT above 1/3. */
export function toAction(u: number, a: PaddleActions): number {
  return u < -1 / 3 ? a.left : u > 1 / 3 ? a.right : a.noop;
}

const PADDLE_RANGE: [number, number] = [8, 144];

/** Steers the paddle toward `target`: the controller that makes goal frames. */
function steer(x: number, target: number, a: PaddleActions): number {
  return target - x > 6 ? a.right : target - x < -6 ? a.left : a.noop;
}

/** Replays a task's prefix on a fresh env; returns the env at the start state. */
export function startEnv(envCfg: EnvConfig, task: { seed: number; prefix: number[] }) {
  const env = makeEnv(envCfg, task.seed);
  let r = env.reset(task.seed);
  for (const action of task.prefix) {
    const s = env.step(action);
    r = { obs: s.obs, info: s.info };
    if (s.terminated || s.truncated) throw new Error("goal task: the prefix ended the episode");
  }
  return { env, obs: r.obs, x: r.info.state.paddleX };
}

/**
 * Draws `cfg.tasks` tasks. A draw whose episode ends before the goal, or whose target the
 * controller cannot reach within the tolerance, is redrawn with the next seed.
 */
export function drawGoalTasks(envCfg: EnvConfig, cfg: GoalTaskConfig): GoalTask[] {
  const tasks: GoalTask[] = [];
  for (let attempt = 0; tasks.length < cfg.tasks; attempt++) {
    if (attempt > cfg.tasks * 20) throw new Error("goal task: too many draws failed");
    const seed = deriveSeed(cfg.seed, `task/${attempt}`);
    const rng = new Rng(seed);
    const env = makeEnv(envCfg, seed);
    const a = paddleActions(env);
    const policy = withRandomSegments(
      ballTrackingPolicy(env.spec, rng.fork("policy")),
      env.spec.actionMeanings.length,
      rng.fork("explore"),
      { prob: 0.2, hold: [2, 6] },
    );
    let r = env.reset(seed);
    const prefix: number[] = [];
    const length = cfg.warmup[0] + rng.int(cfg.warmup[1] - cfg.warmup[0] + 1);
    let ended = false;
    for (let i = 0; i < length && !ended; i++) {
      const action = policy(r.info);
      prefix.push(action);
      const s = env.step(action);
      r = { obs: s.obs, info: s.info };
      ended = s.terminated || s.truncated;
    }
    if (ended) continue;
    const startObs = r.obs.slice();
    const startX = r.info.state.paddleX;
    const shift = rng.uniform(cfg.shift[0], cfg.shift[1]);
    let target = startX + (rng.float() < 0.5 ? -shift : shift);
    if (target < PADDLE_RANGE[0] || target > PADDLE_RANGE[1]) target = 2 * startX - target;
    if (target < PADDLE_RANGE[0] || target > PADDLE_RANGE[1]) continue;
    let x = startX;
    for (let h = 0; h < cfg.horizon && !ended; h++) {
      const s = env.step(steer(x, target, a));
      r = { obs: s.obs, info: s.info };
      x = s.info.state.paddleX;
      ended = s.terminated || s.truncated;
    }
    env.close();
    if (ended || Math.abs(x - target) > cfg.tolerance) continue;
    tasks.push({
      seed,
      prefix,
      startX,
      goalX: x,
      goalObs: stillStack(r.obs, envCfg.frameStack, envCfg.grayscale ? 1 : 3),
      startObs,
    });
  }
  return tasks;
}

/**
 * The newest frame of a stack repeated through the stack: the goal as one still image (V-JEPA
 * 2-AC's goal is a single image). The goal stack as played would hold the controller's last
 * steps too, and a plan reaching the same place by another path would then look far from it.
 */
export function stillStack(obs: Uint8Array, stack: number, channels = 1): Uint8Array {
  const out = new Uint8Array(obs.length);
  const group = stack * channels;
  for (let p = 0; p < obs.length; p += group) {
    const newest = obs.subarray(p + group - channels, p + group);
    for (let j = 0; j < stack; j++) out.set(newest, p + j * channels);
  }
  return out;
}

/** The outcome of one planner on one task. */
export interface GoalOutcome {
  finalX: number;
  error: number;
  success: boolean;
  actions: number[];
  /** The frame stacks seen from the start to the end (for GIFs). */
  frames: Uint8Array[];
}

/** Runs `planner` on `task` in the real game. */
export function runGoalTask(
  envCfg: EnvConfig,
  task: GoalTask,
  planner: Planner,
  cfg: { horizon: number; tolerance: number; replan: boolean },
): GoalOutcome {
  const { env, obs } = startEnv(envCfg, task);
  let current = obs.slice();
  const frames = [current];
  const actions: number[] = [];
  let x = task.startX;
  let plan: number[] = [];
  for (let h = 0; h < cfg.horizon; h++) {
    if (cfg.replan || h === 0) plan = planner(current, cfg.horizon - h);
    const action = plan.shift()!;
    actions.push(action);
    const s = env.step(action);
    current = s.obs.slice();
    frames.push(current);
    x = s.info.state.paddleX;
    if (s.terminated || s.truncated) break;
  }
  env.close();
  const error = Math.abs(x - task.goalX);
  return { finalX: x, error, success: error <= cfg.tolerance, actions, frames };
}

/** Uniformly random LEFT / NOOP / RIGHT. */
export function randomPlanner(a: PaddleActions, rng: Rng): Planner {
  const choices = [a.left, a.noop, a.right];
  return (_obs, remaining) => Array.from({ length: remaining }, () => choices[rng.int(3)]);
}

/** What a latent planner needs: the frozen encoder and a world model over its latents. */
export interface LatentPlannerModel {
  encoder: FrozenEncoder;
  model: WorldModel;
  spec: LatentSpec;
  /** The model was trained with actions blanked (its action tokens are then blank too). */
  blind: boolean;
}

/**
 * The CEM planner toward `goalObs` (see the module doc). Costs are the mean L1 distance, over
 * tokens and channels, between the last predicted latent and the goal's latent.
 */
export function cemPlanner(
  m: LatentPlannerModel,
  goalObs: Uint8Array,
  a: PaddleActions,
  cfg: CemConfig,
  rng: Rng,
): Planner {
  const tokens = m.model.cfg.tokens;
  const { tokens: n, dim, numActions } = m.spec;
  const goal = encodeLatents(m.encoder, goalObs, 1, tokens);
  return (obs, remaining) => {
    const s0 = encodeLatents(m.encoder, obs, 1, tokens);
    const cost = (u: Float32Array, count: number) => {
      const acts = actionOneHot(Array.from(u, (v) => toAction(v, a)), numActions, m.blind);
      const dist = tf.tidy(() => {
        const s = tf.tile(tf.tensor4d(s0, [1, 1, n, dim]), [count, 1, 1, 1]) as tf.Tensor4D;
        const all = tf.tensor3d(acts, [count, remaining, numActions]);
        const future = remaining > 1
          ? all.slice([0, 1, 0], [-1, remaining - 1, -1]) as tf.Tensor3D
          : null;
        const pred = rollout(m.model, s, all.slice([0, 0, 0], [-1, 1, -1]), future);
        const last = pred.slice([0, remaining - 1, 0, 0], [-1, 1, -1, -1]).reshape([
          count,
          n * dim,
        ]);
        return tf.mean(tf.abs(tf.sub(last, tf.tensor2d(goal, [1, n * dim]))), 1);
      });
      const out = dist.dataSync();
      dist.dispose();
      return out;
    };
    const result = cem(cost, remaining, cfg, rng);
    return Array.from(result.best, (v) => toAction(v, a));
  };
}

/** Success rates and errors of each planner over the tasks. */
export interface GoalSummary {
  planner: string;
  success: number;
  meanError: number;
  tasks: number;
}

/** Summarises outcomes per planner. */
export function summarizeGoals(outcomes: Record<string, GoalOutcome[]>): GoalSummary[] {
  return Object.entries(outcomes).map(([planner, list]) => ({
    planner,
    success: list.filter((o) => o.success).length / list.length,
    meanError: list.reduce((s, o) => s + o.error, 0) / list.length,
    tasks: list.length,
  }));
}

/** Builds a planner for one task (planners may depend on its goal). */
export type PlannerFactory = (task: GoalTask, index: number) => Planner;

/**
 * Runs every planner on every task; `onTask` sees each outcome as it comes. Returns the outcomes
 * by planner name, in task order.
 */
export function evaluatePlanners(
  envCfg: EnvConfig,
  tasks: GoalTask[],
  planners: Record<string, PlannerFactory>,
  cfg: { horizon: number; tolerance: number; replan: boolean },
  onTask?: (planner: string, index: number, outcome: GoalOutcome) => void,
): Record<string, GoalOutcome[]> {
  const out: Record<string, GoalOutcome[]> = {};
  for (const [name, factory] of Object.entries(planners)) {
    out[name] = tasks.map((task, i) => {
      const outcome = runGoalTask(envCfg, task, factory(task, i), cfg);
      onTask?.(name, i, outcome);
      return outcome;
    });
  }
  return out;
}

/**
 * The standard comparison: CEM on the world model, CEM on the action-blind model, random
 * actions and doing nothing. Each planner draws from its own seeded stream per task.
 */
export function standardPlanners(
  models: { model: LatentPlannerModel; blind?: LatentPlannerModel },
  a: PaddleActions,
  cfg: CemConfig,
  seed: number,
): Record<string, PlannerFactory> {
  const rng = (name: string, i: number) => new Rng(deriveSeed(seed, `${name}/${i}`));
  const planners: Record<string, PlannerFactory> = {
    "world model (CEM)": (task, i) => cemPlanner(models.model, task.goalObs, a, cfg, rng("cem", i)),
  };
  if (models.blind) {
    const blind = models.blind;
    planners["action-blind (CEM)"] = (task, i) =>
      cemPlanner(blind, task.goalObs, a, cfg, rng("blind", i));
  }
  planners.random = (_task, i) => randomPlanner(a, rng("random", i));
  planners["no-op"] = () => (_obs, remaining) => Array(remaining).fill(a.noop);
  return planners;
}
