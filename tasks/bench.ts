/**
 * `deno task bench`: runs the named benchmarks of the hot paths.
 *
 * @module
 */

import { BENCHMARKS } from "../lib/bench/bench.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { parseTaskArgs, runTask, UsageError } from "./cli.ts";

const spec = {
  name: "bench",
  summary: "Runs the benchmarks of the hot paths and prints one line each (or JSON lines with " +
    `--json). Benchmarks: ${BENCHMARKS.map((b) => b.name).join(", ")}.`,
  options: {
    only: "run only these benchmarks (comma-separated names)",
    backend: "tfjs backend for tensor benchmarks (default JEPA_BACKEND or auto)",
  },
  switches: {
    json: 'print one JSON object per line: {"bench", "backend", "value", "unit", "config"}',
    list: "list the benchmarks and exit",
    quick: "short timing windows (a smoke check, not numbers to report)",
  },
  examples: ["deno task bench --only env-breakout --json"],
};

if (import.meta.main) {
  runTask(async () => {
    const { switches, options } = parseTaskArgs(spec);
    if (switches.list) {
      for (const b of BENCHMARKS) console.log(`${b.name.padEnd(20)} ${b.description}`);
      return;
    }
    await initBackend({ backend: options.backend as "auto" | undefined });
    const names = options.only?.split(",").map((s) => s.trim()).filter(Boolean);
    const unknown = names?.filter((n) => !BENCHMARKS.some((b) => b.name === n)) ?? [];
    if (unknown.length) {
      throw new UsageError(
        `unknown benchmark ${unknown.join(", ")} (valid: ${
          BENCHMARKS.map((b) => b.name).join(", ")
        })`,
      );
    }
    for (const bench of BENCHMARKS.filter((b) => !names || names.includes(b.name))) {
      const result = await bench.run({ quick: switches.quick });
      if (switches.json) console.log(JSON.stringify(result));
      else if (result.config.skipped) {
        console.log(`${result.bench.padEnd(20)} skipped: ${result.config.skipped}`);
      } else {
        const range = result.range ? ` (min ${result.range[0]}, max ${result.range[1]})` : "";
        console.log(
          `${result.bench.padEnd(20)} ${result.value} ${result.unit}${range} [${result.backend}]`,
        );
      }
    }
  });
}
