/**
 * Sweeps: a study's grid (axes x values) run as trials, each one CLI call of the study's task
 * with its own run directory, on this machine (`local`) or as a Slurm job array (`slurm`), then
 * gathered into the study's report (`deno task sweep`, `deno task swap --executor slurm`,
 * `deno task pipeline --seeds ... --executor slurm`).
 *
 * Files: `spec.ts` (the spec and its expansion into trials), `study.ts`, `swap_study.ts` and
 * `pipeline_study.ts` (what a study tells the sweep; `studies.ts` lists them), `record.ts`
 * (`sweep.json` and the steps' attempts), `step.ts` (the step runner every job runs), `local.ts` and `slurm_executor.ts` (the
 * executors; `slurm.ts`: Slurm's commands), `status.ts` (every step's state, the overhead),
 * `gather.ts` (failed trials into the report), `sweep.ts` (create, run, resume, wait), `flags.ts`
 * (the executor options of the tasks).
 *
 * @module
 */

export {
  expandTrials,
  parseSweepSpec,
  type SlurmResources,
  type SweepSpec,
  type SweepSpecInput,
  type Trial,
} from "./spec.ts";
export type { SweepStudy, TrialOutcome } from "./study.ts";
export { SWEEP_STUDIES, sweepStudy } from "./studies.ts";
export { readSweep, type StepRef, type SweepRecord } from "./record.ts";
export { runStep } from "./step.ts";
export { slurmUnavailable } from "./slurm.ts";
export { logPath } from "./slurm_executor.ts";
export { formatStatus, type StepStatus, type SweepStatus, sweepStatus } from "./status.ts";
export { gatherSweep } from "./gather.ts";
export { createSweep, resolveSpec, startRound, submitGrid, waitSweep } from "./sweep.ts";
export {
  anySlurmFlag,
  argsForTrials,
  checkOwnedArgs,
  EXECUTOR_OPTIONS,
  type OwnedArgs,
  SLURM_FLAGS,
  slurmFromFlags,
} from "./flags.ts";
