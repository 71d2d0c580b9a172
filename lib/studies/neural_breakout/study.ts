/**
 * The neural-Breakout study run into a run directory: the latent-action model trained on the
 * videos (`checkpoints/`, resumable; a finished run is loaded), then evaluated on held-out
 * episodes (`lib/train/latent_action.ts`), and the action -> latent mapping fitted and scored
 * (`mapping.ts`): `metrics.json` with the seed's numbers and Genie's controllability, beside
 * copying the last frame, random codes and the mapping's baselines; `result.json` with all of it.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ensureDerivedDataset } from "../../data/derive.ts";
import { type Dataset, openDataset } from "../../data/reader.ts";
import type { LatentActionModel } from "../../models/latent_action.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import { type OnStep, stepRecorder } from "../../run/progress.ts";
import type { RunDir } from "../../run/run_dir.ts";
import { hasCheckpoint, loadCheckpoint } from "../../tensor/checkpoint.ts";
import {
  evaluateLatentAction,
  type LatentActionEval,
  type LatentActionTrainConfig,
  loadLatentAction,
  trainLatentAction,
} from "../../train/latent_action.ts";
import { type ControlCheck, controlCheck } from "./controls.ts";
import {
  actionLatentMapping,
  MAPPING_FILE,
  type MappingResult,
  writeActionMapping,
} from "./mapping.ts";
import type { NeuralBreakoutConfig } from "./presets.ts";

/** The committed numbers (the seed's and Genie's), flat. */
export interface NeuralBreakoutMetrics {
  psnr: number;
  copyLastPsnr: number;
  /** The same on the transitions where the frame changes (`LatentActionEval.psnrChanged`). */
  psnrChanged: number;
  copyLastPsnrChanged: number;
  changedShare: number;
  ssim: number;
  copyLastSsim: number;
  codebookUse: number;
  perplexity: number;
  codeSpread: number;
  deltaPsnr: number;
  deltaPsnrCi95: [number, number];
  deltaPsnrAt: number;
  /** Action -> latent mapping accuracy on held-out episodes (`mapping.ts`). */
  mappingAccuracy: number;
}

/** What the study found. */
export interface NeuralBreakoutResult {
  metrics: NeuralBreakoutMetrics;
  evaluation: LatentActionEval;
  /** The mapping's scores and codes; its classifier is in `mapping.json`. */
  mapping: Omit<MappingResult, "classifier" | "embedding">;
  /** One step with each action's code from held-out stacks: the paddle's shift (Breakout). */
  controls: ControlCheck | null;
  /** The dataset learned from (play starts from its held-out episodes). */
  dataset: string;
  steps: number;
  /** Seconds of training: kept from the earlier `result.json` when the run finished earlier. */
  seconds: number;
}

/** The training seconds an earlier `result.json` recorded (NaN without one). */
function earlierSeconds(file: string): number {
  if (!existsSync(file)) return NaN;
  const seconds = JSON.parse(readFileSync(file, "utf8"))?.seconds;
  return typeof seconds === "number" ? seconds : NaN;
}

/** Trains (or loads) and evaluates; the caller disposes the returned model. */
export async function runNeuralBreakoutStudy(
  run: RunDir,
  cfg: NeuralBreakoutConfig,
  ds: Dataset,
  hooks: { onStep?: OnStep } = {},
): Promise<{ result: NeuralBreakoutResult; model: LatentActionModel }> {
  const ckpt = run.path("checkpoints");
  const t0 = performance.now();
  const done = hasCheckpoint(ckpt) && loadCheckpoint(ckpt).meta.step >= cfg.model.train.steps;
  let model: LatentActionModel;
  if (done) {
    model = loadLatentAction(ckpt).model;
    run.log(`latent action: finished earlier, loaded from ${ckpt}`);
  } else {
    const trained = await trainLatentAction(cfg.model, ds, { checkpointDir: ckpt, resume: true }, {
      log: (line) => run.log(line),
      onStep: stepRecorder({
        metric: (r) => run.metric(r),
        fields: { kind: "train" },
        loop: "latent action",
        then: hooks.onStep,
      }),
    });
    trained.usage.dispose();
    model = trained.model;
  }
  const seconds = done ? earlierSeconds(run.path("result.json")) : (performance.now() - t0) / 1000;
  const e = evaluateLatentAction(cfg.model, ds, model);
  const mapping = actionLatentMapping(cfg.model, ds, model, cfg.mapping.rows);
  const controls = controlCheck(cfg.model, ds, model, mapping);
  const metrics: NeuralBreakoutMetrics = {
    psnr: e.psnr,
    copyLastPsnr: e.copyLastPsnr,
    psnrChanged: e.psnrChanged,
    copyLastPsnrChanged: e.copyLastPsnrChanged,
    changedShare: e.changedShare,
    ssim: e.ssim,
    copyLastSsim: e.copyLastSsim,
    codebookUse: e.codebookUse,
    perplexity: e.perplexity,
    codeSpread: e.codeSpread,
    deltaPsnr: e.deltaPsnr.mean,
    deltaPsnrCi95: e.deltaPsnr.ci95,
    deltaPsnrAt: e.deltaPsnr.at,
    mappingAccuracy: mapping.accuracy,
  };
  const { classifier: _c, embedding: _e, ...mappingSummary } = mapping;
  const result = {
    metrics,
    evaluation: e,
    mapping: mappingSummary,
    controls,
    dataset: ds.path,
    steps: cfg.model.train.steps,
    seconds,
  };
  await writeFileAtomic(run.path("metrics.json"), JSON.stringify(metrics, null, 1) + "\n");
  await writeFileAtomic(run.path("result.json"), JSON.stringify(result, null, 1) + "\n");
  await writeActionMapping(run.path(MAPPING_FILE), mapping);
  run.log(`latent action: ${JSON.stringify(metrics)}`);
  return { result, model };
}

/** A finished run of `deno task latent-action`, as play and the mapping task read it. */
export interface FinishedRun {
  result: NeuralBreakoutResult;
  model: LatentActionModel;
  cfg: LatentActionTrainConfig;
}

/** Loads the finished run in `runDir`; the error names the missing file and how to make it. */
export function loadFinishedRun(runDir: string): FinishedRun {
  const resultFile = join(runDir, "result.json");
  if (!existsSync(resultFile)) {
    throw new Error(
      `${resultFile}: no finished latent-action run here (deno task latent-action --out ${runDir})`,
    );
  }
  const result = JSON.parse(readFileSync(resultFile, "utf8")) as NeuralBreakoutResult;
  return { result, ...loadLatentAction(join(runDir, "checkpoints")) };
}

/**
 * The dataset at `dir` with the frames `model` reads: a recording's RGB screens are made gray
 * at the model's size once, beside it (`lib/data/derive.ts`).
 */
export async function openForModel(
  dir: string,
  model: LatentActionModel,
  log?: (line: string) => void,
): Promise<Dataset> {
  return await ensureDerivedDataset(await openDataset(dir), {
    grayscale: true,
    resize: model.cfg.encoder.imageSize,
  }, { log });
}
