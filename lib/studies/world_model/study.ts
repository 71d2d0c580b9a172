/**
 * The two-stage V-JEPA 2-style world-model study, run into run directories; shared by
 * `deno task worldmodel` and the pipeline's `worldmodel` phase.
 *
 * - {@linkcode worldModelDataset}: scripted play mixed with held random actions, collected once
 *   (and again only when it was collected with another spec, or is damaged);
 * - {@linkcode runStage1}: masked-latent pretraining of the encoder (early stopping keeps the
 *   best checkpoint), then a paddle-x probe of it beside a random-init encoder;
 * - {@linkcode runStage2}: on the frozen encoder's latents, the action-conditioned predictor, its
 *   action-blind control and a pixel decoder; then rollout error vs horizon against copying the
 *   last latent and the action-blind model, action sensitivity, and a real-vs-imagined GIF.
 *
 * Each stage writes `results.json`, `REPORT.md`, figures and metrics into its RunDir, and with
 * `resume` continues every model from its checkpoints (a finished model trains no further).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { CollectConfig } from "../../data/collect.ts";
import { ensureDataset } from "../../data/ensure.ts";
import { splitEpisodes } from "../../data/batches.ts";
import type { Dataset } from "../../data/reader.ts";
import { CLEANRL_ATARI, type EnvConfig, makeEnv } from "../../envs/make.ts";
import {
  encodeLatentsFor,
  evaluateWorldModel,
  filmStrip,
  heldOutWindows,
} from "../../eval/rollout.ts";
import { fitRidgeProbe, r2Score } from "../../eval/probe.ts";
import { filmStripGif, rolloutErrorFigure } from "./figures.ts";
import type { FrozenEncoder } from "../../models/encoder.ts";
import { paramSummary } from "../../nn/params.ts";
import {
  lossFigure,
  metricPoints,
  stage1Markdown,
  type Stage1Results,
  stage2LogLine,
  stage2LossSeries,
  stage2Markdown,
  type Stage2Results,
} from "./report.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import { recordPath, type RunDir } from "../../run/run_dir.ts";
import { type OnStep, stepRecorder } from "../../run/progress.ts";
import { evaluatedCheckpoint } from "../../train/loop.ts";
import { embeddingShape, loadEncoder, randomEncoder } from "../../models/encoder.ts";
import { encoderConfig, pretrain } from "../../train/pretrain.ts";
import {
  latentData,
  loadPixelDecoder,
  loadWorldModel,
  trainPixelDecoder,
  trainWorldModel,
} from "../../train/world_model.ts";
import type { WorldModelTaskConfig } from "./presets.ts";

/** Progress of the study's long loops, for progress bars. */
export interface StudyHooks {
  /** Each step of the study's loops: "dataset", "stage 1 (V-JEPA)", "pixel decoder", ... */
  onStep?: OnStep;
}

/** The study's dataset and where it lives. */
export interface WorldModelDataset {
  ds: Dataset;
  dir: string;
}

/** The env (and frame pipeline) the world model's data is collected from. */
export function worldModelEnv(cfg: WorldModelTaskConfig, envId = CLEANRL_ATARI.id): EnvConfig {
  return { ...CLEANRL_ATARI, id: envId, resize: [cfg.data.size, cfg.data.size] };
}

/**
 * The collection spec of the study's dataset (scripted play mixed with held random actions, on
 * {@linkcode worldModelEnv}): what {@linkcode worldModelDataset} and notebooks 03 and 04 pass
 * to {@linkcode ensureDataset}, so that they ask for the same dataset.
 */
export function worldModelCollectConfig(
  cfg: WorldModelTaskConfig,
  envId = CLEANRL_ATARI.id,
): CollectConfig {
  const d = cfg.data;
  return {
    seed: d.seed,
    policy: "scripted",
    episodes: d.episodes,
    shardFrames: 4096,
    env: worldModelEnv(cfg, envId),
    explore: d.explore,
  };
}

