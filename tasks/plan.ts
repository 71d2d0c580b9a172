/**
 * `deno task plan`: latent planning with the stage-2 world model on a Breakout goal-reaching
 * task (bring the paddle to where a goal frame shows it within H steps): CEM on the world model
 * against CEM on the action-blind model, random actions and doing nothing.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { openDataset } from "../lib/data/dataset.ts";
import type { EnvConfig } from "../lib/envs/make.ts";
import { makeEnv } from "../lib/envs/make.ts";
import {
  drawGoalTasks,
  evaluatePlanners,
  paddleActions,
  planningFrames,
  standardPlanners,
  successFigure,
  summarizeGoals,
} from "../lib/plan/goal.ts";
import { encodeGif } from "../lib/report/gif.ts";
import { writeFileAtomic } from "../lib/run/atomic.ts";
import { RunDir, type RunDirOptions } from "../lib/run/run_dir.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { evaluatedCheckpoint } from "../lib/train/loop.ts";
import { loadPretrainedEncoder } from "../lib/train/pretrain.ts";
import { loadWorldModel } from "../lib/train/world_model.ts";
import { PLAN_PRESETS } from "../lib/train/worldmodel_presets.ts";
import { parseTaskArgs, runTask, UsageError } from "./cli.ts";

/** Opens a run directory; a clash with an existing run is a user mistake, not a crash. */
async function openRun(opts: RunDirOptions): Promise<RunDir> {
  try {
    return await RunDir.open(opts);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

const spec = {
  name: "plan",
  summary: "Latent planning with the world model of `deno task worldmodel --stage 2`: on a " +
    "Breakout goal-reaching task (from a state reached by play, bring the paddle to where a real " +
    "goal frame shows it within H steps; success within a tolerance in pixels), the cross-" +
    "entropy method over action sequences scored by the L1 distance of the predicted latent to " +
    "the goal's, against the same planner on the action-blind model, random actions and no-op. " +
    "Writes <out>/plan/ (config, log, per-task metrics, PLAN.md, success figure, a GIF).",
  presets: PLAN_PRESETS,
  flags: {
    tasks: { key: "goal.tasks", help: "goal-reaching tasks to draw" },
    horizon: { key: "goal.horizon", help: "steps to reach the goal (H)" },
    samples: { key: "planner.samples", help: "CEM samples per iteration" },
    iterations: { key: "planner.iterations", help: "CEM iterations" },
    elites: { key: "planner.elites", help: "CEM elites" },
  },
  options: {
    out: "the worldmodel run directory holding stage2/ (default results/worldmodel-<preset>)",
    backend: "tfjs backend: auto | tensorflow | webgpu | wasm | cpu (default JEPA_BACKEND or auto)",
  },
  switches: { resume: "reuse <out>/plan/ if it exists (the evaluation itself is re-run)" },
  examples: [
    "deno task plan --preset smoke --out results/wm-smoke",
    "deno task plan --preset small --out results/wm-small --samples 256 --iterations 10",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { config, options, switches, preset } = parseTaskArgs(spec);
    const out = options.out ?? join("results", `worldmodel-${preset}`);
    const stage2 = join(out, "stage2");
    const resultsFile = join(stage2, "results.json");
    if (!existsSync(resultsFile)) {
      throw new UsageError(
        `${resultsFile} is missing: run deno task worldmodel --stage 2 --out ${out} first`,
      );
    }
    const backend = await initBackend({ backend: options.backend as "auto" | undefined });
    const run = await openRun({
      task: "plan",
      config,
      dir: join(out, "plan"),
      resume: switches.resume,
      echo: (l) => console.error(l),
    });
    run.log(`backend ${backend.backend}; world model from ${stage2}`);
    const stage2Results = JSON.parse(readFileSync(resultsFile, "utf8"));
    const ds = await openDataset(stage2Results.dataset);
    const { encoder } = loadPretrainedEncoder(stage2Results.encoderCheckpoint);
    const stack = encoder.cfg.channels / ds.frameShape[2];
    const envCfg: EnvConfig = { ...(ds.manifest.meta.envConfig as EnvConfig), frameStack: stack };
    const model = loadWorldModel(evaluatedCheckpoint(join(stage2, "checkpoints", "world-model")));
    const blind = loadWorldModel(evaluatedCheckpoint(join(stage2, "checkpoints", "blind")));
    const latentSpec = model.model.spec;
    const actions = paddleActions(makeEnv(envCfg));

    const start = performance.now();
    const tasks = drawGoalTasks(envCfg, config.goal);
    run.log(
      `${tasks.length} tasks; mean |goal - start| ${
        (tasks.reduce((s, t) => s + Math.abs(t.goalX - t.startX), 0) / tasks.length).toFixed(1)
      } px`,
    );
    const planners = standardPlanners(
      {
        model: { encoder, model: model.model, spec: latentSpec, blind: false },
        blind: { encoder, model: blind.model, spec: blind.model.spec, blind: true },
      },
      actions,
      config.planner,
      config.goal.seed,
    );
    const outcomes = evaluatePlanners(envCfg, tasks, planners, {
      ...config.goal,
      replan: config.planner.replan,
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
      successFigure(
        summary,
        `Goal reaching in ${config.goal.horizon} steps (within ${config.goal.tolerance} px)`,
      ),
    );
    await writeFileAtomic(
      run.path("plan.json"),
      JSON.stringify({ config, summary, seconds }, null, 1) + "\n",
    );
    const g = config.goal;
    const p = config.planner;
    await writeFileAtomic(
      run.path("PLAN.md"),
      [
        "# Latent planning: Breakout goal reaching",
        "",
        `${tasks.length} tasks: from a state after ${g.warmup[0]}-${g.warmup[1]} steps of play, ` +
        `bring the paddle within ${g.tolerance} px of its x in a goal frame reached by steering ` +
        `it ${g.shift[0]}-${
          g.shift[1]
        } px away in ${g.horizon} steps. CEM: ${p.samples} samples, ` +
        `${p.iterations} iterations, ${p.elites} elites, ${
          p.replan ? "re-planning every step" : "open loop"
        }; cost = L1 distance of the last predicted latent to the goal latent.`,
        "",
        "| planner | success | mean final error (px) |",
        "|---|---:|---:|",
        ...summary.map((s) =>
          `| ${s.planner} | ${(100 * s.success).toFixed(0)}% | ${s.meanError.toFixed(1)} |`
        ),
        "",
        "![success](figures/success.svg)",
        "",
        "Task 0 with the world-model planner (left: goal, right: the game):",
        "",
        "![planning](figures/planning.gif)",
        "",
        `${seconds.toFixed(0)} s.`,
        "",
      ].join("\n"),
    );
    await run.finish();
  });
}
