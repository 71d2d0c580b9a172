import assert from "node:assert/strict";
import { Rng } from "../tensor/rng.ts";
import { SumTree } from "./sum_tree.ts";

Deno.test("the sum tree's total, min and prefix search agree with brute force", () => {
  const rng = new Rng(0);
  for (const capacity of [1, 5, 8, 13]) {
    const tree = new SumTree(capacity);
    const p = new Float64Array(capacity);
    for (let step = 0; step < 200; step++) {
      const i = rng.int(capacity);
      p[i] = rng.float() < 0.1 ? 0 : rng.float() * 3;
      tree.set(i, p[i]);
      const total = p.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(tree.total - total) < 1e-9);
      const positive = [...p].filter((x) => x > 0);
      assert.equal(tree.min, Math.min(...positive), "min of the positive priorities");
      assert.equal(tree.count, positive.length);
      if (total === 0) continue;
      const s = rng.float() * total;
      // Brute force: the first leaf whose running sum passes s.
      let run = 0, want = -1;
      for (let k = 0; k < capacity; k++) {
        run += p[k];
        if (run > s) {
          want = k;
          break;
        }
      }
      assert.equal(tree.find(s), want, `capacity ${capacity}, s ${s}`);
      assert.ok(p[tree.find(s)] > 0, "a leaf with priority 0 is never found");
    }
  }
});

Deno.test("sampling by prefix sums follows the priorities", () => {
  const tree = new SumTree(4);
  [1, 0, 3, 6].forEach((p, i) => tree.set(i, p));
  const counts = [0, 0, 0, 0];
  const rng = new Rng(1);
  for (let k = 0; k < 20_000; k++) counts[tree.find(rng.float() * tree.total)]++;
  const freq = counts.map((c) => c / 20_000);
  [0.1, 0, 0.3, 0.6].forEach((want, i) => assert.ok(Math.abs(freq[i] - want) < 0.015, `${freq}`));
  assert.equal(tree.find(tree.total), 3, "the total itself gives the last leaf with a priority");
  assert.throws(() => tree.set(4, 1), /index 4 outside \[0, 4\)/);
  assert.throws(() => tree.set(0, -1), /priority -1 is not >= 0/);
});