/**
 * Opens the study's dataset in `dir`, collecting it first when it is missing, damaged, or was
 * collected with another spec (any of episodes, exploration, frame size, seed, env: see
 * {@linkcode ensureDataset}).
 */
export async function worldModelDataset(
  cfg: WorldModelTaskConfig,
  dir: string,
  opts: { envId?: string; log?: (line: string) => void } & StudyHooks = {},
): Promise<WorldModelDataset> {
  const ds = await ensureDataset(dir, worldModelCollectConfig(cfg, opts.envId), {
    log: opts.log,
    onStep: stepRecorder({ loop: "dataset", then: opts.onStep }),
  });
  return { ds, dir };
}

/** The dataset in one line, for logs and reports. */
export function describeDataset({ ds, dir }: WorldModelDataset): string {
  return `dataset ${dir}: ${ds.numFrames} frames ${ds.frameShape.join("x")}, ` +
    `${ds.episodes().length} episodes`;
}

/** What stage 1's RunDir records as its config. */
export function stage1RunConfig(cfg: WorldModelTaskConfig): unknown {
  return { data: cfg.data, stage1: cfg.stage1 };
}

/** What stage 2's RunDir records as its config (`encoderDir`: the frozen encoder's checkpoints). */
export function stage2RunConfig(
  cfg: WorldModelTaskConfig,
  encoderDir: string,
  runDir: string,
): unknown {
  return {
    data: cfg.data,
    stage2: cfg.stage2,
    decoder: cfg.decoder,
    eval: cfg.eval,
    encoder: recordPath(runDir, encoderDir),
  };
}

/** The paddle-x probe R^2 of an encoder's pooled latents (a quick check of stage 1). */
function paddleProbe(enc: FrozenEncoder, ds: Dataset, cfg: WorldModelTaskConfig): number {
  const stack = cfg.stage1.stack;
  const { train, val } = splitEpisodes(ds, {
    valFraction: cfg.stage1.valFraction,
    seed: cfg.stage1.seed,
  });
  const episode = ds.column("episode");
  const set = (episodes: number[], seed: number) => {
    const { x, rows } = encodeLatentsFor(enc, ds, {
      stack,
      episodes,
      count: cfg.eval.probeRows,
      seed,
    });
    const y = Float64Array.from(rows, (r) => ds.state("paddleX")[r]);
    const groups = Int32Array.from(rows, (r) => episode[r]);
    return { x, d: embeddingShape(enc.cfg).tokenWidth, y, n: rows.length, groups };
  };
  const test = set(val, 2);
  return r2Score(test.y, fitRidgeProbe(set(train, 1)).predict(test.x, test.n));
}

/**
 * Stage 1 into `run`: masked-latent pretraining (checkpoints in `<run>/checkpoints`, the best
 * under early stopping in its `best/`), the paddle-x probe of the evaluated encoder and of a
 * random-init one, `figures/loss.svg`, `results.json` and `REPORT.md`.
 */
