/**
 * What a sweep is: a study, its preset and extra task arguments, the grid's axes, and where and
 * how the trials run. A spec comes from a YAML/JSON file (`deno task sweep run spec.yaml`) or
 * from a study's own grid (`deno task sweep run --study swap`, `deno task swap --executor
 * slurm`); {@linkcode expandTrials} turns its axes into trials, one CLI call of the study's task
 * each.
 *
 * A spec file:
 *
 * ```yaml
 * study: swap              # the study whose task each trial calls
 * preset: small            # its preset (default smoke)
 * args: [--backend, native] # more arguments of every call of the task
 * axes:                     # the grid (default: the study's own grid for the preset)
 *   conditions: [cnn, jepa_frozen]
 *   seeds: [0, 1, 2]
 * executor: slurm           # local | slurm (default local)
 * jobs: 2                   # local: trials at a time (default 1)
 * slurm:                    # slurm: resources of every trial (all optional)
 *   partition: gpu
 *   account: mylab
 *   time: "02:00:00"
 *   cpusPerTask: 4
 *   mem: 16G
 *   gres: gpu:1
 *   maxRunning: 8           # array tasks running at once (sbatch --array=...%8)
 *   extra: [--qos=normal]   # more sbatch options, as given
 * ```
 *
 * @module
 */

/** One value of an axis: a condition name, a seed, ... */
export type AxisValue = string | number;

/** Resources and placement of every Slurm job of a sweep (sbatch options; unset: the cluster's). */
export interface SlurmResources {
  /** `--partition`. */
  partition?: string;
  /** `--account`. */
  account?: string;
  /** `--time`, Slurm's format: `MM`, `HH:MM:SS`, `D-HH:MM:SS`. */
  time?: string;
  /** `--cpus-per-task`; a trial's native backend gets as many threads. */
  cpusPerTask?: number;
  /** `--mem` (per node), e.g. `8G`. */
  mem?: string;
  /** `--gres`, e.g. `gpu:1`. */
  gres?: string;
  /** Array tasks running at once (`--array=...%N`). */
  maxRunning?: number;
  /** More sbatch options, passed as given (e.g. `--qos=normal`). */
  extra?: string[];
}

/** Where the trials run. */
export type ExecutorKind = "local" | "slurm";

/** A sweep as given: everything but `study` has a default. */
export interface SweepSpecInput {
  study: string;
  preset?: string;
  args?: string[];
  axes?: Record<string, AxisValue[]>;
  executor?: ExecutorKind;
  jobs?: number;
  slurm?: SlurmResources;
}

/** A sweep with its defaults filled in (the axes by the study). */
export interface SweepSpec {
  study: string;
  preset: string;
  /** Arguments of every call of the study's task, after `--preset`. */
  args: string[];
  /** The grid: each axis' values, in the study's axis order. */
  axes: Record<string, AxisValue[]>;
  executor: ExecutorKind;
  /** Local executor: trials at a time. */
  jobs: number;
  slurm: SlurmResources;
}

/** One point of the grid: one CLI call of the study's task. */
export interface Trial {
  /** Its position in the expansion: the Slurm array index. */
  index: number;
  /** The study's name for it (also its run directory's name), e.g. `cnn-s0`. */
  name: string;
  /** Its value on each axis. */
  point: Record<string, AxisValue>;
}

const SPEC_KEYS = ["study", "preset", "args", "axes", "executor", "jobs", "slurm"];
const SLURM_KEYS: (keyof SlurmResources)[] = [
  "partition",
  "account",
  "time",
  "cpusPerTask",
  "mem",
  "gres",
  "maxRunning",
  "extra",
];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Checks a parsed spec file (or object) field by field; throws naming `origin`, the field and
 * what was expected.
 */
