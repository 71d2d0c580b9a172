/**
 * `deno task worldmodel --stage 1|2`: the two-stage V-JEPA 2-style world model on Breakout.
 * Stage 1 pretrains the encoder (masked latents, EMA target, early stopping); stage 2 freezes it
 * and trains the action-conditioned predictor, its action-blind control and a pixel decoder,
 * then evaluates rollouts and action sensitivity on held-out episodes. Both stages write under
 * `--out` (`stage1/`, `stage2/`); stage 2 finds stage 1's encoder there. The study itself is
 * lib/studies/world_model/study.ts.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { openDataset } from "../lib/data/reader.ts";
import { checkEnvConfig } from "../lib/envs/make.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  runStage1,
  runStage2,
  stage1RunConfig,
  stage2RunConfig,
  type StudyHooks,
  type WorldModelDataset,
  worldModelDataset,
  worldModelEnv,
} from "../lib/studies/world_model/mod.ts";
import { WORLDMODEL_PRESETS, type WorldModelTaskConfig } from "../lib/studies/world_model/mod.ts";
import { checkConfig, parseTaskArgs, runTask, UsageError } from "./cli.ts";
import { progressBars } from "../lib/run/progress.ts";

const spec = {
  name: "worldmodel",
  summary: "The two-stage V-JEPA 2-style world model on Breakout. --stage 1: masked-latent " +
    "pretraining of a ViT on 4 stacked 64x64 frames (40% random masks, EMA target, L1, early " +
    "stopping). --stage 2: a block-causal action-conditioned predictor on the frozen encoder's " +
    "patch latents (teacher forcing + rollout loss), its action-blind control and a pixel " +
    "decoder; rollout error vs horizon against copy-last and action-blind baselines, action " +
    "sensitivity (LEFT vs RIGHT read by a paddle-x probe), real-vs-imagined GIF. Writes " +
    "<out>/stage1/ and <out>/stage2/ (config, log, metrics, checkpoints, figures, REPORT.md); " +
    "--resume continues a killed stage from its checkpoints and ends where an uninterrupted run " +
    "would.",
  presets: WORLDMODEL_PRESETS,
  flags: {
    episodes: { key: "data.episodes", help: "episodes of play to collect for the dataset" },
  },
  options: {
    stage: "1 (encoder pretraining) or 2 (world model on the frozen encoder); required",
    out: "run directory holding stage1/ and stage2/ (default results/worldmodel-<preset>)",
    dataset: "dataset directory (default: collect into data/worldmodel-<preset>-<size>px-s<seed>)",
    encoder: "stage 2: checkpoint directory of the frozen encoder (default <out>/stage1/" +
      "checkpoints; an I-JEPA pretrain checkpoint works if its frames match the dataset)",
    backend:
      "tfjs backend: auto | tensorflow | webgpu | native | wasm | cpu (default JEPA_BACKEND or auto)",
  },
  switches: { resume: "continue the stage in --out from its last checkpoints" },
  examples: [
    "deno task worldmodel --stage 1 --preset smoke --out results/wm-smoke",
    "deno task worldmodel --stage 2 --preset smoke --out results/wm-smoke",
    "deno task worldmodel --stage 2 --preset small --out results/wm-small --resume",
  ],
};

/** Progress bars, one per training loop. */
function progressBarHooks(): StudyHooks {
  return { onStep: progressBars({ show: ["loss", "lr", "samplesPerSec"] }) };
}

/** Opens `--dataset`, or the preset's own dataset under data/ (collected when missing). */
async function dataset(
  cfg: WorldModelTaskConfig,
  dir: string | undefined,
  preset: string,
  run: RunDir,
): Promise<WorldModelDataset> {
  if (dir) return { ds: await openDataset(dir), dir };
  const d = cfg.data;
  return worldModelDataset(cfg, join("data", `worldmodel-${preset}-${d.size}px-s${d.seed}`), {
    log: (line) => run.log(line),
  });
}

async function runStageTask(
  n: "1" | "2",
  cfg: WorldModelTaskConfig,
  out: string,
  options: Record<string, string | undefined>,
  resume: boolean,
  preset: string,
) {
  const encoderDir = options.encoder ?? join(out, "stage1", "checkpoints");
  if (n === "2" && !existsSync(join(encoderDir, "latest.json"))) {
    throw new UsageError(
      `no encoder checkpoint in ${encoderDir}: run --stage 1 with the same --out first, or pass --encoder`,
    );
  }
  const run = await RunDir.open({
    task: "worldmodel",
    config: n === "1"
      ? stage1RunConfig(cfg)
      : stage2RunConfig(cfg, encoderDir, join(out, "stage2")),
    dir: join(out, `stage${n}`),
    resume,
    echo: (l) => console.error(l),
  });
  const data = await dataset(cfg, options.dataset, preset, run);
  if (n === "1") await runStage1(run, cfg, data, { resume }, progressBarHooks());
  else await runStage2(run, cfg, data, { encoderDir, resume }, progressBarHooks());
}

if (import.meta.main) {
  runTask(async () => {
    const { config, options, switches, preset } = parseTaskArgs(spec);
    const stage = options.stage;
    if (stage !== "1" && stage !== "2") {
      throw new UsageError("--stage 1 or --stage 2 is required (see --help)");
    }
    checkConfig(() => checkEnvConfig(worldModelEnv(config)));
    if (config.stage1.method !== "vjepa") {
      throw new UsageError(`stage1.method must be vjepa, got ${config.stage1.method}`);
    }
    const backend = await initBackend({ backend: options.backend as "auto" | undefined });
    const out = options.out ?? join("results", `worldmodel-${preset}`);
    console.error(`backend ${backend.backend}; stage ${stage}; out ${out}`);
    await runStageTask(stage, config, out, options, switches.resume, preset);
  });
}
