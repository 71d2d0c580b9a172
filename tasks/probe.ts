/**
 * `deno task probe`: linear probes of a pretrained encoder (and a random-init encoder of the
 * same shape) on held-out episodes; writes probe.json, a markdown table and PCA figures.
 *
 * @module
 */

import { join } from "node:path";
import { openDataset } from "../lib/data/dataset.ts";
import { probeEncoder } from "../lib/eval/encoder_probe.ts";
import { pca2, type ProbeResult } from "../lib/eval/probe.ts";
import { writeFileAtomic } from "../lib/run/atomic.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import { Plot, plotToSvg } from "../lib/report/plot.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { loadPretrainedEncoder, randomEncoder } from "../lib/train/pretrain.ts";
import { parseTaskArgs, runTask, UsageError } from "./cli.ts";

const spec = {
  name: "probe",
  summary: "Probes frozen encoders for the game state: ridge R^2 per variable (ball x/y, paddle " +
    "x, bricks remaining, ball dx/dy from the 4-frame stack), F1 of binned positions and " +
    "1-nearest-neighbour R^2, on held-out episodes; compares with a random-init encoder of the " +
    "same shape. Writes probe.json, PROBE.md and PCA scatter plots.",
  options: {
    checkpoint: "checkpoint directory(ies) of pretrain runs, comma-separated (required)",
    dataset: "dataset to probe on (default: the pretrain run's dataset)",
    out: "run directory (default results/probe-<time>)",
    rows: "stacks sampled from the training and from the held-out episodes (default 3000)",
    backend: "tfjs backend (default JEPA_BACKEND or auto)",
  },
  examples: [
    "deno task probe --checkpoint results/smoke-ijepa/checkpoints --dataset data/pretrain-smoke-breakout-s0",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { options } = parseTaskArgs(spec);
    if (!options.checkpoint) throw new UsageError("--checkpoint is required (see --help)");
    if (!options.dataset) throw new UsageError("--dataset is required (see --help)");
    await initBackend({ backend: options.backend as "auto" | undefined });
    const run = await RunDir.open({
      task: "probe",
      config: options,
      dir: options.out,
      echo: (l) => console.error(l),
    });
    const ds = await openDataset(options.dataset);
    const rows = Number(options.rows ?? 3000);
    const encoders = options.checkpoint.split(",").map((dir) => loadPretrainedEncoder(dir.trim()));
    const cfg = encoders[0].cfg;
    const all = [...encoders.map((e) => e.encoder), randomEncoder(cfg, ds.frameShape)];
    const table: (ProbeResult & { encoder: string })[] = [];
    for (const enc of all) {
      run.log(`probing ${enc.name} (${rows} stacks per split)`);
      const { results, test } = probeEncoder(enc, ds, {
        stack: cfg.stack,
        valFraction: cfg.valFraction,
        seed: cfg.seed,
        maxRows: rows,
      });
      for (const r of results) {
        table.push({ encoder: enc.name, ...r });
        run.metric({ encoder: enc.name, ...r, f1: r.f1 ?? null });
      }
      const p = pca2(test.x, test.n, test.d);
      const points = Array.from({ length: test.n }, (_, i) => ({
        pc1: p[i * 2],
        pc2: p[i * 2 + 1],
        paddleX: test.state.paddleX[i],
        ballY: test.state.ballVisible[i] ? test.state.ballY[i] : NaN,
      }));
      for (const color of ["paddleX", "ballY"]) {
        await writeFileAtomic(
          run.path("figures", `pca_${enc.name}_${color}.svg`),
          plotToSvg({
            // Plot draws continuous legends on a canvas, which the headless DOM lacks: say it in words.
            title: `${enc.name}: PCA of held-out embeddings, ${color} dark (low) to bright (high)`,
            color: { scheme: "viridis" },
            marks: [
              Plot.dot(points.filter((d) => Number.isFinite(d[color as "ballY"])), {
                x: "pc1",
                y: "pc2",
                fill: color,
                r: 1.5,
              }),
            ],
          }),
        );
      }
    }
    const fmt = (
      v: number | undefined,
    ) => (v === undefined || Number.isNaN(v) ? "-" : v.toFixed(3));
    const md = [
      `# Linear probes (held-out episodes of ${options.dataset})`,
      "",
      "| encoder | variable | R^2 | F1 (binned) | 1-NN R^2 | train rows | test rows |",
      "|---|---|---:|---:|---:|---:|---:|",
      ...table.map((r) =>
        `| ${r.encoder} | ${r.variable} | ${fmt(r.r2)} | ${fmt(r.f1)} | ${
          fmt(r.knnR2)
        } | ${r.trainRows} | ${r.testRows} |`
      ),
    ].join("\n");
    await writeFileAtomic(run.path("probe.json"), JSON.stringify(table, null, 1) + "\n");
    await writeFileAtomic(run.path("PROBE.md"), md + "\n");
    await run.finish();
    console.log(md);
    run.log(`wrote ${join(run.dir, "PROBE.md")}`);
  });
}
