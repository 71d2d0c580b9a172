/**
 * The DQN study (`deno task dqn`, part 1 of the user's Genie-like system): DQN on Breakout with
 * the seed project's exploration modes (Boltzmann + prioritized replay, RND) and epsilon-greedy
 * as the reference, over seeds, against random play through the same wrappers; returns, greedy
 * play and state coverage.
 *
 * Files: `presets.ts` (the config), `coverage.ts` (state coverage), `study.ts` (the runs),
 * `report.ts`.
 *
 * @module
 */

export {
  checkDqnStudyConfig,
  DQN_PRESETS,
  type DqnStudyConfig,
  EXPLORATION_MODES,
  type ExplorationMode,
  runConfig,
} from "./presets.ts";
export { Coverage, type CoverageSnapshot, type CoverageSummary } from "./coverage.ts";
export {
  dqnRunName,
  type DqnRunResult,
  type DqnStudyResult,
  type MemoryAfterFill,
  memoryAfterFill,
  randomRun,
  runDqnStudy,
  trainingReturns,
} from "./study.ts";
export {
  bestGameGif,
  coverageFigure,
  dqnMarkdown,
  heatmapsFigure,
  returnsFigure,
  writeDqnReport,
} from "./report.ts";