export async function runStage1(
  run: RunDir,
  cfg: WorldModelTaskConfig,
  data: WorldModelDataset,
  opts: { resume?: boolean } = {},
  hooks: StudyHooks = {},
): Promise<Stage1Results> {
  if (cfg.stage1.method !== "vjepa") {
    throw new Error(`stage1.method must be vjepa, got ${cfg.stage1.method}`);
  }
  const { ds, dir } = data;
  run.log(describeDataset(data));
  const start = performance.now();
  const checkpoints = run.path("checkpoints");
  const result = await pretrain(cfg.stage1, ds, {
    checkpointDir: checkpoints,
    resume: opts.resume,
  }, {
    log: (line) => run.log(line),
    onStep: stepRecorder({
      metric: (r) => run.metric(r),
      fields: { kind: "train" },
      loop: "stage 1 (V-JEPA)",
      then: hooks.onStep,
    }),
    onMonitor: (m) => run.metric({ kind: "monitor", ...m }),
    onValidate: (v) => {
      run.metric({ kind: "val", ...v });
      run.log(
        `step ${v.step}: validation loss ${v.valLoss.toFixed(5)} (best ${
          v.bestLoss.toFixed(5)
        } at ${v.bestStep})`,
      );
    },
  });
  tf.dispose(result.tensors.map(([, v]) => v));
  const seconds = (performance.now() - start) / 1000;
  const evaluated = evaluatedCheckpoint(checkpoints);
  const { encoder, record: { step } } = loadEncoder(evaluated);
  const probe = {
    vjepa: paddleProbe(encoder, ds, cfg),
    random: paddleProbe(
      randomEncoder(encoderConfig(cfg.stage1, ds.frameShape), cfg.stage1.seed),
      ds,
      cfg,
    ),
  };
  const records = run.readMetrics();
  const figure = lossFigure("Stage 1: masked-latent L1 (train) and held-out loss", {
    train: metricPoints(records, "train", "loss"),
    validation: metricPoints(records, "val", "valLoss"),
  });
  if (figure) await writeFileAtomic(run.path("figures", "loss.svg"), figure);
  const summary: Stage1Results = {
    stage: 1,
    dataset: recordPath(run.dir, dir),
    steps: result.steps,
    stoppedEarly: result.stoppedEarly,
    best: result.best ? { ...result.best, dir: recordPath(run.dir, result.best.dir) } : null,
    lastLoss: result.lastLoss,
    evaluatedCheckpoint: recordPath(run.dir, evaluated),
    evaluatedStep: step,
    paddleProbeR2: probe,
    encoderParams: paramSummary(encoder.params),
    seconds,
  };
  await writeFileAtomic(run.path("results.json"), JSON.stringify(summary, null, 1) + "\n");
  await writeFileAtomic(run.path("REPORT.md"), stage1Markdown(summary, describeDataset(data)));
  await run.finish();
  run.log(
    `stage 1 done in ${seconds.toFixed(0)} s: ${JSON.stringify(summary.best)}; probe ${
      JSON.stringify(probe)
    }`,
  );
  return summary;
}

/**
 * Stage 2 into `run`, on the frozen encoder in `encoderDir` (its best checkpoint when it has
 * one): the world model and its action-blind control (`checkpoints/world-model`, `.../blind`),
 * the pixel decoder (`checkpoints/decoder`), their evaluation on held-out episodes, the figures
 * (`rollout_error.svg`, `real_vs_imagined.gif`, `loss.svg`), `results.json` and `REPORT.md`.
 */
