/**
 * The project's pipeline, data to report, as phases of {@linkcode runPipeline}:
 *
 *   data        scripted play of the chosen env -> a dataset
 *   ijepa       I-JEPA pretraining of the ViT encoder on it
 *   ae          the pixel-autoencoder control, same encoder and budget
 *   probe       linear / F1 / k-NN probes of both and of a random-init encoder, pooled and grid
 *   worldmodel  the V-JEPA 2-style world model on its own dataset: stage 1, stage 2 with its
 *               action-blind control, rollout and action-sensitivity evaluation, pixel decoder
 *   plan        CEM planning toward goal frames with it, against action-blind, random, no-op
 *   swap        PPO agents with the ijepa / ae / random-init encoders (frozen, or fine-tuned) and
 *               an end-to-end CNN, evaluated under visual perturbations (the encoder swap)
 *   report      REPORT.md with figures (SVG + PNG) and tables, rebuilt from the run's files
 *
 * (worldmodel and plan, lib/pipeline/world_model_phases.ts, only for Breakout.) One typed config
 * drives every phase; presets `smoke` (CI, minutes), `small` (meaningful on a 2-core CPU) and
 * `full` (the reference sizes, for a GPU). Each phase's key covers its own slice of the config
 * plus the seed and env, so changing the probe's rows redoes only probe and report, and a plan
 * setting only plan and report.
 *
 * @module
 */

import { join } from "node:path";
import { recordPath } from "../run/run_dir.ts";
import { type OnStep, stepRecorder } from "../run/progress.ts";
import { ensureDataset } from "../data/ensure.ts";
import { openDataset } from "../data/reader.ts";
import { checkEnvConfig, CLEANRL_ATARI } from "../envs/make.ts";
import type { PolicyName } from "../envs/policies.ts";
import { type EncoderFeatures, GRID_COMPONENTS, pixelSubject } from "../eval/encoder_probe.ts";
import type { Presets } from "../run/config.ts";
import { writeProbeStudy } from "../studies/pretrain/mod.ts";
import { writeRunReport } from "./report.ts";
import { loadEncoder, randomEncoder } from "../models/encoder.ts";
import { encoderConfig, pretrain, type PretrainConfig } from "../train/pretrain.ts";
import { PRETRAIN_PRESETS } from "../train/pretrain_presets.ts";
import { phaseRun } from "./phase_run.ts";
import type { Phase, PhaseContext } from "./runner.ts";
import {
  checkSwapPhaseConfig,
  type PipelineSwapConfig,
  swapPhase,
  swapSlice,
} from "./swap_phase.ts";
import {
  hasWorldModel,
  type PipelinePlanConfig,
  type PipelineWorldModelConfig,
  pipelineWorldModelEnv,
  worldModelPhases,
  worldModelSlices,
} from "./world_model_phases.ts";

/** Everything that defines a pipeline run. */
export interface PipelineConfig {
  seed: number;
  /** Env id: native:breakout, ale:breakout, ... */
  env: string;
  data: { episodes: number; policy: PolicyName };
  /** Shared by I-JEPA and the autoencoder control, so they get the same encoder and budget. */
  pretrain: Omit<PretrainConfig, "seed" | "method">;
  /**
   * `pixels`: also probe the raw patches, the encoder-free baseline; `gridComponents`: principal
   * directions per token of `grid` features.
   */
  probe: { rows: number; features: EncoderFeatures[]; pixels: boolean; gridComponents: number };
  /** The world model (Breakout only): `deno task worldmodel`'s config, its seeds from `seed`. */
  worldmodel: PipelineWorldModelConfig;
  /** Latent planning with it: `deno task plan`'s config, its seed from `seed`. */
  plan: PipelinePlanConfig;
  /** The encoder-swap grid: `deno task swap`'s config, its encoders from ijepa and ae. */
  swap: PipelineSwapConfig;
}

function preset(
  name: keyof typeof PRETRAIN_PRESETS,
  episodes: number,
  rows: number,
): PipelineConfig {
  const { seed: _seed, method: _method, ...pretrainConfig } = PRETRAIN_PRESETS[name];
  return {
    seed: 0,
    env: "native:breakout",
    data: { episodes, policy: "scripted" },
    pretrain: pretrainConfig,
    // Smoke keeps 16 directions per token: its numbers mean nothing and the ridge fits on 49 x 32
    // features took 5 of its 6 minutes.
    probe: {
      rows,
      features: ["pooled", "grid"],
      pixels: true,
      gridComponents: name === "smoke" ? 16 : GRID_COMPONENTS,
    },
    ...worldModelSlices(name),
    swap: swapSlice(name),
  };
}

/** The presets of `deno task pipeline`. */
export const PIPELINE_PRESETS: Presets<PipelineConfig> = {
  smoke: preset("smoke", 3, 600),
  small: preset("small", 20, 3000),
  full: preset("full", 120, 5000),
};

