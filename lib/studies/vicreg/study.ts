/**
 * The VICReg JEPA vs pixel encoder-decoder study written into a run directory: each method
 * trained (or resumed) under `<run>/<method>/`, evaluated on held-out transitions, its encoder
 * probed beside a random-init one (`<run>/probe/`), and `<run>/COMPARISON.md` with the table and
 * figures (next-step error against the copy baseline, collapse monitors over training).
 *
 * @module
 */

import { join } from "node:path";
import type { Dataset } from "../../data/reader.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import { RunDir } from "../../run/run_dir.ts";
import { type OnStep, stepRecorder } from "../../run/progress.ts";
import { hasCheckpoint, loadCheckpoint } from "../../tensor/checkpoint.ts";
import {
  evaluateTransitionModel,
  loadTransitionModel,
  trainTransitionModel,
  transitionEncoder,
  type TransitionEval,
  transitionFrozenEncoder,
} from "../../train/transition.ts";
import type { VicregTaskConfig } from "./presets.ts";
import type { FrozenEncoder } from "../../models/encoder.ts";
import { initVit } from "../../nn/vit.ts";
import { deriveSeed, Rng } from "../../tensor/rng.ts";
import { Plot, plotToSvg } from "../../viz/plot.ts";
import { writeProbeStudy } from "../pretrain/mod.ts";

/** Progress of the study, for bars and logs. */
export interface TransitionStudyHooks {
  log?(line: string): void;
  /** Each training step of each method, as loop `<method>`. */
  onStep?: OnStep;
}

/** Runs the study; returns the evaluation rows. Finished methods are loaded, not retrained. */
export async function writeTransitionStudy(
  runDir: string,
  cfg: VicregTaskConfig,
  ds: Dataset,
  opts: { resume?: boolean },
  hooks: TransitionStudyHooks = {},
): Promise<TransitionEval[]> {
  const evals: TransitionEval[] = [];
  const monitors: Record<string, unknown>[] = [];
  const encoders = [];
  for (const method of cfg.methods) {
    const run = await RunDir.open({
      task: method,
      config: { ...cfg.model, method },
      dir: join(runDir, method),
      resume: opts.resume,
      echo: hooks.log,
    });
    const ckpt = run.path("checkpoints");
    const done = hasCheckpoint(ckpt) && loadCheckpoint(ckpt).meta.step >= cfg.model.train.steps;
    const model = done ? loadTransitionModel(ckpt) : (await trainTransitionModel(
      cfg.model,
      method,
      ds,
      { checkpointDir: ckpt, resume: opts.resume },
      {
        log: (line) => run.log(line),
        onStep: stepRecorder({
          metric: (r) => run.metric(r),
          fields: { kind: "train" },
          loop: method,
          then: hooks.onStep,
        }),
        onMonitor: (m) => run.metric({ kind: "monitor", ...m }),
      },
    )).model;
    if (done) run.log(`${method}: finished earlier, loaded from ${ckpt}`);
    const ev = evaluateTransitionModel(cfg.model, ds, model);
    run.log(`${method}: ${JSON.stringify(ev)}`);
    evals.push(ev);
    await run.finish();
    monitors.push(
      ...run.readMetrics().filter((r) => r.kind === "monitor").map((r) => ({ ...r, method })),
    );
    encoders.push(transitionFrozenEncoder(model));
  }

  const probeRun = await RunDir.open({
    task: "probe",
    config: cfg.probe,
    dir: join(runDir, "probe"),
    resume: true,
    echo: hooks.log,
  });
  const encoderShape = transitionEncoder(cfg.model, ds.frameShape);
  const random: FrozenEncoder = {
    name: "random",
    cfg: encoderShape,
    params: initVit(new Rng(deriveSeed(cfg.model.seed, "init/random")), encoderShape),
  };
  const probes = await writeProbeStudy(probeRun, [...encoders, random], ds, {
    ...cfg.probe,
    stack: cfg.model.stack,
    valFraction: cfg.model.valFraction,
    seed: cfg.model.seed,
    datasetName: "the study's dataset",
  });
  await probeRun.finish();

  const f = (v: number | undefined, digits = 3) =>
    v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(digits);
  const r2 = (enc: string, variable: string, features: string) =>
    probes.find((p) => p.encoder === enc && p.variable === variable && p.features === features)
      ?.r2;
  const lines = [
    "# VICReg JEPA vs pixel encoder-decoder (same transitions)",
    "",
    "Held-out episodes. Next-step error is measured in each model's own latent space, relative " +
    "to the variance of the targets (1 = no better than the mean embedding), beside copying the " +
    "latent the predictor reads (for the JEPAs: the online encoder's embedding of s_t, aimed at " +
    "the EMA target's embedding of s_t+1). Collapse statistics are of the pooled embeddings of " +
    "held-out frames under the encoder the probes read (the JEPAs' EMA target).",
    "",
    "| method | next-step error | copy-latent error | embedding std | effective rank | PSNR (dB) | copy-frame PSNR | ball x R^2 (grid) | ball y R^2 (grid) | paddle x R^2 (grid) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...evals.map((e) =>
      `| ${e.method} | ${f(e.latentError)} | ${f(e.copyLatentError)} | ${f(e.stdMean, 4)} | ${
        f(e.effectiveRank, 2)
      } | ${f(e.psnr, 2)} | ${f(e.copyPsnr, 2)} | ${f(r2(e.method, "ballX", "grid"))} | ${
        f(r2(e.method, "ballY", "grid"))
      } | ${f(r2(e.method, "paddleX", "grid"))} |`
    ),
    `| random-init | | | | | | | ${f(r2("random", "ballX", "grid"))} | ${
      f(r2("random", "ballY", "grid"))
    } | ${f(r2("random", "paddleX", "grid"))} |`,
    "",
    "Figures: `figures/collapse.svg` (effective rank and embedding std over training), " +
    "`figures/next_step.svg`; all probes in `probe/PROBE.md`.",
  ];
  await writeFileAtomic(
    join(runDir, "figures", "collapse.svg"),
    plotToSvg({
      title: "Collapse monitors on held-out frames (pooled embeddings)",
      width: 720,
      height: 360,
      marginRight: 70,
      grid: true,
      fy: { label: null },
      marks: [
        Plot.line(monitors, { x: "step", y: "effectiveRank", stroke: "method", fy: () => "rank" }),
        Plot.line(monitors, { x: "step", y: "stdMean", stroke: "method", fy: () => "std" }),
        Plot.text(
          monitors,
          Plot.selectLast({
            x: "step",
            y: "effectiveRank",
            z: "method",
            text: "method",
            fy: () => "rank",
            dx: 22,
          }),
        ),
      ],
    }),
  );
  const bars = evals.flatMap((e) => [
    { method: e.method, which: "model", error: e.latentError },
    { method: e.method, which: "copy latent", error: e.copyLatentError },
  ]);
  await writeFileAtomic(
    join(runDir, "figures", "next_step.svg"),
    plotToSvg({
      title: "Next-step error in latent space, relative to the targets' variance (lower is better)",
      width: 640,
      height: 260,
      marginLeft: 90,
      x: { grid: true, label: "relative error" },
      y: { label: null },
      fy: { label: null },
      marks: [
        Plot.barX(bars, { y: "which", x: "error", fill: "which", fy: "method" }),
        Plot.ruleX([0, 1]),
      ],
    }),
  );
  await writeFileAtomic(join(runDir, "COMPARISON.md"), lines.join("\n") + "\n");
  await writeFileAtomic(join(runDir, "evaluation.json"), JSON.stringify(evals, null, 1) + "\n");
  return evals;
}
