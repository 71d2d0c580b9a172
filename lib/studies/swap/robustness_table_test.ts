import assert from "node:assert/strict";
import { summarizeRobustness } from "../../eval/robustness.ts";
import { robustnessMarkdown } from "./robustness_table.ts";

Deno.test("the robustness table shows mean ± std per level, the seed count and the ratio", () => {
  const rows = summarizeRobustness([
    {
      condition: "cnn",
      seed: 0,
      means: { clean: 10, color_jitter: 5, noise: 5, mild: 5, hard: 5 },
    },
    { condition: "cnn", seed: 1, means: { clean: 2, color_jitter: 2, noise: 2, mild: 2, hard: 2 } },
    {
      condition: "jepa",
      seed: 0,
      means: { clean: 4, color_jitter: 4, noise: 2, mild: 2, hard: 0 },
    },
  ]);
  const md = robustnessMarkdown(rows);
  assert.match(
    md,
    /^\| condition \| seeds \| clean \| color_jitter \| noise \| mild \| hard \| ratio \|$/m,
  );
  assert.match(md, /\| cnn \| 2 \| 6\.00 ± 5\.66 \|/);
  assert.match(md, /\| jepa \| 1 \|.*\| 0\.500 ± 0\.000 \|$/m);
});
