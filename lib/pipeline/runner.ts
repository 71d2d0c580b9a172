/**
 * Runs a chain of phases (data -> pretraining -> ... -> report) into one run directory, redoing
 * only what changed. Each phase declares its inputs (its config slice and the phases it reads);
 * its key is a hash of those and of its upstream phases' keys, so a config change downstream
 * reruns only the phases after it, and one upstream reruns everything that depends on it.
 *
 * `<run>/<phase>/phase.json` records each phase: `running` while it works, `done` with its
 * outputs, or `failed` with the error. A phase found `done` with the same key is skipped; found
 * `running` or `failed` with the same key it is run again with `resume: true` (phases continue
 * from their checkpoints); found with another key, its directory is cleared first. A phase that
 * fails leaves every earlier phase's outputs intact and stops the pipeline with an error that
 * names the phase.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../run/atomic.ts";

/** What a phase gets to work with. */
export interface PhaseContext {
  /** The phase's own directory, `<run>/<name>`. */
  dir: string;
  /** The run directory. */
  runDir: string;
  /** True when a previous attempt with the same inputs was interrupted or failed. */
  resume: boolean;
  /** Records of the phases this one needs, by name (their outputs are in `outputs`). */
  upstream: Record<string, PhaseRecord>;
  log(line: string): void;
}

/** One step of a pipeline. */
export interface Phase {
  name: string;
  /** Names of earlier phases whose outputs this one reads. */
  needs: string[];
  /** Everything that defines the phase's result besides its upstream phases (JSON-able). */
  inputs: unknown;
  /** Does the work; returns what later phases and the report read (JSON-able). */
  run(ctx: PhaseContext): Promise<Record<string, unknown>>;
}

/** `phase.json`. */
export interface PhaseRecord {
  name: string;
  key: string;
  status: "running" | "done" | "failed";
  /** Seconds the last attempt took. */
  seconds?: number;
  outputs?: Record<string, unknown>;
  error?: string;
}

/** A phase that failed; `phase` names it. */
export class PhaseError extends Error {
  constructor(readonly phase: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`phase "${phase}" failed: ${why}`, { cause });
  }
}

/** What happened to each phase in one call. */
export interface PipelineOutcome {
  ran: string[];
  skipped: string[];
  records: Record<string, PhaseRecord>;
}

/** Hooks for progress output. */
export interface PipelineHooks {
  log?(line: string): void;
  onPhase?(name: string, action: "skip" | "run" | "resume" | "done" | "failed"): void;
}

/** The key of a phase: its inputs and its upstream keys, hashed. */
export function phaseKey(phase: Phase, upstreamKeys: Record<string, string>): string {
  const text = JSON.stringify({ inputs: phase.inputs, upstream: upstreamKeys });
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** Reads `<dir>/phase.json`, or null when absent; a damaged file is an error naming it. */
export function readPhaseRecord(dir: string): PhaseRecord | null {
  const path = join(dir, "phase.json");
  if (!existsSync(path)) return null;
  try {
    const record = JSON.parse(readFileSync(path, "utf8")) as PhaseRecord;
    if (typeof record.key !== "string" || typeof record.status !== "string") {
      throw new Error("missing key or status");
    }
    return record;
  } catch (e) {
    throw new Error(`${path}: not a phase record (${(e as Error).message}); delete it to rerun`);
  }
}

/** Runs `phases` in order into `runDir`; see the module doc. `only` stops after that phase. */
export async function runPipeline(
  runDir: string,
  phases: Phase[],
  hooks: PipelineHooks = {},
  opts: { only?: string } = {},
): Promise<PipelineOutcome> {
  const names = new Set(phases.map((p) => p.name));
  for (const p of phases) {
    const missing = p.needs.filter((n) => !names.has(n));
    if (missing.length) throw new Error(`phase "${p.name}" needs unknown phase(s) ${missing}`);
  }
  if (opts.only && !names.has(opts.only)) {
    throw new Error(`no phase "${opts.only}" (phases: ${[...names].join(", ")})`);
  }
  mkdirSync(runDir, { recursive: true });
  const records: Record<string, PhaseRecord> = {};
  const outcome: PipelineOutcome = { ran: [], skipped: [], records };
  for (const phase of phases) {
    const upstream = Object.fromEntries(phase.needs.map((n) => [n, records[n]]));
    const key = phaseKey(phase, Object.fromEntries(phase.needs.map((n) => [n, records[n].key])));
    const dir = join(runDir, phase.name);
    const previous = readPhaseRecord(dir);
    if (previous?.key === key && previous.status === "done") {
      records[phase.name] = previous;
      outcome.skipped.push(phase.name);
      hooks.onPhase?.(phase.name, "skip");
      hooks.log?.(`${phase.name}: up to date (key ${key}), skipped`);
    } else {
      const resume = previous?.key === key;
      if (previous && !resume) {
        hooks.log?.(`${phase.name}: inputs changed (key ${previous.key} -> ${key}), redoing it`);
        rmSync(dir, { recursive: true, force: true });
      }
      mkdirSync(dir, { recursive: true });
      const record: PhaseRecord = { name: phase.name, key, status: "running" };
      await writeRecord(dir, record);
      hooks.onPhase?.(phase.name, resume ? "resume" : "run");
      hooks.log?.(`${phase.name}: ${resume ? "resuming" : "running"} (key ${key})`);
      const start = performance.now();
      try {
        record.outputs = await phase.run({
          dir,
          runDir,
          resume,
          upstream,
          log: (line) => hooks.log?.(`${phase.name}: ${line}`),
        });
        record.status = "done";
      } catch (e) {
        record.status = "failed";
        record.error = e instanceof Error ? e.message : String(e);
        record.seconds = (performance.now() - start) / 1000;
        await writeRecord(dir, record);
        hooks.onPhase?.(phase.name, "failed");
        throw new PhaseError(phase.name, e);
      }
      record.seconds = (performance.now() - start) / 1000;
      await writeRecord(dir, record);
      records[phase.name] = record;
      outcome.ran.push(phase.name);
      hooks.onPhase?.(phase.name, "done");
      hooks.log?.(`${phase.name}: done in ${record.seconds.toFixed(1)}s`);
    }
    if (phase.name === opts.only) break;
  }
  return outcome;
}

function writeRecord(dir: string, record: PhaseRecord): Promise<void> {
  return writeFileAtomic(join(dir, "phase.json"), JSON.stringify(record, null, 2) + "\n");
}
