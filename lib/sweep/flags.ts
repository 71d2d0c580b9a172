/**
 * The command-line options that choose a sweep's executor and its Slurm resources, shared by
 * `deno task sweep` and the studies' tasks that hand their grids over (`deno task swap
 * --executor slurm`); and which options of a study's task the sweep owns (the grid's axes, the
 * directory, the step's mode, the executor): the check that a spec's `args` leave them alone,
 * and a task's command line with them dropped, as its steps get it.
 *
 * @module
 */

import { parseSlurmResources, type SlurmResources } from "./spec.ts";

/** Help of each resource option (`--partition` ... `--max-running`), for a task's options. */
export const SLURM_FLAGS: Readonly<Record<string, string>> = {
  partition: "slurm: partition of every job (sbatch --partition)",
  account: "slurm: account to charge (sbatch --account)",
  time: "slurm: time limit of each trial, e.g. 02:00:00 (sbatch --time)",
  "cpus-per-task": "slurm: cores per trial; its native backend uses as many threads",
  mem: "slurm: memory per trial, e.g. 8G (sbatch --mem)",
  gres: "slurm: generic resources per trial, e.g. gpu:1 (sbatch --gres)",
  "max-running": "slurm: trials running at once (sbatch --array=...%N)",
};

const KEYS: Record<string, keyof SlurmResources> = {
  partition: "partition",
  account: "account",
  time: "time",
  "cpus-per-task": "cpusPerTask",
  mem: "mem",
  gres: "gres",
  "max-running": "maxRunning",
};

/**
 * The resources the options give, over `base` (a spec's); throws naming the option when a
 * value is not valid.
 */
export function slurmFromFlags(
  options: Record<string, string | undefined>,
  base: SlurmResources = {},
): SlurmResources {
  const out: SlurmResources = { ...base };
  for (const [flag, key] of Object.entries(KEYS)) {
    const text = options[flag];
    if (text === undefined) continue;
    const value = key === "cpusPerTask" || key === "maxRunning" ? Number(text) : text;
    try {
      Object.assign(out, parseSlurmResources({ [key]: value }, "slurm"));
    } catch (err) {
      // The spec's field name means nothing on the command line: name the option instead.
      const reason = (err as Error).message.replace(/^slurm\.\w+: /, "");
      throw new Error(`--${flag}: ${reason.replace(/got .*$/, `got '${text}'`)}`);
    }
  }
  return out;
}

/** Whether any resource option was given (they mean nothing to the local executor). */
export function anySlurmFlag(options: Record<string, string | undefined>): boolean {
  return Object.keys(KEYS).some((flag) => options[flag] !== undefined);
}

/** The options of a study's task that its sweep owns. */
export interface OwnedArgs {
  /** Options with a value (`--seeds 0,1`), besides the executor's. */
  options: readonly string[];
  /** Switches (`--report-only`). */
  switches: readonly string[];
  /** Config keys that are the grid's axes (`--set seeds=...` is refused, and stripped). */
  axisKeys: readonly string[];
}

/** The executor's options: only the submitting command reads them. */
export const EXECUTOR_OPTIONS: readonly string[] = [
  "--executor",
  ...Object.keys(SLURM_FLAGS).map((f) => `--${f}`),
];

/** The flag of a command-line token (`--a=b` -> `--a`), or null for a value. */
function flagOf(token: string): string | null {
  return token.startsWith("--") ? token.split("=", 1)[0] : null;
}

/** The key a `--set` assignment sets, when `args[i]` is one; and whether it took two tokens. */
function setKeyAt(args: readonly string[], i: number): { key: string; pair: boolean } | null {
  const a = args[i];
  const value = a === "--set" ? args[i + 1] : a.startsWith("--set=") ? a.slice(6) : undefined;
  return value === undefined ? null : { key: value.split("=", 1)[0].trim(), pair: a === "--set" };
}

/** Throws naming the argument when `args` sets something the sweep sets. */
export function checkOwnedArgs(owned: OwnedArgs, args: readonly string[]): void {
  const all = [...owned.options, ...owned.switches, ...EXECUTOR_OPTIONS];
  for (let i = 0; i < args.length; i++) {
    const flag = flagOf(args[i]);
    if (flag && all.includes(flag)) {
      throw new Error(
        `args: '${args[i]}' is set by the sweep (the grid goes in axes, the preset in preset, ` +
          `executor and resources in the spec); sweep-owned options: ${all.join(" ")}`,
      );
    }
    const set = setKeyAt(args, i);
    if (set && owned.axisKeys.includes(set.key)) {
      throw new Error(`args: '--set ${set.key}=...' sets an axis: give it as axes.${set.key}`);
    }
  }
}

/**
 * A task's own command line as its sweep's steps get it: without the options the sweep owns
 * (the grid goes in the axes, the preset in the spec) and without `--resume` (every step
 * resumes).
 */
export function argsForTrials(owned: OwnedArgs, args: readonly string[]): string[] {
  const withValue = [...owned.options, ...EXECUTOR_OPTIONS];
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const flag = flagOf(a);
    if (a === "--resume" || (flag && owned.switches.includes(flag))) continue;
    if (flag && withValue.includes(flag)) {
      if (!a.includes("=")) i++;
      continue;
    }
    const set = setKeyAt(args, i);
    if (set && owned.axisKeys.includes(set.key)) {
      if (set.pair) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** The value of an option among `args` (`--x v` or `--x=v`), the last one given. */
export function optionValue(args: readonly string[], flag: string): string | undefined {
  let value: string | undefined;
  args.forEach((a, i) => {
    if (a === flag && i + 1 < args.length) value = args[i + 1];
    else if (a.startsWith(`${flag}=`)) value = a.slice(flag.length + 1);
  });
  return value;
}