export function parseSweepSpec(value: unknown, origin: string): SweepSpecInput {
  if (!isRecord(value)) throw new Error(`${origin}: expected a mapping with at least 'study'`);
  for (const key of Object.keys(value)) {
    if (!SPEC_KEYS.includes(key)) {
      throw new Error(`${origin}: unknown field '${key}' (valid: ${SPEC_KEYS.join(", ")})`);
    }
  }
  const { study, preset, args, axes, executor, jobs, slurm } = value;
  if (typeof study !== "string" || !study) {
    throw new Error(`${origin}: study: expected a study name (e.g. swap), got ${show(study)}`);
  }
  if (preset !== undefined && typeof preset !== "string") {
    throw new Error(`${origin}: preset: expected a preset name, got ${show(preset)}`);
  }
  if (args !== undefined && !(Array.isArray(args) && args.every((a) => typeof a === "string"))) {
    throw new Error(`${origin}: args: expected a list of strings, got ${show(args)}`);
  }
  if (executor !== undefined && executor !== "local" && executor !== "slurm") {
    throw new Error(`${origin}: executor: expected local or slurm, got ${show(executor)}`);
  }
  if (jobs !== undefined && !(Number.isInteger(jobs) && (jobs as number) >= 1)) {
    throw new Error(`${origin}: jobs: expected an integer >= 1, got ${show(jobs)}`);
  }
  let checkedAxes: Record<string, AxisValue[]> | undefined;
  if (axes !== undefined) {
    if (!isRecord(axes)) throw new Error(`${origin}: axes: expected a mapping axis -> values`);
    checkedAxes = {};
    for (const [axis, values] of Object.entries(axes)) {
      if (
        !Array.isArray(values) || values.length === 0 ||
        !values.every((v) => typeof v === "string" || typeof v === "number")
      ) {
        throw new Error(
          `${origin}: axes.${axis}: expected a non-empty list of names or numbers, got ` +
            show(values),
        );
      }
      checkedAxes[axis] = values as AxisValue[];
    }
  }
  return {
    study,
    preset: preset as string | undefined,
    args: args as string[] | undefined,
    axes: checkedAxes,
    executor: executor as ExecutorKind | undefined,
    jobs: jobs as number | undefined,
    slurm: slurm === undefined ? undefined : parseSlurmResources(slurm, `${origin}: slurm`),
  };
}

/** Checks the `slurm` part of a spec; throws naming `origin` and the field. */
export function parseSlurmResources(value: unknown, origin: string): SlurmResources {
  if (!isRecord(value)) throw new Error(`${origin}: expected a mapping of sbatch resources`);
  const out: SlurmResources = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(SLURM_KEYS as string[]).includes(key)) {
      throw new Error(`${origin}: unknown field '${key}' (valid: ${SLURM_KEYS.join(", ")})`);
    }
    if (key === "cpusPerTask" || key === "maxRunning") {
      if (!(Number.isInteger(v) && (v as number) >= 1)) {
        throw new Error(`${origin}.${key}: expected an integer >= 1, got ${show(v)}`);
      }
      out[key] = v as number;
    } else if (key === "extra") {
      if (!(Array.isArray(v) && v.every((a) => typeof a === "string" && a.startsWith("-")))) {
        throw new Error(`${origin}.extra: expected a list of sbatch options, got ${show(v)}`);
      }
      out.extra = v as string[];
    } else {
      if (typeof v !== "string" || !v || /\s/.test(v)) {
        throw new Error(`${origin}.${key}: expected a value without spaces, got ${show(v)}`);
      }
      out[key as "partition" | "account" | "time" | "mem" | "gres"] = v;
    }
  }
  if (out.time !== undefined && !/^(\d+-)?\d+(:\d+){0,2}$/.test(out.time)) {
    throw new Error(
      `${origin}.time: expected Slurm's format (MM, HH:MM:SS or D-HH:MM:SS), got '${out.time}'`,
    );
  }
  return out;
}

/**
 * Every point of the grid, axes in `axisOrder` (the first varies slowest), each named by
 * `name`. Throws on an axis outside `axisOrder`, a missing or empty axis, a repeated value or a
 * repeated name.
 */
export function expandTrials(
  axes: Record<string, AxisValue[]>,
  opts: { axisOrder: readonly string[]; name: (point: Record<string, AxisValue>) => string },
): Trial[] {
  for (const axis of Object.keys(axes)) {
    if (!opts.axisOrder.includes(axis)) {
      throw new Error(
        `axes.${axis}: not an axis of this study (axes: ${opts.axisOrder.join(", ")})`,
      );
    }
  }
  let points: Record<string, AxisValue>[] = [{}];
  for (const axis of opts.axisOrder) {
    const values = axes[axis];
    if (!values?.length) throw new Error(`axes.${axis}: at least one value is needed`);
    if (new Set(values.map(String)).size !== values.length) {
      throw new Error(`axes.${axis}: repeated value in ${JSON.stringify(values)}`);
    }
    points = points.flatMap((p) => values.map((v) => ({ ...p, [axis]: v })));
  }
  const trials = points.map((point, index) => ({ index, name: opts.name(point), point }));
  const names = new Set<string>();
  for (const t of trials) {
    if (names.has(t.name)) throw new Error(`two trials are both named '${t.name}'`);
    names.add(t.name);
  }
  return trials;
}

function show(v: unknown): string {
  return v === undefined ? "nothing" : JSON.stringify(v);
}
