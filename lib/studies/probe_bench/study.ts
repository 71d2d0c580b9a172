/**
 * The probe benchmark (AtariARI's protocol, Anand et al. 2019) run into a run directory: per
 * seed, one dataset of mixed play, every encoder made on its training episodes
 * (`encoders.ts`), and each probed on the held-out episodes with a linear classifier per state
 * variable (F1, AtariARI's measure) and a ridge regression (R^2, ours) on the same rows.
 *
 * Files: `<run>/seed-<s>/encoders/<encoder>/` (checkpoints and the finished encoder),
 * `<run>/seed-<s>/rows/<encoder>.json` (that encoder's rows, written atomically). Both carry a
 * key of what made them (the encoder's spec, the data, the seed; the probe's settings for the
 * rows): a resumed run keeps what matches the config and remakes the rest, so adding an ablation
 * row or changing one method's config redoes only those. At the end `probe-bench.json`, `PROBE_BENCH.md` and
 * `figures/probe_bench_f1.svg` (`report.ts`); every training step is a `metrics.jsonl` record
 * (`kind: "train"`, seed, encoder, step, loss, ...).
 *
 * @module
 */

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { classifierF1s, valueF1 } from "../../eval/classifier.ts";
import { collapseStats } from "../../eval/collapse.ts";
import { probeSplits, probeStacks } from "../../eval/encoder_probe.ts";
import { type ProbeData, probeRows, r2Score, runProbes } from "../../eval/probe.ts";
import { splitEpisodes } from "../../data/batches.ts";
import type { Dataset } from "../../data/reader.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import { configHash } from "../../run/config.ts";
import { type OnStep, stepRecorder } from "../../run/progress.ts";
import type { RunDir } from "../../run/run_dir.ts";
import { encoderSpec, ijepaRows, makeEncoder } from "./encoders.ts";
import type { ProbeBenchConfig } from "./presets.ts";
import {
  type BenchVariable,
  benchVariables,
  checkStateKeys,
  classLabels,
  probeVariable,
} from "./variables.ts";

/** One probe result: an encoder's F1 and R^2 for one variable on one seed's held-out episodes. */
export interface BenchRow {
  env: string;
  seed: number;
  encoder: string;
  /** `pooled`, `grid`, or `none` for the majority class (which reads no features). */
  features: string;
  variable: string;
  atariari: string;
  category: string;
  f1: number;
  r2: number;
  trainRows: number;
  testRows: number;
}

/** An encoder's collapse statistics (pooled output on the held-out rows) and its training. */
export interface EncoderRow {
  env: string;
  seed: number;
  encoder: string;
  width: number;
  effectiveRank: number;
  stdMean: number;
  steps: number;
  /** Seconds of training in the session that finished it (0: untrained, or not recorded). */
  seconds: number;
}

/** The rows of one encoder on one seed, as stored in `rows/<encoder>.json`. */
interface StoredRows {
  /** {@linkcode rowsKey} of what made them. */
  key: string;
  rows: BenchRow[];
  encoder: EncoderRow | null;
}

/** What an encoder's keys are made of besides its name. */
export interface KeyInputs {
  cfg: ProbeBenchConfig;
  seed: number;
  variables: BenchVariable[];
  /** The dataset's frames `[h, w, c]` (the supervised heads class positions by them). */
  frameShape: readonly number[];
}

/**
 * The key of an encoder's trained files on one seed: its spec ({@linkcode encoderSpec}), the
 * data, the frame stack, the split and the seed, hashed.
 */
export function encoderKey(name: string, k: KeyInputs): string {
  const { env, data, stack, valFraction } = k.cfg;
  const spec = encoderSpec(name, k.cfg, k.variables, k.frameShape);
  return configHash({ env, data, stack, valFraction, seed: k.seed, spec });
}

/** The key of an encoder's rows: its {@linkcode encoderKey}, the probe's settings, the labels. */
export function rowsKey(name: string, k: KeyInputs): string {
  return configHash({ encoder: encoderKey(name, k), probe: k.cfg.probe, variables: k.variables });
}

