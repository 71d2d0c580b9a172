/**
 * `deno task latent-action`: the latent-action world model of the neural Breakout, learned from
 * videos of play (collected here, or a recorded dataset), evaluated on held-out episodes
 * (lib/studies/neural_breakout/).
 *
 * @module
 */

import { join } from "node:path";
import { ensureDerivedDataset } from "../lib/data/derive.ts";
import { ensureDataset } from "../lib/data/ensure.ts";
import { openDataset } from "../lib/data/reader.ts";
import { checkEnvConfig, CLEANRL_ATARI } from "../lib/envs/make.ts";
import { progressBars } from "../lib/run/progress.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import {
  checkNeuralBreakoutConfig,
  NEURAL_BREAKOUT_PRESETS,
  type NeuralBreakoutConfig,
  runNeuralBreakoutStudy,
  writeNeuralReport,
} from "../lib/studies/neural_breakout/mod.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { disposeLatentAction } from "../lib/train/latent_action.ts";
import { checkConfig, envSlug, parseTaskArgs, runTask } from "./cli.ts";

const spec = {
  name: "latent-action",
  summary: "Learns latent actions from videos of play (a VQ-VAE over frame pairs: an encoder " +
    "infers one of K codes from (frame t, frame t+1), a world model predicts frame t+1 from a " +
    "stack ending at frame t and the code), then measures on held-out episodes next-frame PSNR " +
    "and SSIM beside copying the last frame, codebook use and perplexity, rollout PSNR against " +
    "the horizon with inferred and random codes, and Genie's controllability delta-t PSNR with " +
    "its interval. Writes NEURAL.md, metrics.json, a figure and a GIF under the run directory; " +
    "the same command resumes an interrupted run.",
  presets: NEURAL_BREAKOUT_PRESETS,
  flags: {
    seed: { key: "model.seed", help: "random seed (data, init, batches)" },
    steps: { key: "model.train.steps", help: "training steps" },
    codes: { key: "model.codes", help: "codebook size K" },
    env: { key: "data.env", help: "game to collect videos from (native:breakout, ale:breakout)" },
  },
  options: {
    dataset: "a project dataset to learn from, e.g. a recording of deno task record (frames " +
      "of another size or in color are made gray at the env's resize once, into " +
      "<dataset>-<h>x<w>-gray; default: collect into data/latent-action-<preset>-<env>-s<seed>)",
    out: "run directory (default results/latent-action-<preset>)",
    backend: "tfjs backend (default JEPA_BACKEND or auto)",
  },
  switches: { resume: "continue the run in --out (what a second call does anyway)" },
  examples: [
    "deno task latent-action --preset smoke",
    "deno task latent-action --preset small --out results/latent-action-small",
    "deno task latent-action --preset small --dataset data/record-breakout-dqn-s0 --codes 8",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { config, preset, options } = parseTaskArgs<NeuralBreakoutConfig>(spec);
    const env = { ...CLEANRL_ATARI, id: config.data.env };
    checkConfig(() => {
      checkEnvConfig(env);
      checkNeuralBreakoutConfig(config);
    });
    const backend = await initBackend({ backend: options.backend as "auto" | undefined });
    const run = await RunDir.open({
      task: "latent-action",
      config,
      dir: options.out ?? join("results", `latent-action-${preset}`),
      resume: true,
      echo: (l) => console.error(l),
    });
    run.log(`backend ${backend.backend}; run ${run.dir}`);
    const seed = config.model.seed;
    // A --dataset is brought to the frames the model reads (gray, the env's resize); the default
    // one is (re)collected unless it is current.
    const ds = options.dataset
      ? await ensureDerivedDataset(await openDataset(options.dataset), {
        grayscale: true,
        resize: env.resize,
      }, { log: (line) => run.log(line), onStep: progressBars() })
      : await ensureDataset(join("data", `latent-action-${preset}-${envSlug(env.id)}-s${seed}`), {
        seed,
        policy: config.data.policy,
        explore: config.data.explore,
        episodes: config.data.episodes,
        shardFrames: 4096,
        env,
      }, { log: (line) => run.log(line) });
    const { result, model } = await runNeuralBreakoutStudy(run, config, ds, {
      onStep: progressBars({ show: ["loss"] }),
    });
    const md = await writeNeuralReport(run, config, result, ds, model, preset);
    disposeLatentAction(model);
    await run.finish();
    console.log(md.split("\n").filter((l) => l.startsWith("|")).slice(0, 7).join("\n"));
    run.log(`report: ${join(run.dir, "NEURAL.md")}`);
  });
}
