/**
 * The probe study of a set of frozen encoders (and optionally the raw-pixel baseline,
 * `pixelSubject`), written into a run directory: `probe.json`,
 * `PROBE.md`, one metric record per (encoder, features, variable), and the figures (R^2 bars,
 * PCA scatters of the pooled embeddings, k-NN retrieval per feature set). On a game the probe
 * benchmark knows (Breakout, Pong) it also asks the benchmark's question of the same rows
 * (`lib/studies/probe_bench`): AtariARI's linear classifier per state variable, F1 on the
 * held-out episodes beside the majority class, in `probe-bench.json` and PROBE.md's F1 tables.
 * Shared by `deno task probe` and the pipeline.
 *
 * @module
 */

import type { Dataset } from "../../data/reader.ts";
import {
  type EncoderFeatures,
  probeSplits,
  type ProbeSubject,
  retrieval,
} from "../../eval/encoder_probe.ts";
import { BREAKOUT_PROBES, type ProbeData, runProbes } from "../../eval/probe.ts";
import type { FrozenEncoder } from "../../models/encoder.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import type { RunDir } from "../../run/run_dir.ts";
import {
  type BenchRow,
  benchRows,
  benchVariables,
  checkStateKeys,
  CLASSIFIER_SCHEDULE,
  f1Tables,
  hasBenchVariables,
  majorityRows,
} from "../probe_bench/mod.ts";
import {
  pcaScatterSvg,
  probeBarsSvg,
  type ProbeRow,
  probeTableMarkdown,
  retrievalSvg,
} from "./probe_figures.ts";

/** What to probe and how. */
export interface ProbeStudyOptions {
  /** Stacks sampled from the training episodes and from the held-out ones. */
  rows: number;
  features: EncoderFeatures[];
  /** Principal directions per token of `grid` features. */
  gridComponents: number;
  stack: number;
  valFraction: number;
  seed: number;
  /** Named in PROBE.md's title. */
  datasetName: string;
}

/** Probes every encoder on every feature set; writes the files listed in the module doc. */
export async function writeProbeStudy(
  run: RunDir,
  encoders: (FrozenEncoder | ProbeSubject)[],
  ds: Dataset,
  opts: ProbeStudyOptions,
): Promise<ProbeRow[]> {
  const table: ProbeRow[] = [];
  const env = ds.manifest.env;
  const variables = hasBenchVariables(env) ? benchVariables(env) : null;
  if (variables) checkStateKeys(ds.path, ds.manifest.stateKeys, variables);
  const bench: BenchRow[] = variables
    ? majorityRows(ds, variables, {
      env,
      seed: opts.seed,
      stack: opts.stack,
      valFraction: opts.valFraction,
      rows: opts.rows,
    })
    : [];
  for (const features of opts.features) {
    const probeOpts = { ...opts, maxRows: opts.rows, features };
    const splits: Record<string, [ProbeData, ProbeData]> = {};
    for (const enc of encoders) {
      run.log(`probing ${enc.name} on ${features} features (${opts.rows} stacks per split)`);
      const [train, test] = probeSplits(enc, ds, probeOpts);
      splits[enc.name] = [train, test];
      for (const r of runProbes(train, test, BREAKOUT_PROBES)) {
        table.push({ encoder: enc.name, features, ...r });
        run.metric({ encoder: enc.name, features, ...r, f1: r.f1 ?? null });
      }
      if (variables) {
        bench.push(...benchRows(train, test, {
          env,
          seed: opts.seed,
          encoder: enc.name,
          features,
          variables,
          frameShape: ds.frameShape,
          ...CLASSIFIER_SCHEDULE,
        }));
      }
      if (features === "pooled" && "params" in enc) {
        for (const color of ["paddleX", "ballY"]) {
          await writeFileAtomic(
            run.path("figures", `pca_${enc.name}_${color}.svg`),
            pcaScatterSvg(enc.name, test, color),
          );
        }
      }
    }
    await writeFileAtomic(
      run.path("figures", `retrieval_${features}.svg`),
      retrievalSvg(retrieval(ds, probeOpts, splits, 6)),
    );
  }
  await writeFileAtomic(run.path("figures", "probe_r2.svg"), probeBarsSvg(table));
  const md = [
    `# Linear probes (held-out episodes of ${opts.datasetName})`,
    "",
    probeTableMarkdown(table),
    "",
    ...(bench.length
      ? [
        "AtariARI's question of the same rows (`deno task probe-bench`'s probe): a linear " +
        "classifier per state variable, one class per value, support-weighted F1 on the " +
        "held-out episodes; `majority` predicts the most frequent training value.",
        "",
        ...f1Tables(bench),
      ]
      : []),
    "Figures: `figures/probe_r2.svg` (R^2 per variable), `figures/pca_<encoder>_<var>.svg`, " +
    "`figures/retrieval_<features>.svg` (held-out query, then each encoder's nearest " +
    "training frame).",
  ].join("\n");
  await writeFileAtomic(run.path("probe.json"), JSON.stringify(table, null, 1) + "\n");
  if (bench.length) {
    await writeFileAtomic(
      run.path("probe-bench.json"),
      JSON.stringify({ env, rows: bench }, null, 1) + "\n",
    );
  }
  await writeFileAtomic(run.path("PROBE.md"), md + "\n");
  return table;
}
