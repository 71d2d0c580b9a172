/**
 * The RunDir a pipeline phase writes its config, log and metrics into.
 *
 * @module
 */

import { join } from "node:path";
import { RunDir } from "../run/run_dir.ts";
import type { PhaseContext } from "./runner.ts";

/**
 * The phase's RunDir (config, log, metrics) in its directory, or in `sub` inside it, reopened
 * on resume. `fresh` starts its config, log and metrics over: for phases without checkpoints,
 * which redo all their work when resumed.
 */
export async function phaseRun(
  ctx: PhaseContext,
  config: unknown,
  opts: { fresh?: boolean; sub?: string } = {},
): Promise<RunDir> {
  const dir = opts.sub ? join(ctx.dir, opts.sub) : ctx.dir;
  if (opts.fresh) {
    for (const f of ["config.json", "metrics.jsonl", "run.log"]) {
      await Deno.remove(join(dir, f)).catch(() => {});
    }
  }
  return RunDir.open({
    task: ctx.dir,
    config,
    dir,
    resume: !opts.fresh,
    echo: (line) => ctx.log(line),
  });
}
