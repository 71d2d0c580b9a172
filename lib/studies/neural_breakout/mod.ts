/**
 * The neural-Breakout study (`deno task latent-action`, part 2 of the user's Genie-like system):
 * a latent-action world model learned from videos of play, evaluated as the seed and Genie
 * evaluate it (next-frame PSNR beside copy-last, codebook use, controllability).
 *
 * Files: `presets.ts` (the config), `study.ts` (training and evaluation), `mapping.ts` (the
 * action -> latent mapping), `controls.ts` (do LEFT and RIGHT move the paddle in the model),
 * `play.ts` (the world model as a game), `human_play.ts` (the native
 * game beside it, recorded as Atari-HEAD trials), `serve.ts` (the browser page), `report.ts`.
 *
 * @module
 */

export {
  checkNeuralBreakoutConfig,
  NEURAL_BREAKOUT_PRESETS,
  type NeuralBreakoutConfig,
} from "./presets.ts";
export {
  type FinishedRun,
  loadFinishedRun,
  type NeuralBreakoutMetrics,
  type NeuralBreakoutResult,
  openForModel,
  runNeuralBreakoutStudy,
} from "./study.ts";
export {
  actionLatentMapping,
  type ActionMapping,
  codesForActions,
  MAPPING_FILE,
  type MappingResult,
  readActionMapping,
  writeActionMapping,
} from "./mapping.ts";
export { type ControlCheck, controlCheck, paddleX } from "./controls.ts";
export { NeuralGame, randomPlayGif, startStack } from "./play.ts";
export { PLAY_KEYS, servePlay } from "./serve.ts";
export { HumanSession } from "./human_play.ts";
export {
  mappingMarkdown,
  neuralMarkdown,
  rolloutFigure,
  rolloutGif,
  writeNeuralReport,
} from "./report.ts";
