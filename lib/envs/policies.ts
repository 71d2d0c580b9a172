/**
 * Behaviour policies for data collection and fidelity checks: uniform random play, and a
 * scripted ball tracker that reads the ground-truth state (longer, more varied episodes than
 * random play, with the whole screen visited).
 *
 * @module
 */

import type { Rng } from "../tensor/rng.ts";
import type { EnvSpec, StepInfo } from "./types.ts";

/** Chooses an action from the latest info (observations are not needed by these policies). */
export type Policy = (info: StepInfo) => number;

/** The policy names `makePolicy` accepts. */
export const POLICY_NAMES = ["random", "scripted"] as const;
/** One of {@linkcode POLICY_NAMES}. */
export type PolicyName = typeof POLICY_NAMES[number];

/** Uniform over the action set. */
export function randomPolicy(spec: EnvSpec, rng: Rng): Policy {
  const n = spec.actionMeanings.length;
  return () => rng.int(n);
}

function actionId(spec: EnvSpec, meaning: string): number {
  const id = spec.actionMeanings.indexOf(meaning);
  if (id < 0) throw new Error(`${spec.id} has no ${meaning} action (${spec.actionMeanings})`);
  return id;
}

/**
 * Moves the paddle to where the ball will arrive (straight-line flight with wall bounces) and
 * serves when no ball is in play; with probability
 * `epsilon` it acts at random instead, and it aims at a random offset on the paddle that is
 * redrawn now and then, so rallies do not repeat exactly.
 */
export function ballTrackingPolicy(spec: EnvSpec, rng: Rng, epsilon = 0.1): Policy {
  const game = spec.id.split(":").pop();
  const random = randomPolicy(spec, rng);
  const fire = actionId(spec, "FIRE");
  // In ALE's Breakout RIGHT moves the paddle right; in Pong RIGHT moves it up.
  const increase = actionId(spec, game === "pong" ? "LEFT" : "RIGHT");
  const decrease = actionId(spec, game === "pong" ? "RIGHT" : "LEFT");
  const noop = actionId(spec, "NOOP");
  let aim = 0;
  return (info) => {
    if (rng.float() < epsilon) return random(info);
    if (rng.float() < 0.02) aim = rng.uniform(-0.35, 0.35);
    const s = info.state;
    if (!s.ballVisible) return fire;
    let target: number;
    let paddle: number;
    let size: number;
    if (game === "pong") {
      // Aim where the ball will cross the player's paddle column, bouncing off the borders.
      target = s.ballDx > 0
        ? landing(s.ballY, s.ballDy, (PONG_PADDLE_X - s.ballX) / s.ballDx, PONG_FIELD)
        : s.ballY;
      target += 2;
      size = 16;
      paddle = s.playerY + size / 2;
    } else {
      // Aim where the falling ball will reach the paddle row, bouncing off the side walls.
      target = s.ballDy > 0
        ? landing(s.ballX, s.ballDx, (BREAKOUT_PADDLE_Y - s.ballY) / s.ballDy, BREAKOUT_FIELD)
        : s.ballX;
      target += 1;
      size = s.paddleWidth;
      paddle = s.paddleX + size / 2;
    }
    const diff = target - (paddle + aim * size);
    if (diff > 2) return increase;
    if (diff < -2) return decrease;
    return noop;
  };
}

const BREAKOUT_PADDLE_Y = 189;
const BREAKOUT_FIELD: [number, number] = [8, 150];
const PONG_PADDLE_X = 140;
const PONG_FIELD: [number, number] = [34, 190];

/** Position after `frames` frames of constant velocity, reflected inside [lo, hi]. */
function landing(pos: number, vel: number, frames: number, [lo, hi]: [number, number]): number {
  const span = hi - lo;
  let p = (pos + vel * Math.max(0, frames) - lo) % (2 * span);
  if (p < 0) p += 2 * span;
  return lo + (p > span ? 2 * span - p : p);
}

/** A policy by name. */
export function makePolicy(name: string, spec: EnvSpec, rng: Rng): Policy {
  if (name === "random") return randomPolicy(spec, rng);
  if (name === "scripted") return ballTrackingPolicy(spec, rng);
  throw new Error(`unknown policy '${name}' (valid: ${POLICY_NAMES.join(", ")})`);
}