export async function runStage2(
  run: RunDir,
  cfg: WorldModelTaskConfig,
  data: WorldModelDataset,
  opts: { encoderDir: string; resume?: boolean },
  hooks: StudyHooks = {},
): Promise<Stage2Results> {
  const { ds, dir } = data;
  run.log(describeDataset(data));
  const evaluated = evaluatedCheckpoint(opts.encoderDir);
  const { encoder } = loadEncoder(evaluated);
  run.log(`frozen encoder ${encoder.name} from ${evaluated}`);
  const start = performance.now();
  const latents = latentData(encoder, ds, cfg.stage2.model.tokens, { onStep: hooks.onStep });
  run.log(
    `latents: ${ds.numFrames} rows x ${latents.spec.tokens} tokens x ${latents.spec.dim} ` +
      `(${(performance.now() - start) / 1000 | 0} s)`,
  );
  const timings: Record<string, number> = {};
  for (const blind of [false, true]) {
    const name = blind ? "blind" : "world-model";
    const t0 = performance.now();
    const r = await trainWorldModel(cfg.stage2, latents, {
      checkpointDir: run.path("checkpoints", name),
      resume: opts.resume,
      blind,
    }, {
      log: (line) => run.log(`${name}: ${line}`),
      onStep: stepRecorder({
        metric: (r) => run.metric(r),
        fields: { kind: "train", model: name },
        loop: `stage 2 (${name})`,
        then: hooks.onStep,
      }),
      onValidate: (v) => {
        run.metric({ kind: "val", model: name, ...v });
        run.log(
          `${name} step ${v.step}: validation ${v.valLoss.toFixed(4)} (teacher ${
            v.teacher.toFixed(4)
          }, rollout ${v.rollout.toFixed(4)}; best ${v.bestLoss.toFixed(4)} at ${v.bestStep})`,
        );
      },
    });
    timings[name] = (performance.now() - t0) / 1000;
    run.log(
      `${name}: ${r.result.steps} steps${r.result.stoppedEarly ? " (early stop)" : ""}, ${
        timings[name].toFixed(0)
      } s`,
    );
    tf.dispose(r.tensors.map(([, v]) => v));
  }
  const t0 = performance.now();
  const trained = await trainPixelDecoder(cfg.decoder, latents, {
    checkpointDir: run.path("checkpoints", "decoder"),
    resume: opts.resume,
  }, {
    log: (line) => run.log(`decoder: ${line}`),
    onStep: stepRecorder({
      metric: (r) => run.metric(r),
      fields: { kind: "train", model: "decoder" },
      loop: "pixel decoder",
      then: hooks.onStep,
    }),
  });
  tf.dispose(trained.tensors.map(([, v]) => v));
  timings.decoder = (performance.now() - t0) / 1000;
  run.log(`decoder: ${timings.decoder.toFixed(0)} s`);

  const evalStart = performance.now();
  // Evaluate the best checkpoints on held-out episodes.
  const { model } = loadWorldModel(evaluatedCheckpoint(run.path("checkpoints", "world-model")));
  const { model: blind } = loadWorldModel(evaluatedCheckpoint(run.path("checkpoints", "blind")));
  const decoder = loadPixelDecoder(run.path("checkpoints", "decoder"));
  const split = splitEpisodes(ds, { valFraction: cfg.stage2.valFraction, seed: cfg.stage2.seed });
  const evaluation = evaluateWorldModel(
    { model, blind },
    latents,
    split,
    cfg.eval,
    paddleActionIds(ds),
  );
  const window = heldOutWindows(latents, {
    episodes: split.val,
    horizon: cfg.eval.horizon,
    count: 1,
    seed: cfg.eval.seed + 3,
  });
  const strip = filmStrip(model, decoder, latents, window, cfg.eval.horizon);
  const size: [number, number] = [ds.frameShape[0], ds.frameShape[1]];
  await Deno.writeFile(run.path("figures", "real_vs_imagined.gif"), filmStripGif(strip, size));
  await writeFileAtomic(
    run.path("figures", "rollout_error.svg"),
    rolloutErrorFigure(evaluation.curve),
  );
  const figure = lossFigure(
    "Stage 2: training and held-out loss",
    stage2LossSeries(run.readMetrics()),
  );
  if (figure) await writeFileAtomic(run.path("figures", "loss.svg"), figure);
  for (const p of evaluation.curve) run.metric({ kind: "rollout", ...p });
  timings.evaluation = (performance.now() - evalStart) / 1000;
  const summary: Stage2Results = {
    stage: 2,
    dataset: recordPath(run.dir, dir),
    encoderCheckpoint: recordPath(run.dir, evaluated),
    timings,
    ...evaluation,
  };
  await writeFileAtomic(run.path("results.json"), JSON.stringify(summary, null, 1) + "\n");
  await writeFileAtomic(
    run.path("REPORT.md"),
    stage2Markdown(summary, describeDataset(data), cfg.eval.sensitivityHorizon),
  );
  await run.finish();
  run.log(stage2LogLine(summary));
  return summary;
}

/** The LEFT and RIGHT actions of the env the dataset was collected from. */
function paddleActionIds(ds: Dataset): { left: number; right: number } {
  const env = makeEnv(ds.manifest.meta.envConfig as EnvConfig);
  const meanings = env.spec.actionMeanings;
  env.close();
  return { left: meanings.indexOf("LEFT"), right: meanings.indexOf("RIGHT") };
}
