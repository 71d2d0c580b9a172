/**
 * The probe study of a set of frozen encoders (and optionally the raw-pixel baseline,
 * `pixelSubject`), written into a run directory: `probe.json`,
 * `PROBE.md`, one metric record per (encoder, features, variable), and the figures (R^2 bars,
 * PCA scatters of the pooled embeddings, k-NN retrieval per feature set). Shared by
 * `deno task probe` and the pipeline.
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
    "Figures: `figures/probe_r2.svg` (R^2 per variable), `figures/pca_<encoder>_<var>.svg`, " +
    "`figures/retrieval_<features>.svg` (held-out query, then each encoder's nearest " +
    "training frame).",
  ].join("\n");
  await writeFileAtomic(run.path("probe.json"), JSON.stringify(table, null, 1) + "\n");
  await writeFileAtomic(run.path("PROBE.md"), md + "\n");
  return table;
}
