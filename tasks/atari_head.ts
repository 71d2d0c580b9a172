/**
 * `deno task atari-head`: converts Atari-HEAD trials (a game folder, or trial files) into a
 * project dataset that every study reads.
 *
 * @module
 */

import { basename, join } from "node:path";
import { convertTrials, findTrials } from "../lib/data/atari_head/mod.ts";
import { CLEANRL_ATARI, gameActions, parseEnvId } from "../lib/envs/make.ts";
import { progressBars } from "../lib/run/progress.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import { parseTaskArgs, runTask, UsageError } from "./cli.ts";

const spec = {
  name: "atari-head",
  summary: "Converts Atari-HEAD trials (<trial>.tar.bz2 of 210x160 RGB PNG frames + <trial>.txt " +
    "labels) into a project dataset: frames through the training stack's gray and 84x84 area " +
    "resize, ALE actions mapped to the game's minimal set, unclipped rewards, one episode per " +
    "trial and episode id, and the trial, score, ALE action, decision time and mean gaze per " +
    "frame as state. Archives are streamed (never unpacked to disk); a malformed trial is an " +
    "error naming it and nothing is written.",
  options: {
    data: "an Atari-HEAD game folder (its highscore/ folder too), or a trial's .txt or .tar.bz2, " +
      "comma-separated for several (required)",
    out: "dataset directory (default data/atari-head-<game>)",
    env: "the dataset's env id (default ale:<game>, the game from the folder name; " +
      "native:<game> for trials recorded from our native games)",
    "run-dir": "run directory for log (default results/atari-head-<time>)",
  },
  examples: [
    "deno task atari-head --data ~/atari-head/breakout --out data/atari-head-breakout",
    "deno task atari-head --data data/atari-head/breakout-scripted-s0 --env native:breakout",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { options } = parseTaskArgs(spec);
    if (!options.data) throw new UsageError("--data is required (see --help)");
    const trials = (await Promise.all(options.data.split(",").map((p) => findTrials(p.trim()))))
      .flat();
    const envId = options.env ?? `ale:${basename(options.data.split(",")[0]).split(/[-_.]/)[0]}`;
    const { game } = parseEnvId(envId);
    let actionMeanings: readonly string[];
    try {
      actionMeanings = gameActions(envId);
    } catch (err) {
      throw new UsageError(`--env ${(err as Error).message}; name the game's env with --env`);
    }
    const out = options.out ?? join("data", `atari-head-${game}`);
    const run = await RunDir.open({
      task: "atari-head",
      config: { data: options.data, env: envId, out },
      dir: options["run-dir"],
      echo: (line) => console.error(line),
    });
    run.log(`converting ${trials.length} trial(s) of ${envId} -> ${out}`);
    const summary = await convertTrials(trials, out, {
      env: envId,
      actionMeanings,
      frame: CLEANRL_ATARI,
      meta: { data: options.data },
    }, progressBars());
    await run.finish();
    for (const note of summary.notes) run.log(`note: ${note}`);
    run.log(
      `wrote ${summary.frames} frames in ${summary.episodes} episodes from ${summary.trials} ` +
        `trial(s) to ${out} (${summary.skipped} frames without an action left out)`,
    );
  });
}
