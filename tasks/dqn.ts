/**
 * `deno task dqn`: DQN on Breakout with the seed project's exploration modes (Boltzmann +
 * prioritized replay, RND) and epsilon-greedy, over seeds, against random play; learning
 * curves, greedy play and state coverage. Resumable: the same command continues a stopped study.
 *
 * @module
 */

import { join } from "node:path";
import { progressBars } from "../lib/run/progress.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import {
  checkDqnStudyConfig,
  DQN_PRESETS,
  runDqnStudy,
  writeDqnReport,
} from "../lib/studies/dqn/mod.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { checkConfig, ENV_FLAG, parseTaskArgs, runTask } from "./cli.ts";

const list = (t: string) => t.split(",").map((s) => s.trim()).filter((s) => s.length > 0);

const spec = {
  name: "dqn",
  summary: "DQN (Double DQN, Huber loss, a replay buffer storing each frame once) on Breakout " +
    "with each exploration mode: Boltzmann with prioritized replay, Random Network Distillation, " +
    "and epsilon-greedy as the reference; every mode over several seeds, against random play " +
    "through the same wrappers for as many steps. Writes DQN.md (last-games return, greedy " +
    "play, state coverage: ball squares, paddle columns, bricks broken), learning and coverage " +
    "curves with seed bands, ball heatmaps and a GIF of the best agent, under --out. Every run " +
    "checkpoints its networks, replay buffer, env and RNG: the same command resumes exactly.",
  presets: DQN_PRESETS,
  flags: {
    env: { ...ENV_FLAG, key: "dqn.env.id" },
    exploration: {
      key: "modes",
      help: "exploration modes, comma-separated: boltzmann,rnd,epsilon (default all)",
      parse: list,
    },
    seeds: {
      key: "seeds",
      help: "training seeds, comma-separated (e.g. 0,1,2)",
      parse: (t: string) => list(t).map(Number),
    },
    steps: { key: "dqn.totalSteps", help: "env steps per run" },
  },
  options: {
    out: "run directory (default results/dqn-<preset>)",
    backend: "tfjs backend (default JEPA_BACKEND or auto)",
  },
  switches: { resume: "continue the run in --out (what a second call does anyway)" },
  examples: [
    "deno task dqn --preset smoke",
    "deno task dqn --preset small --exploration boltzmann --seeds 0",
    "deno task dqn --preset small --out results/dqn-small   # all modes, 3 seeds; resumable",
    "deno task dqn --preset small --exploration rnd,epsilon --steps 50000",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { config, options, preset } = parseTaskArgs(spec);
    checkConfig(() => checkDqnStudyConfig(config));
    const backend = await initBackend({ backend: options.backend as "auto" | undefined });
    const run = await RunDir.open({
      task: "dqn",
      config,
      dir: options.out ?? join("results", `dqn-${preset}`),
      resume: true,
      configChanges: "record",
      echo: (l) => console.error(l),
    });
    run.log(`backend ${backend.backend}; run ${run.dir}`);
    const result = await runDqnStudy(run, config, { onStep: progressBars() });
    const md = await writeDqnReport(run, config, result, preset);
    console.log(
      md.split("\n").filter((l) => l.startsWith("|")).slice(0, 2 + config.modes.length + 1).join(
        "\n",
      ),
    );
    run.log(`report: ${join(run.dir, "DQN.md")}`);
  });
}