/** What the benchmark reports as it goes. */
export interface ProbeBenchHooks {
  log?(line: string): void;
  /** Each training step (loop `<seed>/<encoder>`) and each encoder probed (loop `probe-bench`). */
  onStep?: OnStep;
}

/** Where each seed's dataset comes from: opened or collected for that seed. */
export type DatasetForSeed = (seed: number) => Promise<Dataset>;

/** The rows of every seed and encoder (made, probed, or read back from an earlier session). */
export async function runProbeBench(
  run: RunDir,
  cfg: ProbeBenchConfig,
  datasetFor: DatasetForSeed,
  hooks: ProbeBenchHooks = {},
): Promise<{ rows: BenchRow[]; encoders: EncoderRow[] }> {
  const variables = benchVariables(cfg.env);
  const names = [
    ...cfg.encoders.flatMap((e) => (e === "ijepa" ? ijepaRows(cfg) : [e])),
    ...cfg.artifacts.map((a) => a.name),
  ];
  const rows: BenchRow[] = [];
  const encoders: EncoderRow[] = [];
  let done = 0;
  for (const seed of cfg.seeds) {
    const ds = await datasetFor(seed);
    checkStateKeys(ds.path, ds.manifest.stateKeys, variables);
    for (const name of names) {
      const file = rowsFile(run.dir, seed, name);
      const key = rowsKey(name, { cfg, seed, variables, frameShape: ds.frameShape });
      let stored = readStoredRows(file);
      if (stored && stored.key !== key) {
        run.log(`seed ${seed}: ${name}'s rows were made with another config: probing again`);
        stored = null;
      }
      if (!stored) {
        const labelOpts = {
          env: cfg.env,
          seed,
          stack: cfg.stack,
          valFraction: cfg.valFraction,
          rows: cfg.probe.rows,
        };
        const made = name === "majority"
          ? { rows: majorityRows(ds, variables, labelOpts), encoder: null }
          : name === "oracle"
          ? {
            rows: oracleRows(ds, variables, {
              ...labelOpts,
              epochs: cfg.probe.epochs,
              patience: cfg.probe.patience,
            }),
            encoder: null,
          }
          : await probeOne(name, { cfg, seed, ds, variables, run, hooks });
        stored = { key, ...made };
        mkdirSync(dirname(file), { recursive: true });
        await writeFileAtomic(file, JSON.stringify(stored) + "\n");
      }
      rows.push(...stored.rows);
      if (stored.encoder) encoders.push(stored.encoder);
      hooks.onStep?.({
        loop: "probe-bench",
        step: ++done,
        total: names.length * cfg.seeds.length,
        values: {},
      });
    }
  }
  return { rows, encoders };
}

/** Makes one encoder and probes it on every feature set. */
async function probeOne(
  name: string,
  ctx: {
    cfg: ProbeBenchConfig;
    seed: number;
    ds: Dataset;
    variables: BenchVariable[];
    run: RunDir;
    hooks: ProbeBenchHooks;
  },
): Promise<Omit<StoredRows, "key">> {
  const { cfg, seed, ds, variables, run, hooks } = ctx;
  const made = await makeEncoder(name, {
    cfg,
    seed,
    ds,
    variables,
    dir: run.path(`seed-${seed}`, "encoders"),
    key: encoderKey(name, { cfg, seed, variables, frameShape: ds.frameShape }),
    log: (line) => run.log(line),
    // Every training step lands in metrics.jsonl (kind "train"), for the learning curves.
    onStep: stepRecorder({
      metric: (r) => run.metric(r),
      fields: { kind: "train", seed, encoder: name },
      loop: `s${seed} ${name}`,
      then: hooks.onStep,
    }),
  });
  if (made.trained) {
    run.log(`seed ${seed}: ${name} trained ${made.steps} steps in ${made.seconds.toFixed(0)} s`);
  }
  const rows: BenchRow[] = [];
  let encoder: EncoderRow | null = null;
  for (const features of cfg.probe.features) {
    const t0 = performance.now();
    const [train, test] = probeSplits(made.subject, ds, {
      stack: cfg.stack,
      valFraction: cfg.valFraction,
      seed,
      maxRows: cfg.probe.rows,
      features,
      gridComponents: cfg.probe.gridComponents,
    });
    rows.push(...benchRows(train, test, {
      env: cfg.env,
      seed,
      encoder: name,
      features,
      variables,
      frameShape: ds.frameShape,
      epochs: cfg.probe.epochs,
      patience: cfg.probe.patience,
    }));
    if (features === "pooled") {
      const stats = collapseStats(test.x, test.n, test.d);
      encoder = {
        env: cfg.env,
        seed,
        encoder: name,
        width: test.d,
        ...stats,
        steps: made.steps,
        seconds: made.seconds,
      };
    }
    run.log(
      `seed ${seed}: ${name} ${features} probed in ${
        ((performance.now() - t0) / 1000).toFixed(0)
      } s, ` +
        `mean F1 ${mean(rows.filter((r) => r.features === features).map((r) => r.f1)).toFixed(3)}`,
    );
  }
  return { rows, encoder };
}

