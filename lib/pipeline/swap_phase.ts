/**
 * The encoder-swap phase of the pipeline (lib/pipeline/pipeline.ts), after `probe`: PPO agents
 * with the run's own I-JEPA and autoencoder encoders (frozen or fine-tuned), a random-init
 * encoder and an end-to-end CNN, evaluated at every perturbation level (lib/studies/swap/grid.ts), with the
 * grid's report (lib/studies/swap/report.ts) under `<run>/swap`.
 *
 * Its config slice is `deno task swap`'s preset without the pretraining part (the pipeline's
 * `ijepa` and `ae` phases provide the encoders, so a new encoder re-runs the grid) and without
 * the env id (the pipeline's env). Finished runs of the grid are kept when the phase resumes.
 *
 * @module
 */

import { join } from "node:path";
import { checkEnvConfig, type EnvConfig } from "../envs/make.ts";
import {
  checkSwapConfig,
  type RunEvaluation,
  runSwap,
  SWAP_PRESETS,
  type SwapConfig,
} from "../studies/swap/mod.ts";
import { writeSwapReport } from "../studies/swap/mod.ts";
import type { PresetName } from "../run/config.ts";
import type { OnStep } from "../run/progress.ts";
import { phaseRun } from "./phase_run.ts";
import type { Phase } from "./runner.ts";

/** The `swap` slice of a pipeline config: `deno task swap`'s grid without pretraining. */
export interface PipelineSwapConfig extends Omit<SwapConfig, "env" | "pretrain"> {
  /** The wrapper stack of the grid's env; its id is the pipeline's env. */
  env: Omit<EnvConfig, "id">;
}

/** The swap slice of preset `name`. */
export function swapSlice(name: PresetName): PipelineSwapConfig {
  const { env: { id: _id, ...env }, pretrain: _pretrain, ...rest } = SWAP_PRESETS[name];
  return { ...rest, env };
}

/** `deno task swap`'s config for a slice, with the env and the given encoder checkpoints. */
export function swapTaskConfig(
  cfg: PipelineSwapConfig,
  envId: string,
  encoders: { jepa: string; ae: string },
): SwapConfig {
  return {
    ...cfg,
    env: { id: envId, ...cfg.env },
    // With both checkpoints given, the grid pretrains nothing: preset, steps and episodes are
    // unused (the preset only has to be a valid name).
    pretrain: { ...encoders, preset: "smoke", steps: 0, episodes: 0 },
  };
}

/** Checks a swap slice before anything runs; throws an Error naming the key. */
export function checkSwapPhaseConfig(cfg: PipelineSwapConfig, envId: string): void {
  const swap = swapTaskConfig(cfg, envId, { jepa: "", ae: "" });
  checkEnvConfig(swap.env);
  checkSwapConfig(swap);
}

/** The `swap` phase; `common` is the seed and env every phase's key covers. */
export function swapPhase(
  common: { seed: number; env: string },
  cfg: PipelineSwapConfig,
  onStep?: OnStep,
): Phase {
  return {
    name: "swap",
    needs: ["ijepa", "ae"],
    inputs: { ...common, swap: cfg },
    async run(ctx) {
      const swap = swapTaskConfig(cfg, common.env, {
        jepa: join(ctx.runDir, "ijepa", "checkpoints"),
        ae: join(ctx.runDir, "ae", "checkpoints"),
      });
      // The grid's training seeds are offset by the pipeline's seed, so another pipeline seed
      // gives other agents (seed 0 keeps the preset's seeds).
      swap.seeds = cfg.seeds.map((s) => s + common.seed);
      const run = await phaseRun(ctx, swap);
      const log = (line: string) => run.log(line);
      const evaluations: RunEvaluation[] = await runSwap(swap, ctx.dir, {
        log,
        onStep: onStep && ((e) => onStep({ ...e, loop: `swap ${e.loop}` })),
      });
      const report = await writeSwapReport(swap, ctx.dir, evaluations, log);
      await run.finish();
      return {
        runs: evaluations.length,
        ratio: Object.fromEntries(
          report.rows.filter((r) => r.level === "ratio").map((r) => [r.condition, r.mean]),
        ),
        clean: Object.fromEntries(
          report.rows.filter((r) => r.level === "clean").map((r) => [r.condition, r.mean]),
        ),
      };
    },
  };
}
