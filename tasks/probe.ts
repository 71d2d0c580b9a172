/**
 * `deno task probe`: linear probes of pretrained encoders (and a random-init encoder of the same
 * shape) on held-out episodes, on pooled and on token-grid features; writes probe.json, PROBE.md
 * and figures (R^2 bars, PCA scatters, k-NN retrieval).
 *
 * @module
 */

import { join } from "node:path";
import { openDataset } from "../lib/data/reader.ts";
import { type EncoderFeatures, GRID_COMPONENTS, pixelSubject } from "../lib/eval/encoder_probe.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import { writeProbeStudy } from "../lib/studies/pretrain/mod.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { loadEncoder, randomEncoder, requireVit } from "../lib/models/encoder.ts";
import { integerFlag, parseTaskArgs, runTask, UsageError } from "./cli.ts";

const FEATURES: EncoderFeatures[] = ["pooled", "grid"];

const spec = {
  name: "probe",
  summary: "Probes frozen encoders for the game state: ridge R^2 per variable (ball x/y, paddle " +
    "x, bricks remaining, ball dx/dy from the 4-frame stack), F1 of binned positions and " +
    "1-nearest-neighbour R^2, on held-out episodes, from pooled embeddings and from the token " +
    "grid; compares with a random-init encoder of the same shape and with the raw pixels. Writes probe.json, PROBE.md, " +
    "R^2 bars, PCA scatter plots and a k-NN retrieval figure.",
  options: {
    checkpoint: "checkpoint directory(ies) of pretrain runs, comma-separated (required)",
    dataset: "dataset to probe on (required)",
    out: "run directory (default results/probe-<time>)",
    rows: "stacks sampled from the training and from the held-out episodes (default 3000)",
    features: "feature sets, comma-separated: pooled, grid (default both)",
    "grid-components":
      `principal directions per token of grid features (default ${GRID_COMPONENTS})`,
    backend: "tfjs backend (default JEPA_BACKEND or auto)",
  },
  examples: [
    "deno task probe --checkpoint results/smoke-ijepa/checkpoints --dataset data/pretrain-smoke-breakout-s0",
    "deno task probe --checkpoint results/small-ijepa/checkpoints,results/small-ae/checkpoints " +
    "--dataset data/pretrain-small-breakout-s0",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { options } = parseTaskArgs(spec);
    if (!options.checkpoint) throw new UsageError("--checkpoint is required (see --help)");
    if (!options.dataset) throw new UsageError("--dataset is required (see --help)");
    const features = (options.features ?? FEATURES.join(",")).split(",").map((f) => f.trim());
    for (const f of features) {
      if (!FEATURES.includes(f as EncoderFeatures)) {
        throw new UsageError(`--features: unknown feature set "${f}" (expected pooled, grid)`);
      }
    }
    const gridComponents = options["grid-components"] === undefined
      ? GRID_COMPONENTS
      : integerFlag("grid-components", options["grid-components"]);
    const rows = options.rows === undefined ? 3000 : integerFlag("rows", options.rows, 10);
    await initBackend({ backend: options.backend as "auto" | undefined });
    const run = await RunDir.open({
      task: "probe",
      config: options,
      dir: options.out,
      echo: (l) => console.error(l),
    });
    const ds = await openDataset(options.dataset);
    const loaded = options.checkpoint.split(",").map((dir) => loadEncoder(dir.trim()));
    // The first encoder's pretraining decides the split (its held-out episodes) and the seed
    // the random control is drawn with, as its own initialisation was.
    const first = loaded[0];
    const { seed, valFraction } = first.record.source as { seed: number; valFraction: number };
    const stack = first.encoder.cfg.channels / ds.frameShape[2];
    // The raw-pixel baseline cuts the frames into the first encoder's patches.
    const { patch } = requireVit(first.encoder, "the raw-pixel baseline (first --checkpoint)").cfg;
    const encoders = [
      ...loaded.map((l) => l.encoder),
      randomEncoder(first.encoder.cfg, seed),
      pixelSubject(ds.frameShape, stack, patch),
    ];
    await writeProbeStudy(run, encoders, ds, {
      rows,
      features: features as EncoderFeatures[],
      gridComponents,
      stack,
      valFraction,
      seed,
      datasetName: options.dataset,
    });
    await run.finish();
    console.log(Deno.readTextFileSync(join(run.dir, "PROBE.md")));
  });
}
