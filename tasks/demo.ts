/**
 * `deno task demo`: the embedded default end to end. Collects a small dataset of native
 * Breakout with the ball-tracking policy, then writes a report under `results/<run-id>/`: a
 * frames gallery (what the agent sees), the perturbation gallery, a GIF of one episode, and
 * statistics with figures.
 *
 * @module
 */

import { join } from "node:path";
import { collectDataset } from "../lib/data/collect.ts";
import { openDataset } from "../lib/data/reader.ts";
import { checkEnvConfig, makeEnv } from "../lib/envs/make.ts";
import type { Presets } from "../lib/run/config.ts";
import { writeFileAtomic } from "../lib/run/atomic.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import {
  datasetFigures,
  datasetStats,
  episodeGif,
  perturbationGallery,
} from "../lib/studies/demo/mod.ts";

import { encodePng, tileFrames, upscaleNearest } from "../lib/viz/png.ts";
import { COLLECT_PRESETS, type CollectTaskConfig } from "./collect.ts";
import {
  checkConfig,
  ENV_FLAG,
  envSlug,
  GAME_FLAG,
  parseTaskArgs,
  rejectBothEnvFlags,
  runTask,
} from "./cli.ts";
import { progressBars, stepRecorder } from "../lib/run/progress.ts";

const base = COLLECT_PRESETS.smoke;
const presets: Presets<CollectTaskConfig> = {
  smoke: { ...base, episodes: 2 },
  small: { ...base, episodes: 3 },
  full: { ...base, episodes: 20 },
};

const spec = {
  name: "demo",
  summary:
    "Collects a small dataset of native Breakout (or the env given by --env; ball-tracking " +
    "policy, CleanRL frame pipeline) into data/, then writes results/<run-id>/REPORT.md with a " +
    "frames gallery, the perturbation gallery, a GIF of one episode and statistics figures. " +
    "Default: the small preset.",
  presets,
  flags: {
    env: ENV_FLAG,
    game: GAME_FLAG,
    episodes: { key: "episodes", help: "number of games to collect" },
    seed: { key: "seed", help: "random seed" },
  },
  options: { out: "run directory (default results/demo-<time>)" },
};

if (import.meta.main) {
  runTask(async () => {
    const args = Deno.args.some((a) => a.startsWith("--preset"))
      ? Deno.args
      : ["--preset", "small", ...Deno.args];
    rejectBothEnvFlags(args);
    const { config, options } = parseTaskArgs(spec, args);
    checkConfig(() => checkEnvConfig(config.env));
    const run = await RunDir.open({
      task: "demo",
      config,
      dir: options.out,
      echo: (l) => console.error(l),
    });
    const game = config.env.id.split(":").pop()!;
    const datasetDir = join("data", `demo-${envSlug(config.env.id)}-s${config.seed}`);

    run.log(`1/4 collecting ${config.episodes} episodes of ${config.env.id} -> ${datasetDir}`);
    const summary = await collectDataset(
      datasetDir,
      config,
      stepRecorder({
        metric: (r) => run.metric(r),
        fields: { kind: "episode" },
        then: progressBars(),
      }),
    );

    run.log("2/4 reading the dataset back (checksums verified) and computing statistics");
    const ds = await openDataset(datasetDir);
    const probe = makeEnv(config.env);
    const stats = datasetStats(datasetDir, probe.spec.actionMeanings);
    probe.close();
    const figures = datasetFigures(stats, game);
    for (const [name, svg] of Object.entries(figures)) {
      await writeFileAtomic(run.path("figures", `${name}.svg`), svg);
    }

    run.log("3/4 frames gallery, perturbation gallery and an episode GIF");
    const [h, w] = ds.frameShape;
    const c = ds.frameShape[2] as 1 | 3;
    const first = ds.episodes()[0];
    const picks = Array.from(
      { length: 16 },
      (_, i) => first.start + Math.floor((i * (first.length - 1)) / 15),
    );
    const gallery = tileFrames(picks.map((i) => ds.frame(i)), {
      width: w,
      height: h,
      channels: c,
      columns: 8,
    });
    await writeFileAtomic(
      run.path("frames_gallery.png"),
      encodePng(
        upscaleNearest(gallery.data, gallery.width, gallery.height, c, 2),
        gallery.width * 2,
        gallery.height * 2,
        c as 1,
      ),
    );
    const perturbed = perturbationGallery({ envId: config.env.id, seed: config.seed });
    await writeFileAtomic(
      run.path("perturbation_gallery.png"),
      encodePng(perturbed.data, perturbed.width, perturbed.height, 3),
    );
    await writeFileAtomic(
      run.path("episode0.gif"),
      episodeGif(ds, first.episode, { scale: 2, maxFrames: 400 }),
    );

    run.log("4/4 writing REPORT.md");
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const lines = [
      `# Demo: ${config.env.id}, ${config.policy} policy`,
      "",
      `Dataset \`${datasetDir}\`: ${ds.numFrames} frames of ${h}x${w}x${c} in ${ds.manifest.shards.length} shard(s), ` +
      `${stats.episodes.length} episodes, collected in ${
        summary.seconds.toFixed(1)
      } s (seed ${config.seed}).`,
      "",
      `Mean return ${mean(summary.returns).toFixed(1)}, mean length ${
        mean(summary.lengths).toFixed(0)
      } agent steps.`,
      "",
      "| episode | length (steps) | return | lives lost |",
      "|---:|---:|---:|---:|",
      ...stats.episodes.map((e) => `| ${e.episode} | ${e.length} | ${e.return} | ${e.livesLost} |`),
      "",
      "## What the agent sees (episode 0, 84x84 gray after skip 4 + max-pool, shown 2x)",
      "",
      "![frames](frames_gallery.png)",
      "",
      "![episode 0](episode0.gif)",
      "",
      `## Perturbation levels (rows: ${perturbed.levels.join(", ")}; columns: agent steps ${
        perturbed.moments.join(", ")
      })`,
      "",
      "![perturbations](perturbation_gallery.png)",
      "",
      "## Statistics",
      "",
      ...Object.keys(figures).map((name) => `![${name}](figures/${name}.svg)\n`),
      "## Config",
      "",
      "```json",
      JSON.stringify(config, null, 2),
      "```",
    ];
    await writeFileAtomic(run.path("REPORT.md"), lines.join("\n") + "\n");
    await run.finish();
    run.log(`report: ${join(run.dir, "REPORT.md")}`);
  });
}
