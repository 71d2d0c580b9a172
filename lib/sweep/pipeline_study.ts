/**
 * The pipeline as a sweep: its grid is seeds, each trial a whole pipeline run of one seed into
 * `<out>/s<seed>/` (lib/pipeline/seeds.ts), with no shared preparation (every seed collects its
 * own data and trains its own encoders):
 *
 * - trial: `deno task pipeline ... --seeds 0,1,2 --only-seed 1` runs seed 1's pipeline (its
 *   current phases are skipped, an interrupted one resumes from its checkpoint);
 * - gather: `deno task pipeline ... --seeds 0,1,2 --summary-only` writes `SEEDS.md` and
 *   `seeds.json` over the seed runs, listing failed ones with their errors.
 *
 * @module
 */

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { PIPELINE_PRESETS } from "../pipeline/pipeline.ts";
import { seedRunDir, seedState, writeSeedOutcome } from "../pipeline/seeds.ts";
import { parseConfigText } from "../run/config.ts";
import { optionValue } from "./flags.ts";
import type { AxisValue, Trial } from "./spec.ts";
import type { StepKind, SweepStudy, TrialOutcome } from "./study.ts";

const seedsArgs = (axes: Record<string, AxisValue[]>) => ["--seeds", axes.seeds.join(",")];

/** `deno task pipeline` over seeds as a {@linkcode SweepStudy}. */
export const PIPELINE_SWEEP: SweepStudy = {
  name: "pipeline",
  taskFile: "pipeline.ts",
  axes: ["seeds"],
  reportFile: "SEEDS.md",
  owned: {
    options: ["--seeds", "--seed", "--only-seed", "--preset", "--out"],
    switches: ["--summary-only"],
    axisKeys: ["seed"],
  },

  defaultAxes({ preset, args, cwd }) {
    if (!(preset in PIPELINE_PRESETS)) {
      throw new Error(
        `preset: unknown preset '${preset}' (valid: ${Object.keys(PIPELINE_PRESETS).join(", ")})`,
      );
    }
    // One seed unless told: the config's own (a --config file may give it).
    let seed = PIPELINE_PRESETS[preset as keyof typeof PIPELINE_PRESETS].seed;
    const configPath = optionValue(args, "--config");
    if (configPath) {
      const path = resolve(cwd, configPath);
      if (!existsSync(path)) throw new Error(`args: --config ${configPath}: no such file`);
      const values = parseConfigText(readFileSync(path, "utf8"), path) as Record<string, unknown>;
      if (typeof values?.seed === "number") seed = values.seed;
    }
    return { seeds: [seed] };
  },

  checkAxes(axes) {
    for (const s of axes.seeds ?? []) {
      if (!(typeof s === "number" && Number.isInteger(s) && s >= 0)) {
        throw new Error(`axes.seeds: expected integers >= 0, got ${JSON.stringify(s)}`);
      }
    }
  },

  trialName(point) {
    return `s${point.seeds}`;
  },

  stepArgs(step: StepKind, axes, trial?: Trial) {
    switch (step) {
      case "prepare":
        return null;
      case "trial":
        if (!trial) throw new Error("stepArgs: a trial step needs its trial");
        return [...seedsArgs(axes), "--only-seed", String(trial.point.seeds)];
      case "gather":
        return [...seedsArgs(axes), "--summary-only"];
    }
  },

  trialOutcome(out, trial): TrialOutcome {
    return seedState(seedRunDir(out, Number(trial.point.seeds)));
  },

  async recordFailure(out, trial, message) {
    const dir = seedRunDir(out, Number(trial.point.seeds));
    mkdirSync(dir, { recursive: true });
    await writeSeedOutcome(dir, { state: "failed", error: message });
  },
};
