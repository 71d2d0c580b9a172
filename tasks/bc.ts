/**
 * `deno task bc`: the frame-to-action JEPA study (behaviour cloning on Atari-HEAD-format
 * demonstrations): every model variant trained and evaluated on held-out trials and in closed
 * loop, against its baselines; resumable.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { progressBars } from "../lib/run/progress.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import {
  BC_PRESETS,
  checkBcStudyConfig,
  runBcStudy,
  writeBcReport,
} from "../lib/studies/bc/mod.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { checkConfig, parseTaskArgs, runTask } from "./cli.ts";

const spec = {
  name: "bc",
  summary: "Frame-to-action JEPA (behaviour cloning): a context encoder reads frame stacks, a " +
    "predictor maps them to action embeddings, the nearest action is the prediction; variants of " +
    "encoder, target encoder, predictor and loss (MSE, cosine, InfoNCE) against the softmax " +
    "baseline, trained on the same held-out-by-trial split of Atari-HEAD-format demonstrations " +
    "(recorded here, given with --data, or synthetic), evaluated by accuracy, top-3, MRR and " +
    "confusion against the majority class and the action prior, and in closed loop against the " +
    "demonstrator and random play. Writes BC.md, bc.json and figures; resumable.",
  presets: BC_PRESETS,
  flags: {
    seed: { key: "seed", help: "random seed" },
    env: {
      key: "data.env",
      help: "the game of the demonstrations (native:breakout, ale:breakout)",
    },
    agent: {
      key: "data.record.agent",
      help: "a PPO checkpoint directory: record its play (instead of the scripted player)",
    },
  },
  options: {
    data: "demonstrations: an Atari-HEAD game folder or trial files, a project dataset, or " +
      "'synthetic' (default: recorded here, or synthetic for smoke)",
    out: "run directory (default results/bc-<preset>)",
    backend: "tfjs backend (default JEPA_BACKEND or auto)",
  },
  switches: { resume: "continue the run in --out (what a second call does anyway)" },
  examples: [
    "deno task bc --preset smoke",
    "deno task bc --preset small --out results/bc-small",
    "deno task bc --preset small --agent results/swap-small-native-breakout/runs/cnn-s0/checkpoints",
    "deno task bc --preset small --data ~/atari-head/breakout --env ale:breakout",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { config, options, preset } = parseTaskArgs(spec);
    if (options.data === "synthetic") config.data.source = "synthetic";
    else if (options.data) {
      config.data.source = "path";
      config.data.path = options.data;
    }
    checkConfig(() => checkBcStudyConfig(config));
    if (config.data.source === "path" && !existsSync(config.data.path)) {
      throw new Error(`--data ${config.data.path}: no such file or folder`);
    }
    const backend = await initBackend({ backend: options.backend as "auto" | undefined });
    const run = await RunDir.open({
      task: "bc",
      config,
      dir: options.out ?? join("results", `bc-${preset}`),
      resume: true,
      configChanges: "record",
      echo: (l) => console.error(l),
    });
    run.log(`backend ${backend.backend}; run ${run.dir}`);
    const result = await runBcStudy(run, config, { onStep: progressBars() });
    const md = await writeBcReport(run, config, result, preset);
    await run.finish();
    console.log(md.split("\n").filter((l) => l.startsWith("|")).join("\n"));
    run.log(`report: ${join(run.dir, "BC.md")}`);
  });
}
