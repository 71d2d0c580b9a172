/**
 * The frame-to-action study (`deno task bc`, the user's first system): behaviour cloning with
 * the frame-to-action JEPA (`lib/models/action_jepa.ts`) on Atari-HEAD-format demonstrations,
 * every model variant against the softmax baseline, the majority class, the action prior, the
 * demonstrator and random play.
 *
 * Files: `presets.ts` (the config and the variants), `study.ts` (the run), `report.ts`.
 *
 * @module
 */

export {
  BC_PRESETS,
  BC_VARIANTS,
  type BcStudyConfig,
  type BcVariant,
  checkBcStudyConfig,
  variantModel,
} from "./presets.ts";
export { type BcBaselines, type BcRow, type BcStudyResult, runBcStudy } from "./study.ts";
export { bcFigureSvg, bcMarkdown, writeBcReport } from "./report.ts";