/** What one encoder's rows on one feature set are made with, besides its probe data. */
export interface BenchProbeContext {
  env: string;
  seed: number;
  encoder: string;
  features: string;
  variables: BenchVariable[];
  /** The dataset's frames `[h, w, c]`: positions are classed by their pixels. */
  frameShape: readonly number[];
  /** The classifier's epoch limit and early-stopping patience. */
  epochs: number;
  patience: number;
}

/**
 * The benchmark's rows of one encoder on one feature set: per variable, the linear classifier's
 * F1 on the held-out rows (one class per value, positions per observation pixel) and the ridge
 * R^2 on the same rows. `train` and `test` hold the raw state (`probeSplits`).
 */
export function benchRows(train: ProbeData, test: ProbeData, ctx: BenchProbeContext): BenchRow[] {
  const { variables, frameShape, seed } = ctx;
  const probeVars = variables.map(probeVariable);
  const [tr, te] = [train, test].map((d) => ({
    ...d,
    state: classLabels(d.state, variables, frameShape),
  }));
  const ridge = runProbes(tr, te, probeVars);
  const f1 = classifierF1s(tr, te, probeVars, {
    seed,
    epochs: ctx.epochs,
    patience: ctx.patience,
  });
  return variables.map((v) => {
    const r = ridge.find((p) => p.variable === v.key)!;
    return row(ctx.env, seed, ctx.encoder, ctx.features, v, {
      f1: f1[v.key],
      r2: r.r2,
      train: r.trainRows,
      test: r.testRows,
    });
  });
}

/** The options of the label-only rows (majority class, oracle): the split and the rows. */
export interface LabelRowsOptions {
  env: string;
  seed: number;
  stack: number;
  valFraction: number;
  rows: number;
}

/** The probes' train and held-out rows of a seed with their raw state, and no features. */
function labelledSplits(ds: Dataset, opts: LabelRowsOptions): [ProbeData, ProbeData] {
  const { seed } = opts;
  const { train, val } = splitEpisodes(ds, { valFraction: opts.valFraction, seed });
  const stackOpts = { stack: opts.stack, seed, maxRows: opts.rows };
  const [tr, te] = [train, val].map((eps) => {
    const s = probeStacks(ds, eps, stackOpts);
    return { x: new Float32Array(0), n: s.n, d: 0, state: s.state, groups: s.groups };
  });
  return [tr, te];
}

/**
 * The majority-class baseline: every test row predicted as the most frequent training value
 * (F1), or as the training mean (R^2), on the same sampled rows as every encoder's probe.
 */
