/**
 * One directory per run, `results/<run-id>/`, holding everything a run produces: the resolved
 * config, metrics (JSONL appended as they come, Parquet at the end), the log, figures and
 * checkpoints.
 *
 * @module
 */

import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import pl from "nodejs-polars";
import { writeFileAtomic } from "./atomic.ts";
import { InputError } from "./errors.ts";

/** Options for {@linkcode RunDir.open}. */
export interface RunDirOptions {
  /** Task name, used in the default run id (`<task>-<yyyymmdd-hhmmss>`). */
  task: string;
  /** The resolved config, stored as `config.json`. */
  config: unknown;
  /** Explicit directory (e.g. from `--out`); otherwise `<root>/<task>-<timestamp>`. */
  dir?: string;
  /** Where run directories go by default. */
  root?: string;
  /** Reopen an existing run; its stored config must equal `config` (but see `configChanges`). */
  resume?: boolean;
  /**
   * `"refuse"` (default): resuming with another config is an error. `"record"`: the run checks
   * its own parts against the config (the probe benchmark keys each encoder's rows), so the new
   * config replaces `config.json` and the changed keys are logged.
   */
  configChanges?: "refuse" | "record";
  /** Receives every log line too (a CLI prints them; a notebook may ignore them). */
  echo?: (line: string) => void;
}

/** Metric record: flat key -> number/string/boolean. */
export type MetricRecord = Record<string, number | string | boolean | null>;

/** A run directory and the files every run writes into it. */
export class RunDir {
  private constructor(
    readonly dir: string,
    private readonly echo?: (line: string) => void,
  ) {}

  /** Creates (or, with `resume`, reopens) a run directory and writes its config. */
  static async open(opts: RunDirOptions): Promise<RunDir> {
    const dir = resolve(opts.dir ?? join(opts.root ?? "results", `${opts.task}-${timestamp()}`));
    const configPath = join(dir, "config.json");
    const configText = JSON.stringify(opts.config, null, 2) + "\n";
    if (existsSync(configPath)) {
      const stored = readFileSync(configPath, "utf8");
      if (!opts.resume) {
        throw new InputError(
          `${dir} already holds a run (config.json exists): pass --resume to continue it, ` +
            `or choose another --out`,
        );
      }
      // Compared as values: the same config written another way (1e-05 for 0.00001, another
      // indent) is the same run.
      const diff = stored === configText ? [] : diffKeys(JSON.parse(stored), opts.config);
      if (diff.length > 0) {
        if (opts.configChanges !== "record") {
          throw new InputError(
            `${configPath}: cannot resume with a different config (changed: ${diff.join(", ")}); ` +
              `give the options of the stored run, or another --out for a new one`,
          );
        }
        await writeFileAtomic(configPath, configText);
        const run = new RunDir(dir, opts.echo);
        run.log(`config changed since the last session: ${diff.join(", ")}`);
        return run;
      }
    } else {
      mkdirSync(dir, { recursive: true });
      await writeFileAtomic(configPath, configText);
    }
    return new RunDir(dir, opts.echo);
  }

  /** A path inside the run directory (parent folders are created). */
  path(...parts: string[]): string {
    const p = join(this.dir, ...parts);
    mkdirSync(join(p, ".."), { recursive: true });
    return p;
  }

  /** Appends a timestamped line to `run.log` (and echoes it). */
  log(line: string): void {
    appendFileSync(join(this.dir, "run.log"), `${new Date().toISOString()} ${line}\n`);
    this.echo?.(line);
  }

  /** Appends one record to `metrics.jsonl`; safe to call every step (one small append). */
  metric(record: MetricRecord): void {
    appendFileSync(join(this.dir, "metrics.jsonl"), JSON.stringify(record) + "\n");
  }

  /** All metric records written so far. */
  readMetrics(): MetricRecord[] {
    return readMetricsJsonl(join(this.dir, "metrics.jsonl"));
  }

  /** Writes `metrics.parquet` from the JSONL (atomically); call at the end of a run. */
  async finish(): Promise<void> {
    const records = this.readMetrics();
    if (records.length === 0) return;
    await writeParquetAtomic(join(this.dir, "metrics.parquet"), records);
  }
}

/** Reads a JSONL metrics file; a malformed line is an error naming the file and line. */
export function readMetricsJsonl(path: string): MetricRecord[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, "utf8").split("\n");
  const records: MetricRecord[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      records.push(JSON.parse(line));
    } catch {
      throw new Error(`${path}:${i + 1}: not a JSON record: ${line.slice(0, 80)}`);
    }
  });
  return records;
}

/** Writes records (possibly with different keys) as one Parquet table, missing values null. */
export async function writeParquetAtomic(path: string, records: MetricRecord[]): Promise<void> {
  const keys = [...new Set(records.flatMap((r) => Object.keys(r)))];
  const columns: Record<string, unknown[]> = {};
  for (const key of keys) columns[key] = records.map((r) => r[key] ?? null);
  const df = pl.DataFrame(columns);
  const tmp = `${path}.tmp-${Deno.pid}`;
  df.writeParquet(tmp);
  await Deno.rename(tmp, path);
}

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-` +
    `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function diffKeys(a: unknown, b: unknown, prefix = ""): string[] {
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix || "(root)"];
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].flatMap((k) =>
    diffKeys(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
      prefix ? `${prefix}.${k}` : k,
    )
  );
}

/**
 * A path as run records store it: relative to the run directory `runDir` (as `..`-paths where
 * it lies outside), so a run directory copied, committed or read on another machine still
 * points at its own files. {@linkcode resolveRecordPath} reads it back.
 */
export function recordPath(runDir: string, path: string): string {
  return relative(resolve(runDir), resolve(path)) || ".";
}

/** A path read from a run record of `runDir`: relative ones resolve against the run directory. */
export function resolveRecordPath(runDir: string, path: string): string {
  return resolve(runDir, path);
}