/** Checks the env configs a run will use; throws an Error naming what is wrong. */
export function checkPipelineConfig(cfg: PipelineConfig): void {
  checkEnvConfig({ ...CLEANRL_ATARI, id: cfg.env });
  if (hasWorldModel(cfg.env)) checkEnvConfig(pipelineWorldModelEnv(cfg.worldmodel, cfg));
  checkSwapPhaseConfig(cfg.swap, cfg.env);
}

/** The pretraining config of `method` in a pipeline run (the probes read the I-JEPA one). */
function pretrainConfig(cfg: PipelineConfig, method: PretrainConfig["method"]): PretrainConfig {
  return { seed: cfg.seed, method, ...cfg.pretrain };
}

/**
 * The phases of a run with config `cfg`; `onStep` receives the steps of their long loops,
 * labelled by phase ("data", "ijepa", "worldmodel stage 1 (V-JEPA)", "swap cnn-s0", "plan").
 */
export function pipelinePhases(cfg: PipelineConfig, onStep?: OnStep): Phase[] {
  const common = { seed: cfg.seed, env: cfg.env };
  const worldModel = hasWorldModel(cfg.env) ? worldModelPhases(common, cfg, onStep) : [];
  // Upstream outputs are found by the run's layout, not by the paths their records hold: those
  // are as the run was started (relative to its working directory), and a run dir can move.
  const datasetDir = (ctx: PhaseContext) => join(ctx.runDir, "data", "dataset");
  const pretrainPhase = (method: "ijepa" | "ae"): Phase => ({
    name: method,
    needs: ["data"],
    inputs: { ...common, method, pretrain: cfg.pretrain },
    async run(ctx) {
      const config = pretrainConfig(cfg, method);
      const run = await phaseRun(ctx, config);
      const ds = await openDataset(datasetDir(ctx));
      const monitors: Record<string, number>[] = [];
      const result = await pretrain(config, ds, {
        checkpointDir: run.path("checkpoints"),
        resume: ctx.resume,
      }, {
        log: (line) => run.log(line),
        onStep: stepRecorder({
          metric: (r) => run.metric(r),
          fields: { kind: "train" },
          loop: method,
          then: onStep,
        }),
        onMonitor: (m) => {
          run.metric({ kind: "monitor", ...m });
          monitors.push(m);
        },
      });
      await run.finish();
      return {
        checkpoints: recordPath(ctx.runDir, run.path("checkpoints")),
        lastLoss: result.lastLoss,
        steps: result.steps,
        finalMonitor: monitors.at(-1) ?? null,
      };
    },
  });
  return [
    {
      name: "data",
      needs: [],
      inputs: { ...common, data: cfg.data },
      async run(ctx) {
        const dataset = join(ctx.dir, "dataset");
        const ds = await ensureDataset(dataset, {
          seed: cfg.seed,
          policy: cfg.data.policy,
          episodes: cfg.data.episodes,
          shardFrames: 4096,
          env: { ...CLEANRL_ATARI, id: cfg.env },
        }, {
          log: ctx.log,
          onStep: stepRecorder({ loop: "data", then: onStep }),
        });
        return {
          dataset: recordPath(ctx.runDir, dataset),
          frames: ds.numFrames,
          episodes: ds.episodes().length,
        };
      },
    },
    pretrainPhase("ijepa"),
    pretrainPhase("ae"),
    {
      name: "probe",
      needs: ["data", "ijepa", "ae"],
      inputs: { ...common, probe: cfg.probe },
      async run(ctx) {
        // Probing is cheap next to training and has no checkpoints: a resumed probe starts over.
        const run = await phaseRun(ctx, cfg.probe, { fresh: true });
        const ds = await openDataset(datasetDir(ctx));
        const encoders = ["ijepa", "ae"].map((m) =>
          loadEncoder(join(ctx.runDir, m, "checkpoints")).encoder
        );
        const pcfg = pretrainConfig(cfg, "ijepa");
        const table = await writeProbeStudy(
          run,
          [
            ...encoders,
            randomEncoder(encoderConfig(pcfg, ds.frameShape), pcfg.seed),
            ...(cfg.probe.pixels
              ? [pixelSubject(ds.frameShape, pcfg.stack, pcfg.encoder.patch)]
              : []),
          ],
          ds,
          {
            ...cfg.probe,
            stack: pcfg.stack,
            valFraction: pcfg.valFraction,
            seed: cfg.seed,
            datasetName: "the run's dataset",
          },
        );
        await run.finish();
        return { rows: table.length };
      },
    },
    ...worldModel,
    swapPhase(common, cfg.swap, onStep),
    {
      name: "report",
      needs: ["data", "ijepa", "ae", "probe", ...worldModel.map((p) => p.name), "swap"],
      inputs: { ...common, config: cfg },
      async run(ctx) {
        const path = await writeRunReport(ctx.runDir);
        return { report: path };
      },
    },
  ];
}
