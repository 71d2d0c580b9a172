/**
 * The DQN study's config: which exploration modes and seeds, the DQN hyper-parameters every run
 * shares (each mode's schedule on top), the greedy evaluation and the coverage grid; presets
 * smoke (seconds), small (CPU-sized, about 45 minutes a run) and full (CleanRL's Atari settings,
 * meant for a GPU).
 *
 * @module
 */

import { CLEANRL_ATARI } from "../../envs/make.ts";
import { checkDqnConfig, DQN_ATARI, type DqnConfig, type ExplorationConfig } from "../../rl/dqn.ts";
import type { Presets } from "../../run/config.ts";

/** The exploration modes of the seed project, and epsilon-greedy as the reference. */
export const EXPLORATION_MODES = ["boltzmann", "rnd", "epsilon"] as const;
export type ExplorationMode = typeof EXPLORATION_MODES[number];

/** A mode's schedule: epsilon (epsilon, rnd) or temperature (boltzmann) from start to end. */
export type Schedule = Pick<ExplorationConfig, "start" | "end" | "fraction">;

/** Everything that defines a DQN study run. */
export interface DqnStudyConfig {
  modes: ExplorationMode[];
  seeds: number[];
  /** The hyper-parameters of every run (`seed` and `exploration.mode` are set per run). */
  dqn: DqnConfig;
  schedules: Record<ExplorationMode, Schedule>;
  /** The headline number: the mean return of each run's last this many training games. */
  lastGames: number;
  /** Greedy play of each trained agent (a random action at `epsilon`) on seeded whole games. */
  eval: { games: number; seed: number; epsilon: number; maxEpisodeSteps: number };
  /** Coverage: the screen cut in `cell`-pixel squares (ball) and columns (paddle). */
  coverage: { cell: number };
  /** Steps of the GIF of the best agent's game. */
  report: { gifSteps: number };
}

const SCHEDULES: Record<ExplorationMode, Schedule> = {
  epsilon: { start: 1, end: 0.01, fraction: 0.1 },
  rnd: { start: 1, end: 0.01, fraction: 0.1 },
  // Temperatures in units of Q (clipped rewards: Q is of order 1).
  boltzmann: { start: 1, end: 0.01, fraction: 0.1 },
};

const half = {
  kind: "cnn" as const,
  hidden: 256,
  widths: [16, 32, 32] as [number, number, number],
};

export const DQN_PRESETS: Presets<DqnStudyConfig> = {
  smoke: {
    modes: [...EXPLORATION_MODES],
    seeds: [0],
    dqn: {
      ...DQN_ATARI,
      env: { ...CLEANRL_ATARI, maxEpisodeSteps: 400 },
      totalSteps: 800,
      bufferSize: 2000,
      learningStarts: 200,
      targetUpdateEvery: 200,
      network: { ...half, hidden: 64 },
      exploration: { ...DQN_ATARI.exploration, rnd: { ...DQN_ATARI.exploration.rnd, width: 64 } },
      checkpointEvery: 400,
      logEvery: 100,
    },
    schedules: { ...SCHEDULES, epsilon: { ...SCHEDULES.epsilon, fraction: 0.5 } },
    lastGames: 100,
    eval: { games: 2, seed: 100, epsilon: 0.05, maxEpisodeSteps: 200 },
    coverage: { cell: 8 },
    report: { gifSteps: 60 },
  },
  small: {
    modes: [...EXPLORATION_MODES],
    seeds: [0, 1, 2],
    dqn: {
      ...DQN_ATARI,
      totalSteps: 100_000,
      bufferSize: 100_000,
      learningStarts: 5000,
      lr: 2.5e-4,
      network: half,
      exploration: { ...DQN_ATARI.exploration, rnd: { ...DQN_ATARI.exploration.rnd, width: 256 } },
      checkpointEvery: 10_000,
      logEvery: 1000,
    },
    schedules: {
      epsilon: { ...SCHEDULES.epsilon, fraction: 0.2 },
      rnd: { ...SCHEDULES.rnd, fraction: 0.2 },
      boltzmann: { ...SCHEDULES.boltzmann, fraction: 0.2 },
    },
    lastGames: 100,
    eval: { games: 10, seed: 100, epsilon: 0.05, maxEpisodeSteps: 5000 },
    coverage: { cell: 8 },
    report: { gifSteps: 400 },
  },
  full: {
    modes: [...EXPLORATION_MODES],
    seeds: [0, 1, 2],
    dqn: DQN_ATARI,
    schedules: SCHEDULES,
    lastGames: 100,
    eval: { games: 30, seed: 100, epsilon: 0.05, maxEpisodeSteps: 27_000 },
    coverage: { cell: 8 },
    report: { gifSteps: 600 },
  },
};

/** The DQN config of one run of the study. */
export function runConfig(cfg: DqnStudyConfig, mode: ExplorationMode, seed: number): DqnConfig {
  return {
    ...cfg.dqn,
    seed,
    exploration: { ...cfg.dqn.exploration, mode, ...cfg.schedules[mode] },
  };
}

/** Checks a study config before anything runs; the error names the field. */
export function checkDqnStudyConfig(cfg: DqnStudyConfig): void {
  if (cfg.modes.length === 0) throw new Error("modes: name at least one exploration mode");
  for (const m of cfg.modes) {
    if (!EXPLORATION_MODES.includes(m)) {
      throw new Error(`modes: '${m}' is not one of ${EXPLORATION_MODES.join(", ")}`);
    }
  }
  if (cfg.seeds.length === 0 || !cfg.seeds.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new Error(`seeds: integers >= 0, at least one, got ${JSON.stringify(cfg.seeds)}`);
  }
  for (const m of cfg.modes) checkDqnConfig(runConfig(cfg, m, cfg.seeds[0]));
  if (!(Number.isInteger(cfg.lastGames) && cfg.lastGames >= 1)) {
    throw new Error(`lastGames must be an integer >= 1, got ${cfg.lastGames}`);
  }
  if (!(cfg.eval.epsilon >= 0 && cfg.eval.epsilon <= 1)) {
    throw new Error(`eval.epsilon must be in [0, 1], got ${cfg.eval.epsilon}`);
  }
  if (!(Number.isInteger(cfg.coverage.cell) && cfg.coverage.cell >= 1)) {
    throw new Error(`coverage.cell must be an integer >= 1, got ${cfg.coverage.cell}`);
  }
}
