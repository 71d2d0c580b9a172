/**
 * `deno task worldmodel --stage 1|2`: the two-stage V-JEPA 2-style world model on Breakout.
 * Stage 1 pretrains the encoder (masked latents, EMA target, early stopping); stage 2 freezes it
 * and trains the action-conditioned predictor, its action-blind control and a pixel decoder,
 * then evaluates rollouts and action sensitivity on held-out episodes. Both stages write under
 * `--out` (`stage1/`, `stage2/`); stage 2 finds stage 1's encoder there.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { collectDataset } from "../lib/data/collect.ts";
import { type Dataset, openDataset, splitEpisodes } from "../lib/data/dataset.ts";
import { checkEnvConfig, CLEANRL_ATARI, type EnvConfig, makeEnv } from "../lib/envs/make.ts";
import {
  encodeLatentsFor,
  evaluateWorldModel,
  filmStrip,
  filmStripGif,
  fitLatentProbe,
  heldOutWindows,
  rolloutErrorFigure,
} from "../lib/eval/rollout.ts";
import type { FrozenEncoder } from "../lib/models/encoder.ts";
import { paramSummary } from "../lib/nn/params.ts";
import { Plot, plotToSvg } from "../lib/report/plot.ts";
import { writeFileAtomic } from "../lib/run/atomic.ts";
import { type MetricRecord, RunDir, type RunDirOptions } from "../lib/run/run_dir.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { evaluatedCheckpoint } from "../lib/train/loop.ts";
import { loadPretrainedEncoder, pretrain, randomEncoder } from "../lib/train/pretrain.ts";
import {
  latentData,
  loadPixelDecoder,
  loadWorldModel,
  trainPixelDecoder,
  trainWorldModel,
} from "../lib/train/world_model.ts";
import { WORLDMODEL_PRESETS, type WorldModelTaskConfig } from "../lib/train/worldmodel_presets.ts";
import { checkConfig, parseTaskArgs, ProgressBar, runTask, UsageError } from "./cli.ts";

/** Opens a run directory; a clash with an existing run is a user mistake, not a crash. */
async function openRun(opts: RunDirOptions): Promise<RunDir> {
  try {
    return await RunDir.open(opts);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

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

/** The env (and frame pipeline) the world model's data is collected from. */
export function worldModelEnv(cfg: WorldModelTaskConfig): EnvConfig {
  return { ...CLEANRL_ATARI, resize: [cfg.data.size, cfg.data.size] };
}

/** Opens the dataset, collecting it first when it is missing or was made differently. */
async function dataset(
  cfg: WorldModelTaskConfig,
  dir: string | undefined,
  preset: string,
  run: RunDir,
): Promise<{ ds: Dataset; dir: string }> {
  if (dir) return { ds: await openDataset(dir), dir };
  const d = cfg.data;
  dir = join("data", `worldmodel-${preset}-${d.size}px-s${d.seed}`);
  const manifest = join(dir, "manifest.json");
  const fits = existsSync(manifest) && (() => {
    const m = JSON.parse(Deno.readTextFileSync(manifest));
    return m.numEpisodes === d.episodes && JSON.stringify(m.meta.explore) ===
        JSON.stringify(d.explore) &&
      m.frameShape[0] === d.size && m.meta.seed === d.seed;
  })();
  if (!fits) {
    run.log(
      `collecting ${d.episodes} episodes of scripted Breakout with random segments -> ${dir}`,
    );
    await collectDataset(dir, {
      seed: d.seed,
      policy: "scripted",
      episodes: d.episodes,
      shardFrames: 4096,
      env: worldModelEnv(cfg),
      explore: d.explore,
    });
  }
  return { ds: await openDataset(dir), dir };
}

function describe(ds: Dataset, dir: string): string {
  return `dataset ${dir}: ${ds.numFrames} frames ${ds.frameShape.join("x")}, ` +
    `${ds.episodes().length} episodes`;
}

/** Writes a line figure of metric records (train loss, validation loss, ...). */
async function lossFigure(
  run: RunDir,
  file: string,
  title: string,
  series: Record<string, { step: number; value: number }[]>,
): Promise<void> {
  const rows = Object.entries(series).flatMap(([name, points]) =>
    points.map((p) => ({ ...p, series: name }))
  );
  if (!rows.length) return;
  await writeFileAtomic(
    run.path("figures", file),
    plotToSvg({
      title,
      height: 260,
      x: { label: "step" },
      y: { label: "loss", grid: true },
      color: { legend: true },
      marks: [Plot.line(rows, { x: "step", y: "value", stroke: "series" })],
    }),
  );
}

function points(records: MetricRecord[], kind: string, key: string) {
  return records.filter((r) => r.kind === kind && typeof r[key] === "number").map((r) => ({
    step: r.step as number,
    value: r[key] as number,
  }));
}

/** The paddle-x probe R^2 of an encoder's pooled latents (a quick check of stage 1). */
function paddleProbe(enc: FrozenEncoder, ds: Dataset, cfg: WorldModelTaskConfig): number {
  const stack = cfg.stage1.stack;
  const { train, val } = splitEpisodes(ds, {
    valFraction: cfg.stage1.valFraction,
    seed: cfg.stage1.seed,
  });
  const set = (episodes: number[], seed: number) => {
    const { x, rows } = encodeLatentsFor(enc, ds, stack, episodes, cfg.eval.probeRows, seed);
    return { x, y: Float64Array.from(rows, (r) => ds.state("paddleX")[r]), n: rows.length };
  };
  return fitLatentProbe(set(train, 1), set(val, 2), enc.cfg.width).r2;
}

async function stage1(
  cfg: WorldModelTaskConfig,
  out: string,
  options: Record<string, string | undefined>,
  resume: boolean,
  preset: string,
) {
  const run = await openRun({
    task: "worldmodel",
    config: { data: cfg.data, stage1: cfg.stage1 },
    dir: join(out, "stage1"),
    resume,
    echo: (l) => console.error(l),
  });
  const { ds, dir } = await dataset(cfg, options.dataset, preset, run);
  run.log(describe(ds, dir));
  const start = performance.now();
  const bar = new ProgressBar("stage 1 (V-JEPA)", cfg.stage1.train.steps);
  const checkpoints = run.path("checkpoints");
  const result = await pretrain(cfg.stage1, ds, { checkpointDir: checkpoints, resume }, {
    log: (line) => run.log(line),
    onStep: (s) => {
      run.metric({ kind: "train", ...s });
      bar.update(s.step, { loss: s.loss, lr: s.lr, "samples/s": s.samplesPerSec });
    },
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
  const seconds = (performance.now() - start) / 1000;
  const evaluated = evaluatedCheckpoint(checkpoints);
  const { encoder, step } = loadPretrainedEncoder(evaluated);
  const probe = {
    vjepa: paddleProbe(encoder, ds, cfg),
    random: paddleProbe(randomEncoder(cfg.stage1, ds.frameShape), ds, cfg),
  };
  const records = run.readMetrics();
  await lossFigure(run, "loss.svg", "Stage 1: masked-latent L1 (train) and held-out loss", {
    train: points(records, "train", "loss"),
    validation: points(records, "val", "valLoss"),
  });
  const summary = {
    stage: 1,
    dataset: dir,
    steps: result.steps,
    stoppedEarly: result.stoppedEarly,
    best: result.best ?? null,
    lastLoss: result.lastLoss,
    evaluatedCheckpoint: evaluated,
    evaluatedStep: step,
    paddleProbeR2: probe,
    encoderParams: paramSummary(encoder.params),
    seconds,
  };
  await writeFileAtomic(run.path("results.json"), JSON.stringify(summary, null, 1) + "\n");
  await writeFileAtomic(
    run.path("REPORT.md"),
    [
      "# World model, stage 1: masked-latent pretraining",
      "",
      `- ${describe(ds, dir)}`,
      `- ${result.steps} steps${result.stoppedEarly ? " (early stop)" : ""}; best held-out loss ` +
      `${result.best ? `${result.best.valLoss.toFixed(5)} at step ${result.best.step}` : "-"}`,
      `- encoder evaluated from ${evaluated} (step ${step})`,
      `- paddle-x linear probe R^2 on held-out episodes: V-JEPA ${probe.vjepa.toFixed(3)}, ` +
      `random-init ${probe.random.toFixed(3)}`,
      `- ${seconds.toFixed(0)} s`,
      "",
      "![loss](figures/loss.svg)",
      "",
    ].join("\n"),
  );
  await run.finish();
  run.log(
    `stage 1 done in ${seconds.toFixed(0)} s: ${JSON.stringify(summary.best)}; probe ${
      JSON.stringify(probe)
    }`,
  );
}

async function stage2(
  cfg: WorldModelTaskConfig,
  out: string,
  options: Record<string, string | undefined>,
  resume: boolean,
  preset: string,
) {
  const encoderDir = options.encoder ?? join(out, "stage1", "checkpoints");
  if (!existsSync(join(encoderDir, "latest.json"))) {
    throw new UsageError(
      `no encoder checkpoint in ${encoderDir}: run --stage 1 with the same --out first, or pass --encoder`,
    );
  }
  const run = await openRun({
    task: "worldmodel",
    config: {
      data: cfg.data,
      stage2: cfg.stage2,
      decoder: cfg.decoder,
      eval: cfg.eval,
      encoder: encoderDir,
    },
    dir: join(out, "stage2"),
    resume,
    echo: (l) => console.error(l),
  });
  const { ds, dir } = await dataset(cfg, options.dataset, preset, run);
  run.log(describe(ds, dir));
  const evaluated = evaluatedCheckpoint(encoderDir);
  const { encoder } = loadPretrainedEncoder(evaluated);
  run.log(`frozen encoder ${encoder.name} from ${evaluated}`);
  const start = performance.now();
  const data = latentData(encoder, ds, cfg.stage2.model.tokens);
  run.log(
    `latents: ${ds.numFrames} rows x ${data.spec.tokens} tokens x ${data.spec.dim} ` +
      `(${(performance.now() - start) / 1000 | 0} s)`,
  );
  const timings: Record<string, number> = {};
  for (const blind of [false, true]) {
    const name = blind ? "blind" : "world-model";
    const t0 = performance.now();
    const bar = new ProgressBar(`stage 2 (${name})`, cfg.stage2.train.steps);
    const r = await trainWorldModel(cfg.stage2, data, {
      checkpointDir: run.path("checkpoints", name),
      resume,
      blind,
    }, {
      log: (line) => run.log(`${name}: ${line}`),
      onStep: (s) => {
        run.metric({ kind: "train", model: name, ...s });
        bar.update(s.step, { loss: s.loss, lr: s.lr, "samples/s": s.samplesPerSec });
      },
      onValidate: (v) => {
        run.metric({ kind: "val", model: name, ...v });
        run.log(
          `${name} step ${v.step}: validation ${v.valLoss.toFixed(4)} (teacher ${
            v.teacher.toFixed(4)
          }, ` +
            `rollout ${v.rollout.toFixed(4)}; best ${v.bestLoss.toFixed(4)} at ${v.bestStep})`,
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
  const bar = new ProgressBar("pixel decoder", cfg.decoder.train.steps);
  await trainPixelDecoder(cfg.decoder, data, {
    checkpointDir: run.path("checkpoints", "decoder"),
    resume,
  }, {
    log: (line) => run.log(`decoder: ${line}`),
    onStep: (s) => {
      run.metric({ kind: "train", model: "decoder", ...s });
      bar.update(s.step, { loss: s.loss });
    },
  });
  timings.decoder = (performance.now() - t0) / 1000;

  run.log(`decoder: ${timings.decoder.toFixed(0)} s`);
  const evalStart = performance.now();
  // Evaluate the best checkpoints on held-out episodes.
  const { model } = loadWorldModel(evaluatedCheckpoint(run.path("checkpoints", "world-model")));
  const { model: blind } = loadWorldModel(evaluatedCheckpoint(run.path("checkpoints", "blind")));
  const decoder = loadPixelDecoder(run.path("checkpoints", "decoder"));
  const split = splitEpisodes(ds, { valFraction: cfg.stage2.valFraction, seed: cfg.stage2.seed });
  const meanings = makeEnv(worldModelEnv(cfg)).spec.actionMeanings;
  const evaluation = evaluateWorldModel({ model, blind }, data, split, cfg.eval, {
    left: meanings.indexOf("LEFT"),
    right: meanings.indexOf("RIGHT"),
  });
  const window = heldOutWindows(data, split.val, cfg.eval.horizon, 1, cfg.eval.seed + 3);
  const strip = filmStrip(model, decoder, data, window, cfg.eval.horizon);
  const size: [number, number] = [ds.frameShape[0], ds.frameShape[1]];
  await Deno.writeFile(run.path("figures", "real_vs_imagined.gif"), filmStripGif(strip, size));
  await writeFileAtomic(
    run.path("figures", "rollout_error.svg"),
    rolloutErrorFigure(evaluation.curve),
  );
  const records = run.readMetrics();
  await lossFigure(run, "loss.svg", "Stage 2: training and held-out loss", {
    "world model (train)": points(
      records.filter((r) => r.model === "world-model"),
      "train",
      "loss",
    ),
    "world model (held-out)": points(
      records.filter((r) => r.model === "world-model"),
      "val",
      "valLoss",
    ),
    "action-blind (train)": points(records.filter((r) => r.model === "blind"), "train", "loss"),
    "action-blind (held-out)": points(records.filter((r) => r.model === "blind"), "val", "valLoss"),
  });
  for (const p of evaluation.curve) run.metric({ kind: "rollout", ...p });
  timings.evaluation = (performance.now() - evalStart) / 1000;
  const summary = {
    stage: 2,
    dataset: dir,
    encoderCheckpoint: evaluated,
    timings,
    ...evaluation,
  };
  await writeFileAtomic(run.path("results.json"), JSON.stringify(summary, null, 1) + "\n");
  const at = (h: number) => evaluation.curve[Math.min(h, evaluation.curve.length) - 1];
  const f = (v: number | undefined) => (v === undefined ? "-" : v.toFixed(4));
  const s = evaluation.sensitivity;
  await writeFileAtomic(
    run.path("REPORT.md"),
    [
      "# World model, stage 2: action-conditioned predictor",
      "",
      `- ${describe(ds, dir)}; frozen encoder ${evaluated}`,
      `- training time: ${
        Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(", ")
      }`,
      "",
      "## Rollout error on held-out episodes (L1 on layer-normed latents)",
      "",
      "| horizon | world model | action-blind | copy last |",
      "|---:|---:|---:|---:|",
      ...[1, 2, 4, 8, 16].filter((h) => h <= evaluation.curve.length).map((h) =>
        `| ${h} | ${f(at(h).model)} | ${f(at(h).blind)} | ${f(at(h).copy)} |`
      ),
      "",
      "![rollout error](figures/rollout_error.svg)",
      "",
      "## Action sensitivity",
      "",
      `From ${s.model.n} held-out states, LEFT and RIGHT held for ${cfg.eval.sensitivityHorizon} ` +
      `steps; a linear probe (held-out R^2 ${
        evaluation.probeR2.toFixed(3)
      }) reads the paddle x of ` +
      `the predicted latents.`,
      "",
      "| model | right way | mean x(RIGHT) - x(LEFT) |",
      "|---|---:|---:|",
      `| world model | ${(100 * s.model.correct).toFixed(1)}% | ${
        s.model.meanShift.toFixed(1)
      } px |`,
      ...(s.blind
        ? [
          `| action-blind | ${(100 * s.blind.correct).toFixed(1)}% | ${
            s.blind.meanShift.toFixed(1)
          } px |`,
        ]
        : []),
      "",
      "## Real vs imagined",
      "",
      "Left: real frames; middle: decoded real latents; right: decoded predictions (from the first " +
      "frame and the real actions).",
      "",
      "![real vs imagined](figures/real_vs_imagined.gif)",
      "",
      "![loss](figures/loss.svg)",
      "",
    ].join("\n"),
  );
  await run.finish();
  run.log(
    `stage 2 done: rollout error h=1 ${f(at(1).model)} (blind ${f(at(1).blind)}, copy ${
      f(at(1).copy)
    }), ` +
      `h=${evaluation.curve.length} ${f(at(16).model)}; right way ${
        (100 * s.model.correct).toFixed(0)
      }% ` +
      `(blind ${s.blind ? (100 * s.blind.correct).toFixed(0) : "-"}%)`,
  );
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
    if (stage === "1") await stage1(config, out, options, switches.resume, preset);
    else await stage2(config, out, options, switches.resume, preset);
  });
}
