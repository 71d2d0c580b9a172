/**
 * `deno task swap-eval`: re-evaluates the checkpoints of an existing swap directory (all
 * perturbation levels, through the training wrapper stack) and rewrites its report; no
 * training.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PERTURB_LEVELS } from "../lib/envs/perturb.ts";
import { writeSwapReport } from "../lib/studies/swap/mod.ts";
import { checkSwapConfig, runSwap, type SwapConfig } from "../lib/studies/swap/mod.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { checkConfig, integerFlag, parseTaskArgs, runTask, UsageError } from "./cli.ts";

const spec = {
  name: "swap-eval",
  summary:
    "Re-evaluates every run of a swap directory (made by `deno task swap`) from its latest " +
    "checkpoint: whole games at each perturbation level, through the training wrapper stack, " +
    "then rewrites robustness.parquet, ROBUSTNESS.md, REPORT.md and the figures. Unfinished runs " +
    "are evaluated at their last checkpoint.",
  options: {
    run: "swap directory (required), e.g. results/swap-small-breakout",
    episodes: "games per level and evaluation seed (default: the swap's config)",
    "eval-seeds": "evaluation seeds, comma-separated (default: the swap's config)",
    "max-steps": "cap on a game's steps, 0 = the env's limit (default: the swap's config)",
    levels: `perturbation levels, comma-separated (default: ${PERTURB_LEVELS.join(",")})`,
    backend:
      "tfjs backend: auto | tensorflow | webgpu | native | wasm | cpu (default JEPA_BACKEND or auto)",
  },
  examples: [
    "deno task swap-eval --run results/swap-smoke-breakout",
    "deno task swap-eval --run results/swap-small-breakout --episodes 20 --eval-seeds 7,8,9",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { options } = parseTaskArgs(spec);
    if (!options.run) throw new UsageError("--run is required (see --help)");
    const configPath = join(options.run, "config.json");
    if (!existsSync(configPath)) {
      throw new UsageError(`${options.run}: no config.json: not a swap directory`);
    }
    const cfg = JSON.parse(readFileSync(configPath, "utf8")) as SwapConfig;
    if (options.episodes) cfg.eval.episodes = integerFlag("episodes", options.episodes);
    if (options["eval-seeds"]) {
      cfg.eval.seeds = options["eval-seeds"].split(",").map((s) => integerFlag("eval-seeds", s, 0));
    }
    if (options["max-steps"]) {
      cfg.eval.maxEpisodeSteps = integerFlag("max-steps", options["max-steps"], 0);
    }
    if (options.levels) cfg.eval.levels = options.levels.split(",").map((s) => s.trim());
    checkConfig(() => checkSwapConfig(cfg));
    const backend = await initBackend({ backend: options.backend as "auto" | undefined });
    const log = (line: string) => console.error(line);
    log(`backend ${backend.backend}; re-evaluating ${options.run}`);
    const evals = await runSwap(cfg, options.run, { log }, { evalOnly: true, reevaluate: true });
    if (evals.length === 0) throw new UsageError(`${options.run}: no run has a checkpoint yet`);
    const report = await writeSwapReport(cfg, options.run, evals, log);
    console.log(report.table);
    log(`report: ${join(options.run, "REPORT.md")}`);
  });
}
