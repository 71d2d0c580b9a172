/**
 * `deno task report <run>`: rebuilds `<run>/REPORT.md` and its figures from the run's files.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { writeRunReport } from "../lib/pipeline/report.ts";
import { parseTaskArgs, runTask, UsageError } from "./cli.ts";

const spec = {
  name: "report",
  summary: "Rebuilds REPORT.md of a pipeline run directory from its metrics alone: figures as " +
    "SVG and PNG, tables from the Parquet metrics, configs, seeds, backend and machine.",
  examples: ["deno task report results/pipeline-smoke-breakout-s0"],
};

if (import.meta.main) {
  runTask(async () => {
    const { positionals } = parseTaskArgs(spec);
    const dir = positionals[0];
    if (!dir) throw new UsageError("give the run directory: deno task report <run>");
    if (!existsSync(dir)) throw new UsageError(`${dir}: no such run directory`);
    console.log(`wrote ${await writeRunReport(dir)}`);
  });
}
