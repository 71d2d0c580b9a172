/**
 * The world-model study (`deno task worldmodel`, `deno task plan`, notebooks 03 and 04): a
 * V-JEPA 2-style encoder (stage 1), an action-conditioned predictor with its action-blind
 * control (stage 2) and a pixel decoder, evaluated by rollout error, action sensitivity and
 * probes; then CEM planning toward goal frames in its latent space.
 *
 * Files: `presets.ts` (the study's config), `study.ts` (its dataset and both stages),
 * `plan.ts` (planning), `figures.ts`, `report.ts` (the markdown of both, figures placed).
 *
 * @module
 */

export {
  PLAN_PRESETS,
  type PlanTaskConfig,
  WORLDMODEL_PRESETS,
  type WorldModelData,
  type WorldModelEval,
  type WorldModelTaskConfig,
} from "./presets.ts";
export { runPlanStudy } from "./plan.ts";
export { worldModelReportItems } from "./report.ts";
export {
  runStage1,
  runStage2,
  stage1RunConfig,
  stage2RunConfig,
  type StudyHooks,
  worldModelCollectConfig,
  type WorldModelDataset,
  worldModelDataset,
  worldModelEnv,
} from "./study.ts";
export { filmStripGif, planningFrames, rolloutErrorFigure, successFigure } from "./figures.ts";