export function majorityRows(
  ds: Dataset,
  variables: BenchVariable[],
  opts: LabelRowsOptions,
): BenchRow[] {
  const [tr, te] = labelledSplits(ds, opts).map((d) => ({
    ...d,
    state: classLabels(d.state, variables, ds.frameShape),
  }));
  return variables.map((v) => {
    const pv = probeVariable(v);
    const trainValues = probeRows(tr, pv).map((i) => tr.state[v.key][i]);
    const truth = probeRows(te, pv).map((i) => te.state[v.key][i]);
    const counts = new Map<number, number>();
    for (const x of trainValues) counts.set(x, (counts.get(x) ?? 0) + 1);
    const mode = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0] ?? NaN;
    const avg = mean(trainValues);
    const ok = trainValues.length >= 2 && truth.length >= 2;
    return row(opts.env, opts.seed, "majority", "none", v, {
      f1: ok ? valueF1(truth, truth.map(() => mode)) : NaN,
      r2: ok ? r2Score(truth, truth.map(() => avg)) : NaN,
      train: trainValues.length,
      test: truth.length,
    });
  });
}

/**
 * The probes' own ceiling for a linear code: an "encoder" whose features are the true
 * variables themselves, one number each (as classed), plus each `when` flag (undefined values
 * read 0), probed like every encoder on the same rows. A ridge fit reads them exactly; the
 * classifier's F1 says how much of a variable of many classes (a position classed per pixel) a
 * linear softmax recovers from a perfectly informative feature that codes it linearly: an
 * encoder scoring below it on that variable may still hold it exactly.
 */
export function oracleRows(
  ds: Dataset,
  variables: BenchVariable[],
  opts: LabelRowsOptions & { epochs: number; patience: number },
): BenchRow[] {
  // One flag per distinct `when` key, defined as the probes define it.
  const probeVars = variables.map(probeVariable);
  const flags = probeVars.filter((pv, j) =>
    pv.when && variables.findIndex((v) => v.when === variables[j].when) === j
  );
  const [tr, te] = labelledSplits(ds, opts).map((d) => {
    const classed = classLabels(d.state, variables, ds.frameShape);
    const width = variables.length + flags.length;
    const x = new Float32Array(d.n * width);
    for (let i = 0; i < d.n; i++) {
      probeVars.forEach((pv, j) => {
        x[i * width + j] = pv.when?.(d.state, i) ?? true ? classed[pv.name][i] : 0;
      });
      flags.forEach((
        pv,
        j,
      ) => (x[i * width + variables.length + j] = pv.when!(d.state, i) ? 1 : 0));
    }
    return { ...d, x, d: width };
  });
  return benchRows(tr, te, {
    env: opts.env,
    seed: opts.seed,
    encoder: "oracle",
    features: "none",
    variables,
    frameShape: ds.frameShape,
    epochs: opts.epochs,
    patience: opts.patience,
  });
}

function row(
  env: string,
  seed: number,
  encoder: string,
  features: string,
  v: BenchVariable,
  r: { f1: number; r2: number; train: number; test: number },
): BenchRow {
  return {
    env,
    seed,
    encoder,
    features,
    variable: v.key,
    atariari: v.atariari,
    category: v.category,
    f1: r.f1,
    r2: r.r2,
    trainRows: r.train,
    testRows: r.test,
  };
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** A rows file, or null when there is none; a damaged one is an error naming it. */
function readStoredRows(file: string): StoredRows | null {
  if (!existsSync(file)) return null;
  let stored: StoredRows;
  try {
    stored = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(
      `${file}: not a JSON rows file (${(err as Error).message}); delete it to probe again`,
    );
  }
  if (typeof stored?.key !== "string" || !Array.isArray(stored.rows)) {
    throw new Error(`${file}: expected { key, rows, encoder }; delete it to probe again`);
  }
  // JSON has no NaN: an undefined score comes back as null.
  for (const r of stored.rows) {
    r.f1 ??= NaN;
    r.r2 ??= NaN;
  }
  return stored;
}

/** Where a seed's rows live (for tests and notebooks that read one encoder's rows). */
export function rowsFile(runDir: string, seed: number, encoder: string): string {
  return join(runDir, `seed-${seed}`, "rows", `${encoder.replace(":", "-")}.json`);
}
