/**
 * A seed sweep of the pipeline: the same config run with several seeds, each into its own run
 * directory `<out>/s<seed>/` (a complete pipeline run with its own `REPORT.md`), then `SEEDS.md`
 * and `seeds.json` in `<out>`: every seed's headline numbers side by side with their mean ± std,
 * and every seed that failed or never finished listed as such, never dropped.
 *
 * A seed run records how it ended in `<out>/s<seed>/outcome.json` (`done`, or `failed` with the
 * error); the file is removed when the run starts, so a run that was killed has none.
 *
 * @module
 */

import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../run/atomic.ts";
import { readPhaseRecord } from "./runner.ts";

/** The run directory of one seed of a seed sweep in `out`. */
export function seedRunDir(out: string, seed: number): string {
  return join(out, `s${seed}`);
}

/** `outcome.json` of a seed run. */
export interface SeedOutcome {
  state: "done" | "failed";
  /** `failed`: why. */
  error?: string;
  endedAt: string;
}

/** What is known of one seed's run. */
export type SeedState = "done" | "failed" | "incomplete" | "not started";

const OUTCOME = "outcome.json";

/** Forgets how an earlier run of this seed ended: called as a seed run starts. */
export function clearSeedOutcome(runDir: string): void {
  rmSync(join(runDir, OUTCOME), { force: true });
}

/** Records how a seed run ended (atomically). */
export async function writeSeedOutcome(
  runDir: string,
  outcome: Omit<SeedOutcome, "endedAt">,
): Promise<void> {
  const record: SeedOutcome = { ...outcome, endedAt: new Date().toISOString() };
  await writeFileAtomic(join(runDir, OUTCOME), JSON.stringify(record, null, 2) + "\n");
}

/** The state of a seed run, and its error when it failed. */
export function seedState(runDir: string): { state: SeedState; error?: string } {
  const path = join(runDir, OUTCOME);
  if (existsSync(path)) {
    let outcome: SeedOutcome;
    try {
      outcome = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      return { state: "failed", error: `${path}: not readable JSON (${(e as Error).message})` };
    }
    if (outcome.state === "done") return { state: "done" };
    return { state: "failed", error: outcome.error ?? `${path}: no error recorded` };
  }
  const started = existsSync(runDir) && readdirSync(runDir).length > 0;
  return { state: started ? "incomplete" : "not started" };
}

/** Keys of phase outputs that are bookkeeping, not results. */
const NOT_RESULTS = new Set(["checkpoints", "dataset", "stage1", "stage2", "report", "step"]);

/** Numeric leaves of `value` under `prefix` (`swap.ratio.cnn`). */
function numericLeaves(value: unknown, prefix: string, out: Record<string, number>): void {
  if (typeof value === "number" && Number.isFinite(value)) {
    out[prefix] = value;
  } else if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (!NOT_RESULTS.has(k)) numericLeaves(v, `${prefix}.${k}`, out);
    }
  }
}

/**
 * The headline numbers of one pipeline run, from its files alone: every numeric output of its
 * phase records (`ijepa.finalMonitor.effectiveRank`, `swap.ratio.cnn`, `plan.success.random`,
 * ...) and, from the probe phase, each encoder's mean held-out R^2 and F1 over the game's
 * variables per feature set (`probe.ijepa.pooled.r2`).
 */
