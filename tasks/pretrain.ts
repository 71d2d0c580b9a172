/**
 * `deno task pretrain`: I-JEPA (or the pixel-autoencoder control) on frames of a collected
 * dataset; collects one first when none is given.
 *
 * @module
 */

import { join } from "node:path";
import { ensureDataset } from "../lib/data/ensure.ts";
import { openDataset } from "../lib/data/reader.ts";
import { checkEnvConfig, CLEANRL_ATARI } from "../lib/envs/make.ts";
import { paramSummary } from "../lib/nn/params.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { pretrain } from "../lib/train/pretrain.ts";
import { PRETRAIN_PRESETS } from "../lib/train/pretrain_presets.ts";
import { checkConfig, envSlug, parseTaskArgs, runTask } from "./cli.ts";
import { progressBars, stepRecorder } from "../lib/run/progress.ts";

/** Episodes of scripted Breakout collected per preset when no --dataset is given. */
const EPISODES = { smoke: 2, small: 20, full: 120 };

const spec = {
  name: "pretrain",
  summary: "Pretrains a ViT encoder on game frames with I-JEPA (--method ijepa) or the pixel " +
    "autoencoder control (--method ae). Writes results/<run-id>/ with config, log, metrics " +
    "(loss, lr, samples/s, collapse monitors) and checkpoints/; --resume continues a killed run " +
    "from its last checkpoint and ends where an uninterrupted run would.",
  presets: PRETRAIN_PRESETS,
  flags: {
    method: { key: "method", help: "ijepa | ae" },
    seed: { key: "seed", help: "random seed (init, data order, masks)" },
    steps: { key: "train.steps", help: "training steps" },
  },
  options: {
    dataset:
      "dataset directory (default: collect scripted play of --env into data/pretrain-<preset>-<env>)",
    env:
      "env to collect from when no --dataset is given (default native:breakout; ale:breakout needs ale-py)",
    out: "run directory (default results/pretrain-<method>-<time>)",
    backend:
      "tfjs backend: auto | tensorflow | webgpu | native | wasm | cpu (default JEPA_BACKEND or auto)",
  },
  switches: { resume: "continue the run in --out from its last checkpoint" },
  examples: [
    "deno task pretrain --method ijepa --preset smoke",
    "deno task pretrain --method ae --preset small --out results/ae-small",
    "deno task pretrain --preset small --out results/ae-small --resume",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { config, options, switches, preset } = parseTaskArgs(spec);
    const envConfig = { ...CLEANRL_ATARI, id: options.env ?? CLEANRL_ATARI.id };
    checkConfig(() => checkEnvConfig(envConfig));
    const backend = await initBackend({ backend: options.backend as "auto" | undefined });
    const out = options.out ??
      join("results", `pretrain-${config.method}-${Date.now().toString(36)}`);
    const run = await RunDir.open({
      task: "pretrain",
      config,
      dir: out,
      resume: switches.resume,
      echo: (l) => console.error(l),
    });
    run.log(`backend ${backend.backend}; run ${run.dir}`);

    // A --dataset is used as it is; the default one is (re)collected unless it is current.
    const datasetDir = options.dataset ??
      join("data", `pretrain-${preset}-${envSlug(envConfig.id)}-s${config.seed}`);
    const ds = options.dataset ? await openDataset(datasetDir) : await ensureDataset(datasetDir, {
      seed: config.seed,
      policy: "scripted",
      episodes: EPISODES[preset as keyof typeof EPISODES],
      shardFrames: 4096,
      env: envConfig,
    }, { log: (line) => run.log(line) });
    run.log(
      `dataset ${datasetDir}: ${ds.numFrames} frames ${
        ds.frameShape.join("x")
      }, ${ds.episodes().length} episodes`,
    );

    const result = await pretrain(config, ds, {
      checkpointDir: run.path("checkpoints"),
      resume: switches.resume,
    }, {
      log: (line) => run.log(line),
      onStep: stepRecorder({
        metric: (r) => run.metric(r),
        fields: { kind: "train" },
        loop: `pretrain ${config.method}`,
        then: progressBars({ show: ["loss", "lr", "samplesPerSec"] }),
      }),
      onMonitor: (m) => {
        run.metric({ kind: "monitor", ...m });
        run.log(
          `step ${m.step}: embedding std ${m.stdMean.toFixed(4)} (min ${
            m.stdMin.toFixed(4)
          }), effective rank ${m.effectiveRank.toFixed(2)}`,
        );
      },
    });
    run.log(`encoder parameters: ${JSON.stringify(paramSummary(result.encoder.params))}`);
    run.log(
      `done: ${result.steps} steps, last loss ${result.lastLoss.toFixed(5)}; checkpoint ${
        run.path("checkpoints")
      }`,
    );
    await run.finish();
  });
}
