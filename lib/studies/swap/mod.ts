/**
 * The encoder-swap study (`deno task swap`, notebook 05): PPO agents whose encoder is a CNN
 * trained end to end, a frozen or fine-tuned JEPA, a frozen autoencoder or a frozen random
 * encoder, each evaluated at five visual perturbation levels; the robustness ratio and the
 * published study's numbers beside ours.
 *
 * Files: `grid.ts` (config, presets, the grid of runs and evaluations), `report.ts` (its
 * `ROBUSTNESS.md` and figures), `section.ts` (its section of a pipeline run's report).
 *
 * @module
 */

export {
  checkSwapConfig,
  ensureEncoders,
  gridRuns,
  gridStatus,
  recordFailure,
  type RunEvaluation,
  type RunFailure,
  runName,
  type RunStatus,
  runSwap,
  SWAP_CONDITIONS,
  SWAP_PRESETS,
  type SwapConfig,
} from "./grid.ts";
export { writeSwapReport } from "./report.ts";
export { swapReportItems } from "./section.ts";
