import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pl from "nodejs-polars";
import { summarizeRobustness } from "../../eval/robustness.ts";
import { swapReportItems } from "./section.ts";

/** A `<run>/swap` with a config and a one-run robustness table, as the phase leaves it. */
function swapRun(): string {
  const runDir = Deno.makeTempDirSync();
  const dir = join(runDir, "swap");
  mkdirSync(join(dir, "figures"), { recursive: true });
  const cfg = {
    env: { id: "native:breakout" },
    seeds: [0],
    ppo: { totalSteps: 1000 },
    agent: { centerFeatures: true },
    eval: { episodes: 2, seeds: [100] },
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(cfg));
  const rows = summarizeRobustness([
    { condition: "cnn", seed: 0, means: { clean: 4, color_jitter: 3, noise: 2, mild: 2, hard: 1 } },
  ]);
  pl.DataFrame(rows).writeParquet(join(dir, "robustness.parquet"));
  return runDir;
}

const markdown = (runDir: string) =>
  swapReportItems(runDir).map((i) => i.kind === "markdown" ? i.text : "").join("\n");

Deno.test("the run report's swap section links only to what the grid's report holds", () => {
  const runDir = swapRun();
  try {
    // Reported from summaries alone (no checkpoint): no saliency maps, no GIF.
    assert.match(markdown(runDir), /^The per-run table: \[swap\/REPORT\.md\]/m);
    assert.doesNotMatch(markdown(runDir), /Saliency|GIF/);
    writeFileSync(join(runDir, "swap", "figures", "saliency.png"), "");
    writeFileSync(join(runDir, "swap", "figures", "play_cnn_clean_vs_hard.gif"), "");
    assert.match(
      markdown(runDir),
      /^Saliency maps, a clean-vs-hard GIF and the per-run table: \[swap\/REPORT\.md\]/m,
    );
    assert.match(markdown(runDir), /\| cnn \| 1 \| 4\.00 ± 0\.00 \|/);
  } finally {
    Deno.removeSync(runDir, { recursive: true });
  }
});
