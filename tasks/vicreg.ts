/**
 * `deno task vicreg`: the VICReg JEPA, its EMA-only ablation and the pixel encoder-decoder,
 * trained on the same transitions and compared (lib/studies/vicreg/).
 *
 * @module
 */

import { join } from "node:path";
import { ensureDataset } from "../lib/data/ensure.ts";
import { openDataset } from "../lib/data/reader.ts";
import { checkEnvConfig, CLEANRL_ATARI } from "../lib/envs/make.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import { writeTransitionStudy } from "../lib/studies/vicreg/mod.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { VICREG_PRESETS, type VicregTaskConfig } from "../lib/studies/vicreg/mod.ts";
import { checkConfig, envSlug, parseTaskArgs, runTask } from "./cli.ts";
import { progressBars } from "../lib/run/progress.ts";

const spec = {
  name: "vicreg",
  summary: "Trains a VICReg JEPA (online ViT, EMA target, action-conditioned MLP predictor, MSE " +
    "+ VICReg variance and covariance), the same JEPA without the VICReg terms, and a ViT + " +
    "transformer decoder predicting the next frame's pixels, all on the same transitions " +
    "(s_t, a_t, s_t+1); compares next-step prediction in latent space, probes, collapse " +
    "statistics and pixel PSNR. Writes COMPARISON.md and figures under the run directory; " +
    "--resume continues an interrupted study (finished methods are not retrained).",
  presets: VICREG_PRESETS,
  flags: {
    seed: { key: "model.seed", help: "random seed (data, init, batches)" },
    steps: { key: "model.train.steps", help: "training steps per method" },
  },
  options: {
    env: "env to collect from (default native:breakout; ale:breakout needs ale-py)",
    dataset: "dataset directory (default: collect into data/vicreg-<preset>-<env>-s<seed>)",
    out: "run directory (default results/vicreg-<preset>-<time>)",
    backend: "tfjs backend (default JEPA_BACKEND or auto)",
  },
  switches: { resume: "continue the study in --out" },
  examples: [
    "deno task vicreg                       # smoke preset, about two minutes",
    "deno task vicreg --preset small --out results/vicreg-small",
    "deno task vicreg --set methods=[vicreg,ema-only]   # the ablation alone",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { config, preset, options, switches } = parseTaskArgs<VicregTaskConfig>(spec);
    const env = { ...CLEANRL_ATARI, id: options.env ?? CLEANRL_ATARI.id };
    checkConfig(() => checkEnvConfig(env));
    const backend = await initBackend({ backend: options.backend as "auto" | undefined });
    const out = options.out ?? join("results", `vicreg-${preset}-${Date.now().toString(36)}`);
    const run = await RunDir.open({
      task: "vicreg",
      config,
      dir: out,
      resume: switches.resume,
      echo: (l) => console.error(l),
    });
    run.log(`backend ${backend.backend}; run ${run.dir}`);
    const seed = config.model.seed;
    // A --dataset is used as it is; the default one is (re)collected unless it is current.
    const datasetDir = options.dataset ??
      join("data", `vicreg-${preset}-${envSlug(env.id)}-s${seed}`);
    const ds = options.dataset ? await openDataset(datasetDir) : await ensureDataset(datasetDir, {
      seed,
      policy: "scripted",
      explore: config.data.explore,
      episodes: config.data.episodes,
      shardFrames: 4096,
      env,
    }, { log: (line) => run.log(line) });
    await writeTransitionStudy(run.dir, config, ds, { resume: switches.resume }, {
      log: (line) => run.log(line),
      onStep: progressBars({ show: ["loss"] }),
    });
    await run.finish();
    console.log(Deno.readTextFileSync(join(run.dir, "COMPARISON.md")));
  });
}
