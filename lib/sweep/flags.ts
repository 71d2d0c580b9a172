/**
 * The command-line options that choose a sweep's executor and its Slurm resources, shared by
 * `deno task sweep` and the studies' tasks that hand their grids over (`deno task swap
 * --executor slurm`).
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
