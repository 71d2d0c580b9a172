/**
 * The VICReg study (`deno task vicreg`): a VICReg JEPA, its EMA-only ablation and a pixel
 * next-frame model trained on the same transitions (`lib/train/transition.ts`), compared on
 * next-step prediction against copying, collapse statistics and probes of their encoders.
 *
 * Files: `presets.ts` (the study's config), `study.ts` (the run and its report).
 *
 * @module
 */

export { VICREG_PRESETS, type VicregTaskConfig } from "./presets.ts";
export { writeTransitionStudy } from "./study.ts";
