/**
 * The neural-Breakout study (`deno task latent-action`, part 2 of the user's Genie-like system):
 * a latent-action world model learned from videos of play, evaluated as the seed and Genie
 * evaluate it (next-frame PSNR beside copy-last, codebook use, controllability).
 *
 * Files: `presets.ts` (the config), `study.ts` (training and evaluation), `mapping.ts` (the
 * action -> latent mapping), `report.ts`.
 *
 * @module
 */

export {
  checkNeuralBreakoutConfig,
  NEURAL_BREAKOUT_PRESETS,
  type NeuralBreakoutConfig,
} from "./presets.ts";
export {
  type NeuralBreakoutMetrics,
  type NeuralBreakoutResult,
  runNeuralBreakoutStudy,
} from "./study.ts";
export { actionLatentMapping, type MappingResult } from "./mapping.ts";
export { neuralMarkdown, rolloutFigure, rolloutGif, writeNeuralReport } from "./report.ts";
