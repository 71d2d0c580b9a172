/**
 * `deno task pipeline`: data -> I-JEPA -> autoencoder control -> probes -> world model -> planning
 * -> report, into one run directory; a re-run redoes only the phases whose inputs changed (see
 * lib/pipeline/runner.ts).
 *
 * @module
 */

import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import {
  checkPipelineConfig,
  PIPELINE_PRESETS,
  type PipelineConfig,
  pipelinePhases,
} from "../lib/pipeline/pipeline.ts";
import { hasWorldModel } from "../lib/pipeline/world_model_phases.ts";
import { runPipeline } from "../lib/pipeline/runner.ts";
import { writeFileAtomic } from "../lib/run/atomic.ts";
import type { RunInfo } from "../lib/pipeline/report.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { checkConfig, color, envSlug, parseTaskArgs, runTask } from "./cli.ts";
import { progressBars } from "../lib/run/progress.ts";

const spec = {
  name: "pipeline",
  summary: "Runs the whole study into one run directory: collect a dataset, pretrain I-JEPA " +
    "and the autoencoder control, probe them (and a random-init encoder) for the game state, " +
    "train the V-JEPA 2-style world model (stage 1, stage 2 and its action-blind control) on " +
    "its own dataset and evaluate it, plan with it toward goal frames (Breakout only), and " +
    "write REPORT.md with figures. Re-running the same command skips the phases that are " +
    "current and resumes an interrupted one from its checkpoint; after a config change only the " +
    "affected phases run again. `smoke` takes minutes on a 2-core CPU, `small` gives the " +
    "meaningful comparison, `full` is sized for a GPU.",
  presets: PIPELINE_PRESETS,
  flags: {
    env: { key: "env", help: "env id: native:breakout (default) | ale:breakout (needs ale-py)" },
    seed: { key: "seed", help: "random seed of every phase" },
  },
  options: {
    out: "run directory (default results/pipeline-<preset>-<env>-s<seed>)",
    only: "stop after this phase: data | ijepa | ae | probe | worldmodel | plan | report",
    backend: "tfjs backend (default JEPA_BACKEND or auto)",
  },
  examples: [
    "deno task pipeline                      # smoke preset, native Breakout",
    "deno task pipeline --preset small       # the reference sizes (hours on 2 cores)",
    "deno task pipeline --preset small --set probe.rows=1000   # redoes probe and report only",
    "deno task pipeline --set plan.planner.samples=128          # redoes plan and report only",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { config, preset, options } = parseTaskArgs<PipelineConfig>(spec);
    checkConfig(() => checkPipelineConfig(config));
    const backend = await initBackend({ backend: options.backend as "auto" | undefined });
    const out = options.out ??
      join("results", `pipeline-${preset}-${envSlug(config.env)}-s${config.seed}`);
    const info: RunInfo = {
      preset,
      config,
      backend: backend.backend,
      machine: {
        cpu: cpus()[0]?.model ?? "unknown",
        cores: cpus().length,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        os: `${Deno.build.os}-${Deno.build.arch}`,
        deno: Deno.version.deno,
      },
      startedAt: new Date().toISOString(),
    };
    await Deno.mkdir(out, { recursive: true });
    await writeFileAtomic(join(out, "pipeline.json"), JSON.stringify(info, null, 2) + "\n");
    console.error(
      `pipeline (${preset}, ${config.env}, seed ${config.seed}, ${backend.backend}) -> ${out}`,
    );
    if (!hasWorldModel(config.env)) {
      console.error(`no worldmodel and plan phases: they need Breakout, not ${config.env}`);
    }
    const outcome = await runPipeline(
      out,
      pipelinePhases(config, progressBars({ prefix: "  ", show: ["loss", "meanReturn", "steps"] })),
      {
        log: (line) => console.error(color("dim", line)),
        onPhase: (name, action) => {
          if (action !== "done") console.error(color("bold", `== ${name}: ${action}`));
        },
      },
      { only: options.only },
    );
    console.log(
      `ran ${outcome.ran.join(", ") || "nothing"}; skipped ${
        outcome.skipped.join(", ") || "nothing"
      }`,
    );
    const report = outcome.records.report?.outputs?.report;
    if (report) console.log(`report: ${report}`);
  });
}
