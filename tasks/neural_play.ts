/**
 * `deno task neural-play`: play Breakout inside a trained latent-action world model: `--random`
 * writes a GIF of random play in the model; `--serve` serves a page on localhost where a person
 * plays with the seed's keys.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/run/atomic.ts";
import {
  HumanSession,
  loadFinishedRun,
  MAPPING_FILE,
  NeuralGame,
  openForModel,
  randomPlayGif,
  readActionMapping,
  servePlay,
  startStack,
} from "../lib/studies/neural_breakout/mod.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { Rng } from "../lib/tensor/rng.ts";
import { parseTaskArgs, runTask } from "./cli.ts";

const spec = {
  name: "neural-play",
  summary: "Plays Breakout inside a trained latent-action world model (deno task " +
    "latent-action): each action becomes the code the study mapped it to, each predicted frame " +
    "joins the stack the next step reads, starting from a real held-out stack. --random writes " +
    "a GIF of random play in the model and prints the model's frames per second; --serve serves " +
    "a page on localhost (SPACE fire, LEFT/RIGHT arrows, PERIOD no-op, ESC or Q quit) with the " +
    "native game beside the model, whose play the page records as Atari-HEAD trials " +
    "(<run>/human-trials/, downloaded by the browser too).",
  options: {
    run: "the latent-action run directory (default results/latent-action-smoke)",
    dataset: "the dataset to start from (default: the one the run learned from)",
    out: "with --random: the GIF (default <run>/figures/neural_random.gif)",
    steps: "with --random: steps of play (default 200)",
    port: "with --serve: the port (default 8000)",
    seed: "random seed of --random's actions (default 0)",
    backend: "tfjs backend (default JEPA_BACKEND or auto)",
  },
  switches: { random: "write a GIF of random play", serve: "serve the play page" },
  examples: [
    "deno task neural-play --run results/latent-action-small --random",
    "deno task neural-play --run results/latent-action-small --serve --port 8000",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { options, switches } = parseTaskArgs(spec);
    if (!switches.random && !switches.serve) {
      throw new Error("choose --random (a GIF) or --serve (the page); --help says more");
    }
    const runDir = options.run ?? join("results", "latent-action-smoke");
    await initBackend({ backend: options.backend as "auto" | undefined });
    const { result, model, cfg } = loadFinishedRun(runDir);
    const ds = await openForModel(options.dataset ?? result.dataset, model, console.error);
    const mappingFile = join(runDir, MAPPING_FILE);
    if (!existsSync(mappingFile)) {
      throw new Error(
        `${mappingFile}: missing (a run of an older version; deno task latent-action --out ${runDir} writes it)`,
      );
    }
    const mapping = readActionMapping(mappingFile);
    const game = new NeuralGame(model, mapping, startStack(cfg, ds));
    if (switches.random) {
      const steps = Number(options.steps ?? 200);
      const t0 = performance.now();
      const gif = randomPlayGif(game, steps, new Rng(Number(options.seed ?? 0)));
      const fps = steps / ((performance.now() - t0) / 1000);
      const out = options.out ?? join(runDir, "figures", "neural_random.gif");
      await writeFileAtomic(out, gif);
      console.log(
        `${steps} steps of random play in the model (${
          fps.toFixed(1)
        } frames/s with the GIF): ${out}`,
      );
    }
    if (switches.serve) {
      const config = JSON.parse(readFileSync(join(runDir, "config.json"), "utf8"));
      const envId: string = config.data?.env ?? "native:breakout";
      const human = envId.startsWith("native:")
        ? new HumanSession(envId, join(runDir, "human-trials"))
        : null;
      const server = servePlay(game, {
        port: Number(options.port ?? 8000),
        actionMeanings: mapping.actionMeanings,
        human: human ?? undefined,
        onListen: (port) => {
          console.log(`playing at http://127.0.0.1:${port}/ (Ctrl-C stops)`);
          if (human) console.log(`recorded trials of ${envId} go to ${human.dir}`);
        },
      });
      await server.finished;
      human?.close();
    }
  });
}
