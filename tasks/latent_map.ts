/**
 * `deno task latent-map`: the action -> latent mapping of a trained latent-action run (the
 * seed's part 4), fitted again on any recorded play: (action, inferred code) pairs from the
 * dataset's training games, a classifier from (frame stack, action) to code, its accuracy on
 * the held-out games beside each action's most common code and the most common code. The
 * mapping it fits is the one play uses (`<run>/mapping.json`); the table goes to `MAPPING.md`.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/run/atomic.ts";
import {
  actionLatentMapping,
  loadFinishedRun,
  MAPPING_FILE,
  mappingMarkdown,
  openForModel,
  writeActionMapping,
} from "../lib/studies/neural_breakout/mod.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { disposeLatentAction } from "../lib/train/latent_action.ts";
import { integerFlag, parseTaskArgs, runTask } from "./cli.ts";

const spec = {
  name: "latent-map",
  summary: "Fits the action -> latent mapping of a trained latent-action run (deno task " +
    "latent-action) on recorded play: pairs of (action, code the model infers from the frame " +
    "pair) from the dataset's training games, a classifier from (frame stack, action) to code, " +
    "scored on its held-out games beside each action's most common code and the most common " +
    "code. Writes <run>/mapping.json (what neural-play uses) and <run>/MAPPING.md.",
  options: {
    run: "the latent-action run directory (default results/latent-action-smoke)",
    dataset: "recorded play to fit on, e.g. of deno task record (default: the run's own videos)",
    rows: "transitions per side at most (default: the run's mapping.rows)",
    backend: "tfjs backend (default JEPA_BACKEND or auto)",
  },
  examples: [
    "deno task latent-map --run results/latent-action-small",
    "deno task latent-map --run results/latent-action-small --dataset data/record-dqn-pr20",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { options } = parseTaskArgs(spec);
    const runDir = options.run ?? join("results", "latent-action-smoke");
    const rowsFlag = options.rows === undefined ? undefined : integerFlag("rows", options.rows);
    await initBackend({ backend: options.backend as "auto" | undefined });
    const { result, model, cfg } = loadFinishedRun(runDir);
    const config = JSON.parse(readFileSync(join(runDir, "config.json"), "utf8"));
    const rows = rowsFlag ?? Number(config.mapping.rows);
    const ds = await openForModel(options.dataset ?? result.dataset, model, console.error);
    const t0 = performance.now();
    const mapping = actionLatentMapping(cfg, ds, model, rows);
    disposeLatentAction(model);
    await writeActionMapping(join(runDir, MAPPING_FILE), mapping);
    const md = [
      "# Action -> latent mapping",
      "",
      `Run ${runDir}; videos ${ds.path} (${ds.numFrames} frames, ${ds.episodes().length} games).`,
      "",
      ...mappingMarkdown(mapping),
    ].join("\n");
    await writeFileAtomic(join(runDir, "MAPPING.md"), md);
    console.log(md);
    console.log(
      `fitted in ${((performance.now() - t0) / 1000).toFixed(0)} s; ` +
        `${join(runDir, MAPPING_FILE)} is the mapping play uses now`,
    );
  });
}
