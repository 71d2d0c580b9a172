/**
 * The world-model phases of the pipeline (lib/pipeline/pipeline.ts), after `probe`:
 *
 *   worldmodel  its own dataset (scripted play with held random actions), V-JEPA stage 1, stage 2
 *               with its action-blind control and pixel decoder, and their evaluation
 *               (lib/studies/world_model/study.ts), under `<run>/worldmodel/{dataset,stage1,stage2}`
 *   plan        CEM planning toward goal frames with that world model vs the action-blind model,
 *               random and no-op (lib/studies/world_model/plan.ts), under `<run>/plan`
 *
 * Their config slices are the presets of `deno task worldmodel` / `deno task plan` without their
 * seeds: the pipeline's one seed drives every phase. Both measure Breakout's paddle, so only a
 * Breakout env (native or ALE) gets them.
 *
 * @module
 */

import { join } from "node:path";
import { recordPath } from "../run/run_dir.ts";
import type { OnStep, StepEvent } from "../run/progress.ts";
import { type EnvConfig, parseEnvId } from "../envs/make.ts";
import type { GoalTaskConfig, PlannerConfig } from "../plan/goal.ts";
import { runPlanStudy } from "../studies/world_model/mod.ts";
import type { PresetName } from "../run/config.ts";
import type { PretrainConfig } from "../train/pretrain.ts";
import type { DecoderTrainConfig, WorldModelTrainConfig } from "../train/world_model.ts";
import {
  runStage1,
  runStage2,
  stage1RunConfig,
  stage2RunConfig,
  worldModelDataset,
  worldModelEnv,
} from "../studies/world_model/mod.ts";
import {
  PLAN_PRESETS,
  type PlanTaskConfig,
  WORLDMODEL_PRESETS,
  type WorldModelData,
  type WorldModelEval,
  type WorldModelTaskConfig,
} from "../studies/world_model/mod.ts";
import { phaseRun } from "./phase_run.ts";
import type { Phase } from "./runner.ts";

/** The `worldmodel` slice of a pipeline config: `deno task worldmodel`'s, without seeds. */
export interface PipelineWorldModelConfig {
  data: Omit<WorldModelData, "seed">;
  /** Stage 1 is always the `vjepa` method. */
  stage1: Omit<PretrainConfig, "seed" | "method">;
  stage2: Omit<WorldModelTrainConfig, "seed">;
  decoder: Omit<DecoderTrainConfig, "seed">;
  eval: Omit<WorldModelEval, "seed">;
}

/** The `plan` slice of a pipeline config: `deno task plan`'s, without its seed. */
export interface PipelinePlanConfig {
  goal: Omit<GoalTaskConfig, "seed">;
  planner: PlannerConfig;
}

function omitSeed<T extends { seed: number }>({ seed: _seed, ...rest }: T): Omit<T, "seed"> {
  return rest;
}

/** The world-model and planning slices of preset `name`. */
export function worldModelSlices(
  name: PresetName,
): { worldmodel: PipelineWorldModelConfig; plan: PipelinePlanConfig } {
  const wm = WORLDMODEL_PRESETS[name];
  const { method: _method, ...stage1 } = omitSeed(wm.stage1);
  return {
    worldmodel: {
      data: omitSeed(wm.data),
      stage1,
      stage2: omitSeed(wm.stage2),
      decoder: omitSeed(wm.decoder),
      eval: omitSeed(wm.eval),
    },
    plan: { goal: omitSeed(PLAN_PRESETS[name].goal), planner: PLAN_PRESETS[name].planner },
  };
}

/** `deno task worldmodel`'s config for a slice, every seed set to `seed`. */
export function worldModelTaskConfig(
  cfg: PipelineWorldModelConfig,
  seed: number,
): WorldModelTaskConfig {
  return {
    data: { seed, ...cfg.data },
    stage1: { seed, method: "vjepa", ...cfg.stage1 },
    stage2: { seed, ...cfg.stage2 },
    decoder: { seed, ...cfg.decoder },
    eval: { seed, ...cfg.eval },
  };
}

/** `deno task plan`'s config for a slice, its seed set to `seed`. */
export function planTaskConfig(cfg: PipelinePlanConfig, seed: number): PlanTaskConfig {
  return { goal: { seed, ...cfg.goal }, planner: cfg.planner };
}

/** Whether the world-model phases apply to an env: they probe and steer Breakout's paddle. */
export function hasWorldModel(envId: string): boolean {
  return parseEnvId(envId).game === "breakout";
}

/** The env the `worldmodel` phase collects its dataset from. */
export function pipelineWorldModelEnv(
  cfg: PipelineWorldModelConfig,
  common: { seed: number; env: string },
): EnvConfig {
  return worldModelEnv(worldModelTaskConfig(cfg, common.seed), common.env);
}

/** The `worldmodel` and `plan` phases; `common` is the seed and env every phase's key covers. */
export function worldModelPhases(
  common: { seed: number; env: string },
  cfg: { worldmodel: PipelineWorldModelConfig; plan: PipelinePlanConfig },
  onStep?: OnStep,
): Phase[] {
  const hooks = {
    onStep: onStep && ((e: StepEvent) => onStep({ ...e, loop: `worldmodel ${e.loop}` })),
  };
  return [
    {
      name: "worldmodel",
      needs: [],
      inputs: { ...common, worldmodel: cfg.worldmodel },
      async run(ctx) {
        const wm = worldModelTaskConfig(cfg.worldmodel, common.seed);
        const data = await worldModelDataset(wm, join(ctx.dir, "dataset"), {
          envId: common.env,
          log: ctx.log,
          ...hooks,
        });
        // Each stage resumes from its checkpoints; a finished model trains no further.
        const run1 = await phaseRun(ctx, stage1RunConfig(wm), { sub: "stage1" });
        const stage1 = await runStage1(run1, wm, data, { resume: ctx.resume }, hooks);
        const encoderDir = run1.path("checkpoints");
        const run2 = await phaseRun(ctx, stage2RunConfig(wm, encoderDir, join(ctx.dir, "stage2")), {
          sub: "stage2",
        });
        const stage2 = await runStage2(run2, wm, data, { encoderDir, resume: ctx.resume }, hooks);
        return {
          dataset: recordPath(ctx.runDir, data.dir),
          frames: data.ds.numFrames,
          stage1: recordPath(ctx.runDir, run1.dir),
          stage2: recordPath(ctx.runDir, run2.dir),
          paddleProbeR2: stage1.paddleProbeR2.vjepa,
          rightWay: {
            model: stage2.sensitivity.model.correct,
            blind: stage2.sensitivity.blind?.correct ?? null,
          },
        };
      },
    },
    {
      name: "plan",
      needs: ["worldmodel"],
      inputs: { ...common, plan: cfg.plan },
      async run(ctx) {
        // The evaluation has no checkpoints: a resumed plan phase starts over.
        const plan = planTaskConfig(cfg.plan, common.seed);
        const run = await phaseRun(ctx, plan, { fresh: true });
        const stage2 = join(ctx.runDir, "worldmodel", "stage2");
        const results = await runPlanStudy(run, plan, stage2, {
          onStep,
        });
        return { success: Object.fromEntries(results.summary.map((s) => [s.planner, s.success])) };
      },
    },
  ];
}
