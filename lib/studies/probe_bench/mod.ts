/**
 * The probe benchmark (`deno task probe-bench`, notebook 07): AtariARI's protocol (Anand et al.
 * 2019) on our games: frames from a mix of random and competent play, every encoder (majority
 * class, random CNN and ViT, raw pixels, the pixel autoencoder, ST-DIM, I-JEPA and its recipe
 * ablations, V-JEPA stage 1, the VICReg JEPA, and a supervised ceiling) made on the same
 * training games and probed for the state variables on held-out games, over several seeds.
 *
 * Files: `variables.ts` (the variables per game), `presets.ts`, `encoders.ts` (making each
 * encoder), `study.ts` (the run), `report.ts` (tables, goals, figure).
 *
 * @module
 */

export {
  BENCH_ENCODERS,
  type BenchEncoder,
  checkBenchConfig,
  CLASSIFIER_SCHEDULE,
  type IjepaAblation,
  PROBE_BENCH_PRESETS,
  type ProbeBenchConfig,
} from "./presets.ts";
export { ablatedIjepa, encoderSpec, ijepaRows, makeEncoder } from "./encoders.ts";
export {
  type BenchProbeContext,
  type BenchRow,
  benchRows,
  type DatasetForSeed,
  encoderKey,
  type EncoderRow,
  type KeyInputs,
  majorityRows,
  oracleRows,
  rowsFile,
  rowsKey,
  runProbeBench,
} from "./study.ts";
export {
  ablationMarkdown,
  benchFigureSvg,
  benchMarkdown,
  type EncoderSummary,
  f1Tables,
  goalLines,
  pairedDifference,
  spread,
  summarize,
  writeBenchReport,
} from "./report.ts";
export {
  BENCH_GAMES,
  type BenchVariable,
  benchVariables,
  checkStateKeys,
  hasBenchVariables,
} from "./variables.ts";
