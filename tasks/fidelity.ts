/**
 * `deno task fidelity`: our native games measured against real Atari (ALE) through the same
 * wrappers; writes `results/fidelity/` (REPORT.md, figures, raw numbers). Needs ale-py.
 *
 * @module
 */

import { join } from "node:path";
import { aleStatus } from "../lib/envs/ale.ts";
import {
  type FidelityConfig,
  measureFidelity,
  writeFidelityReport,
} from "../lib/studies/fidelity/mod.ts";
import { checkEnvConfig, CLEANRL_ATARI, type EnvConfig, evalEnvConfig } from "../lib/envs/make.ts";
import type { Presets } from "../lib/run/config.ts";
import { writeFileAtomic } from "../lib/run/atomic.ts";
import { checkConfig, parseTaskArgs, runTask, UsageError } from "./cli.ts";

/** The fidelity task's config. */
export interface FidelityTaskConfig {
  seed: number;
  games: string[];
  /** Whole games per policy, per game and env. */
  episodes: Record<string, { random: number; scripted: number }>;
  replay: { games: number; frames: number };
  env: EnvConfig;
}

const base: FidelityTaskConfig = {
  seed: 0,
  games: ["breakout", "pong"],
  // About 2-3 minutes on a 2-core machine, nearly all of it ALE.
  episodes: { breakout: { random: 100, scripted: 30 }, pong: { random: 30, scripted: 8 } },
  replay: { games: 3, frames: 5000 },
  // CleanRL's frame pipeline, evaluated on whole games with raw scores.
  env: { ...evalEnvConfig(CLEANRL_ATARI), frameStack: 1 },
};

const presets: Presets<FidelityTaskConfig> = {
  smoke: {
    ...base,
    episodes: { breakout: { random: 2, scripted: 1 }, pong: { random: 1, scripted: 1 } },
    replay: { games: 1, frames: 300 },
  },
  small: base,
  full: {
    ...base,
    episodes: { breakout: { random: 300, scripted: 100 }, pong: { random: 100, scripted: 30 } },
    replay: { games: 10, frames: 20_000 },
  },
};

const spec = {
  name: "fidelity",
  summary: "Plays native and real Atari (ALE) games through the same wrapper stack with a random " +
    "and a ball-tracking policy and compares return and length distributions, ball and paddle " +
    "speeds, the reset frame (brick layout and colours) and frame-exact replays of ALE games. " +
    "Writes REPORT.md, SVG figures and the raw numbers (JSON) to results/fidelity/. Needs " +
    "ale-py. Default: the small preset (a few minutes).",
  presets,
  flags: {
    seed: { key: "seed", help: "random seed (envs, policies)" },
  },
  options: { out: "output directory (default results/fidelity)" },
  examples: [
    "deno task fidelity",
    "deno task fidelity --set 'games=[breakout]' --set episodes.breakout.random=300",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const args = Deno.args.some((a) => a.startsWith("--preset"))
      ? Deno.args
      : ["--preset", "small", ...Deno.args];
    const { config, options } = parseTaskArgs(spec, args);
    const status = aleStatus();
    if (!status.available) throw new UsageError(status.error!);
    for (const game of config.games) {
      if (!config.episodes[game]) {
        throw new UsageError(`no episodes.${game} in the config (games: ${config.games})`);
      }
      checkConfig(() => checkEnvConfig({ ...config.env, id: `native:${game}` }));
      checkConfig(() => checkEnvConfig({ ...config.env, id: `ale:${game}` }));
    }
    const out = options.out ?? join("results", "fidelity");
    const start = performance.now();
    const sections: string[] = [];
    for (const game of config.games) {
      const fidelity: FidelityConfig = {
        game,
        episodes: config.episodes[game],
        seed: config.seed,
        env: config.env,
        replay: config.replay,
      };
      const result = measureFidelity(fidelity, (line) => console.error(`${game}: ${line}`));
      result.aleVersion = status.version;
      sections.push(await writeFidelityReport(out, result));
    }
    const minutes = ((performance.now() - start) / 60_000).toFixed(1);
    const report = [
      "# Fidelity: native games against real Atari (ALE)",
      "",
      `Written by \`deno task fidelity\` (ale-py ${status.version}, ${minutes} min). Each game's ` +
      "raw numbers are in `<game>.json`. How to read it: where a policy's returns and lengths " +
      "agree (large KS p), the native game is a stand-in for the real one for that policy; the " +
      "replays show how long the two stay identical frame for frame. What was fixed in the " +
      "native games after these comparisons, and the differences known to remain: NOTES.md.",
      "",
      ...sections,
      "## Config",
      "",
      "```json",
      JSON.stringify(config, null, 2),
      "```",
      "",
    ];
    await writeFileAtomic(join(out, "REPORT.md"), report.join("\n"));
    console.error(`report: ${join(out, "REPORT.md")}`);
  });
}