export function runHeadlines(runDir: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (!existsSync(runDir)) return out;
  for (const entry of readdirSync(runDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const record = readPhaseRecord(join(runDir, entry.name));
    if (record?.status !== "done" || entry.name === "probe") continue;
    numericLeaves(record.outputs, record.name, out);
  }
  const probePath = join(runDir, "probe", "probe.json");
  if (readPhaseRecord(join(runDir, "probe"))?.status === "done" && existsSync(probePath)) {
    const rows = JSON.parse(readFileSync(probePath, "utf8")) as {
      encoder: string;
      features: string;
      r2: number;
      f1?: number;
    }[];
    const groups = new Map<string, { r2: number[]; f1: number[] }>();
    for (const r of rows) {
      const key = `probe.${r.encoder}.${r.features}`;
      const g = groups.get(key) ?? { r2: [], f1: [] };
      g.r2.push(r.r2);
      if (typeof r.f1 === "number") g.f1.push(r.f1);
      groups.set(key, g);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (const [key, g] of groups) {
      out[`${key}.r2`] = mean(g.r2);
      if (g.f1.length) out[`${key}.f1`] = mean(g.f1);
    }
  }
  return out;
}

/** One seed in the summary. */
export interface SeedRow {
  seed: number;
  state: SeedState;
  error?: string;
  /** Whether the run has its REPORT.md (a run stopped early with `--only` has none). */
  report: boolean;
  headlines: Record<string, number>;
}

/** `seeds.json`. */
export interface SeedsSummary {
  seeds: SeedRow[];
  /** Per headline, over the seeds that finished: mean, sample std (0 for one seed), n. */
  stats: Record<string, { mean: number; std: number; n: number }>;
}

/** The summary of the seed runs of `seeds` in `out`. */
export function summarizeSeeds(out: string, seeds: readonly number[]): SeedsSummary {
  const rows: SeedRow[] = seeds.map((seed) => {
    const dir = seedRunDir(out, seed);
    const { state, error } = seedState(dir);
    return {
      seed,
      state,
      ...(error ? { error } : {}),
      report: existsSync(join(dir, "REPORT.md")),
      headlines: runHeadlines(dir),
    };
  });
  const finished = rows.filter((r) => r.state === "done");
  const keys = [...new Set(finished.flatMap((r) => Object.keys(r.headlines)))].sort();
  const stats: SeedsSummary["stats"] = {};
  for (const key of keys) {
    const xs = finished.map((r) => r.headlines[key]).filter((v) => v !== undefined);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.length > 1
      ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)
      : 0;
    stats[key] = { mean, std: Math.sqrt(variance), n: xs.length };
  }
  return { seeds: rows, stats };
}

const num = (v: number | undefined) =>
  v === undefined ? "-" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3);

/** `SEEDS.md` of a summary; `title` names the sweep (preset, env). */
export function seedsMarkdown(summary: SeedsSummary, title: string): string {
  const finished = summary.seeds.filter((r) => r.state === "done");
  const lines = [
    `# Pipeline over seeds: ${title}`,
    "",
    `Seeds ${summary.seeds.map((r) => r.seed).join(", ")}; each seed's run is a full pipeline ` +
    "run in `s<seed>/` with its own REPORT.md. Mean ± std (sample std) over the " +
    `${finished.length} seed(s) that finished.`,
    "",
    "## Seed runs",
    "",
    "| seed | state | run |",
    "|---:|---|---|",
    ...summary.seeds.map((r) =>
      `| ${r.seed} | ${r.state}${r.error ? `: ${r.error.replaceAll("|", "\\|")}` : ""} | ` +
      `${r.report ? `[s${r.seed}/REPORT.md](s${r.seed}/REPORT.md)` : `s${r.seed}/`} |`
    ),
    "",
  ];
  const keys = Object.keys(summary.stats);
  if (keys.length) {
    lines.push(
      "## Headline numbers",
      "",
      `| number | ${finished.map((r) => `s${r.seed}`).join(" | ")} | mean ± std |`,
      `|---|${finished.map(() => "---:|").join("")}---:|`,
      ...keys.map((k) => {
        const s = summary.stats[k];
        return `| ${k} | ${finished.map((r) => num(r.headlines[k])).join(" | ")} | ` +
          `${num(s.mean)} ± ${num(s.std)} |`;
      }),
      "",
    );
  } else {
    lines.push("No seed has finished yet.", "");
  }
  return lines.join("\n");
}

/** Writes `SEEDS.md` and `seeds.json` into `out`; returns the summary. */
export async function writeSeedsSummary(
  out: string,
  seeds: readonly number[],
  title: string,
): Promise<SeedsSummary> {
  const summary = summarizeSeeds(out, seeds);
  await writeFileAtomic(join(out, "seeds.json"), JSON.stringify(summary, null, 2) + "\n");
  await writeFileAtomic(join(out, "SEEDS.md"), seedsMarkdown(summary, title));
  return summary;
}
