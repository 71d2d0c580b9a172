/**
 * The planning evaluation of a stage-2 world model, run into a run directory; shared by
 * `deno task plan` and the pipeline's `plan` phase. On Breakout goal-reaching tasks (bring the
 * paddle to where a real goal frame shows it within H steps), CEM on the world model against
 * CEM on its action-blind control, random actions and no-op. Writes one metric record per
 * (planner, task), `plan.json`, `PLAN.md`, `figures/success.svg` and `figures/planning.gif`.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openDataset } from "../../data/reader.ts";
import { type EnvConfig, makeEnv } from "../../envs/make.ts";
import { encodeGif } from "../../viz/gif.ts";
import { planFigureTitle, planMarkdown, type PlanResults, type Stage2Results } from "./report.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import { resolveRecordPath, type RunDir } from "../../run/run_dir.ts";
import type { OnStep } from "../../run/progress.ts";
import { evaluatedCheckpoint } from "../../train/loop.ts";
import { loadEncoder } from "../../models/encoder.ts";
import { loadWorldModel } from "../../train/world_model.ts";
import type { PlanTaskConfig } from "./presets.ts";
import {
  drawGoalTasks,
  evaluatePlanners,
  paddleActions,
  standardPlanners,
  summarizeGoals,
} from "../../plan/goal.ts";
import { planningFrames, successFigure } from "./figures.ts";

/** Progress of the evaluation. */
export interface PlanStudyHooks {
  /** Each planned task, as loop "plan" over all (tasks x planners); values: its `error`. */
  onStep?: OnStep;
}

/**
 * Evaluates the planners with the world model of the stage-2 run in `stage2Dir` (its
 * `results.json` names the dataset and the frozen encoder; its checkpoints hold both models)
 * and writes the files listed in the module doc into `run`.
 */
export async function runPlanStudy(
  run: RunDir,
  cfg: PlanTaskConfig,
  stage2Dir: string,
  hooks: PlanStudyHooks = {},
): Promise<PlanResults> {
  const stage2 = JSON.parse(
    readFileSync(join(stage2Dir, "results.json"), "utf8"),
  ) as Stage2Results;
  const ds = await openDataset(resolveRecordPath(stage2Dir, stage2.dataset));
  const { encoder } = loadEncoder(resolveRecordPath(stage2Dir, stage2.encoderCheckpoint));
  const stack = encoder.cfg.channels / ds.frameShape[2];
  const envCfg: EnvConfig = { ...(ds.manifest.meta.envConfig as EnvConfig), frameStack: stack };
  const model = loadWorldModel(evaluatedCheckpoint(join(stage2Dir, "checkpoints", "world-model")));
  const blind = loadWorldModel(evaluatedCheckpoint(join(stage2Dir, "checkpoints", "blind")));
  const env = makeEnv(envCfg);
  const actions = paddleActions(env);
  env.close();

  const start = performance.now();
  const tasks = drawGoalTasks(envCfg, cfg.goal);
  run.log(
    `${tasks.length} tasks; mean |goal - start| ${
      (tasks.reduce((s, t) => s + Math.abs(t.goalX - t.startX), 0) / tasks.length).toFixed(1)
    } px`,
  );
  const planners = standardPlanners(
    {
      model: { encoder, model: model.model, spec: model.model.spec, blind: false },
      blind: { encoder, model: blind.model, spec: blind.model.spec, blind: true },
    },
    actions,
    cfg.planner,
    cfg.goal.seed,
  );
  const total = tasks.length * Object.keys(planners).length;
  let done = 0;
  const outcomes = evaluatePlanners(envCfg, tasks, planners, {
    ...cfg.goal,
    replan: cfg.planner.replan,
  }, (planner, i, o) => {
    run.metric({
      planner,
      task: i,
      startX: tasks[i].startX,
      goalX: tasks[i].goalX,
      finalX: o.finalX,
      error: o.error,
      success: o.success,
    });
    hooks.onStep?.({ loop: "plan", step: ++done, total, values: { error: o.error } });
  });
  const summary = summarizeGoals(outcomes);
  const seconds = (performance.now() - start) / 1000;
  for (const s of summary) {
    run.log(
      `${s.planner}: success ${(100 * s.success).toFixed(0)}%, mean error ${
        s.meanError.toFixed(1)
      } px`,
    );
  }
  const [h, w] = ds.frameShape;
  const film = planningFrames(
    tasks[0].goalObs,
    outcomes["world model (CEM)"][0].frames,
    [h, w],
    stack,
  );
  await Deno.writeFile(
    run.path("figures", "planning.gif"),
    encodeGif(film.frames, film.width, film.height, 1, { delayMs: 400 }),
  );
  await writeFileAtomic(
    run.path("figures", "success.svg"),
    successFigure(summary, planFigureTitle(cfg)),
  );
  const results: PlanResults = { config: cfg, summary, seconds };
  await writeFileAtomic(run.path("plan.json"), JSON.stringify(results, null, 1) + "\n");
  await writeFileAtomic(run.path("PLAN.md"), planMarkdown(results, tasks.length));
  await run.finish();
  return results;
}
