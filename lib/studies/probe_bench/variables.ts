/**
 * The state variables of the probe benchmark, per game, as AtariARI names and groups them
 * (Anand et al. 2019, `atariari/benchmark/ram_annotations.py` and its category table), read from
 * our ground truth: the native games' `state()`, or on `ale:` games the same keys decoded from RAM
 * at AtariARI's addresses (`lib/envs/ale_state.ts`). Every value is an integer number of pixels
 * or points, so each distinct value is one class of the classifier probe, as each RAM byte value
 * is one class in AtariARI.
 *
 * Positions are in the 160x210 screen's pixels, but the encoders see the frames resized (84x84
 * by default), where two or three screen pixels fall on one: a class per screen pixel would ask
 * for what no frame shows. Position classes are therefore the observation's pixels
 * ({@linkcode classLabels}): AtariARI's "one class per RAM value" at the resolution the encoders
 * get.
 *
 * Other differences from AtariARI, named where they show: Breakout's "blocks hit count" is read as the
 * bricks remaining (the same classes, mirrored); its 30-byte brick bit map is not probed (the
 * native game's state has no per-brick bits); Pong's paddle x positions are constant in our state
 * (they are fixed columns) and are left out.
 *
 * @module
 */

import type { ProbeVariable } from "../../eval/probe.ts";

/** AtariARI's variable categories. */
export type VariableCategory = "agent" | "small object" | "other object" | "score" | "misc";

/** A benchmark variable: the state key, AtariARI's name and category, and where it is defined. */
export interface BenchVariable {
  /** The ground-truth state key. */
  key: string;
  /** AtariARI's name for it. */
  atariari: string;
  category: VariableCategory;
  /** A state key that must be positive for the variable to be defined (the ball in play). */
  when?: string;
  /** A screen position along this axis: classed by the observation's pixels. */
  axis?: "x" | "y";
}

/** The screen every game's positions are measured on (ALE's 160x210). */
export const SCREEN = { width: 160, height: 210 };

const BREAKOUT: BenchVariable[] = [
  { key: "paddleX", atariari: "player_x", category: "agent", axis: "x" },
  { key: "ballX", atariari: "ball_x", category: "small object", when: "ballVisible", axis: "x" },
  { key: "ballY", atariari: "ball_y", category: "small object", when: "ballVisible", axis: "y" },
  { key: "bricksRemaining", atariari: "blocks_hit_count", category: "misc" },
  { key: "score", atariari: "score", category: "score" },
];

const PONG: BenchVariable[] = [
  { key: "playerY", atariari: "player_y", category: "agent", axis: "y" },
  { key: "enemyY", atariari: "enemy_y", category: "other object", axis: "y" },
  { key: "ballX", atariari: "ball_x", category: "small object", when: "ballVisible", axis: "x" },
  { key: "ballY", atariari: "ball_y", category: "small object", when: "ballVisible", axis: "y" },
  { key: "playerScore", atariari: "player_score", category: "score" },
  { key: "enemyScore", atariari: "enemy_score", category: "score" },
];

const GAMES: Record<string, BenchVariable[]> = { breakout: BREAKOUT, pong: PONG };

/** The games the benchmark has variables for. */
export const BENCH_GAMES = Object.keys(GAMES);

/** Whether the benchmark has variables for an env id's game. */
export function hasBenchVariables(envId: string): boolean {
  return envId.split(":").pop()! in GAMES;
}

/**
 * The benchmark variables of an env id (`native:breakout`, `ale:pong`, ...); an error names the
 * id and the games there are.
 */
export function benchVariables(envId: string): BenchVariable[] {
  const game = envId.split(":").pop()!;
  const vars = GAMES[game];
  if (!vars) {
    throw new Error(
      `probe-bench: no benchmark variables for '${envId}' (games: ${BENCH_GAMES.join(", ")})`,
    );
  }
  return vars;
}

/** A benchmark variable as a probe variable (restricted to the rows where it is defined). */
export function probeVariable(v: BenchVariable): ProbeVariable {
  const when = v.when;
  return when ? { name: v.key, when: (state, i) => state[when][i] > 0 } : { name: v.key };
}

/**
 * Checks that a dataset's state has every key the variables read; the error names the dataset
 * and the missing keys.
 */
export function checkStateKeys(path: string, stateKeys: string[], vars: BenchVariable[]): void {
  const missing = [...new Set(vars.flatMap((v) => (v.when ? [v.key, v.when] : [v.key])))]
    .filter((k) => !stateKeys.includes(k));
  if (missing.length) {
    throw new Error(
      `${path}: the dataset has no ground-truth state '${missing.join("', '")}' ` +
        `(it has: ${stateKeys.join(", ") || "none"}); the probe benchmark needs labelled frames`,
    );
  }
}

/**
 * The class labels of a state sample for frames of `frameShape` `[h, w, c]`: positions as the
 * observation pixel they fall on (`floor(v * w / 160)` along x, `floor(v * h / 210)` along y),
 * every other variable as it is. Returns new arrays; keys the variables do not name are kept.
 */
export function classLabels(
  state: Record<string, Float64Array>,
  vars: BenchVariable[],
  frameShape: readonly number[],
): Record<string, Float64Array> {
  const out = { ...state };
  for (const v of vars) {
    if (!v.axis) continue;
    const scale = axisScale(v.axis, frameShape);
    out[v.key] = state[v.key].map((x) => Math.floor(x * scale));
  }
  return out;
}

/** Observation pixels per screen pixel along `axis`, for frames of `frameShape` `[h, w, c]`. */
export function axisScale(axis: "x" | "y", frameShape: readonly number[]): number {
  const [h, w] = frameShape;
  return axis === "x" ? w / SCREEN.width : h / SCREEN.height;
}
