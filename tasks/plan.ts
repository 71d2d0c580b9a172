/**
 * `deno task plan`: latent planning with the stage-2 world model on a Breakout goal-reaching
 * task (bring the paddle to where a goal frame shows it within H steps): CEM on the world model
 * against CEM on the action-blind model, random actions and doing nothing. The evaluation
 * itself is lib/studies/world_model/plan.ts.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { runPlanStudy } from "../lib/studies/world_model/mod.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { PLAN_PRESETS } from "../lib/studies/world_model/mod.ts";
import { parseTaskArgs, runTask, UsageError } from "./cli.ts";

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
    const run = await RunDir.open({
      task: "plan",
      config,
      dir: join(out, "plan"),
      resume: switches.resume,
      echo: (l) => console.error(l),
    });
    run.log(`backend ${backend.backend}; world model from ${stage2}`);
    await runPlanStudy(run, config, stage2);
  });
}
