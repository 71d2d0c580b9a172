import assert from "node:assert/strict";
import { Rng } from "../tensor/rng.ts";
import {
  blockSize,
  checkMultiBlock,
  IJEPA_MASKS,
  multiBlockBatch,
  multiBlockMask,
  patchMotion,
  randomMask,
} from "./masks.ts";

Deno.test("every row and column can be covered by a target block (reference off-by-one fixed)", () => {
  const rng = new Rng(0);
  const rows = 7;
  const cols = 7;
  const hit = new Uint8Array(rows * cols);
  for (let i = 0; i < 500; i++) {
    for (const t of multiBlockMask(rng, rows, cols, IJEPA_MASKS).targets) {
      for (const c of t) hit[c] = 1;
    }
  }
  assert.ok(
    hit.every((h) => h === 1),
    "some cell, e.g. the last row or column, was never a target",
  );
});

Deno.test("masks terminate when no context block fits, falling back to the complement", () => {
  // Four blocks of 3x3 on a 4x4 grid: the union often leaves fewer than 5 tokens.
  const dense = {
    ...IJEPA_MASKS,
    targets: 4,
    targetScale: [0.56, 0.56] as [number, number],
    targetAspect: [0.8, 1.2] as [number, number],
    minContext: 5,
  };
  checkMultiBlock(4, 4, dense);
  const r = new Rng(7);
  for (let i = 0; i < 300; i++) {
    const m = multiBlockMask(r, 4, 4, dense);
    assert.ok(m.context.length >= 5);
    const covered = new Set(m.targets.flat());
    assert.ok(m.context.every((c) => !covered.has(c)));
  }
  // Targets covering most of a 3x3 grid leave a context block of 1.0 scale few tokens.
  const cfg = {
    ...IJEPA_MASKS,
    targets: 2,
    targetScale: [0.44, 0.44] as [number, number],
    minContext: 1,
  };
  const rng = new Rng(1);
  for (let i = 0; i < 200; i++) {
    const m = multiBlockMask(rng, 3, 3, cfg);
    assert.ok(m.context.length >= 1);
  }
  // A config that can leave no context is rejected up front, not looped on.
  assert.throws(
    () =>
      checkMultiBlock(3, 3, { ...IJEPA_MASKS, targets: 4, targetScale: [0.9, 0.9], minContext: 2 }),
    /leaving fewer than minContext=2/,
  );
});

Deno.test("targets follow the scale and aspect rules; context excludes every target", () => {
  const rng = new Rng(2);
  for (let i = 0; i < 200; i++) {
    const m = multiBlockMask(rng, 14, 14, IJEPA_MASKS);
    assert.equal(m.targets.length, 4);
    const size = m.targets[0].length;
    assert.ok(size >= 0.1 * 196 && size <= 0.25 * 196, `target of ${size} tokens`);
    const covered = new Set(m.targets.flat());
    assert.ok(m.context.every((c) => !covered.has(c)));
    assert.ok(m.context.length >= IJEPA_MASKS.minContext);
  }
  assert.deepEqual(blockSize(7, 7, 0.2, 1), [3, 3]);
  assert.deepEqual(blockSize(7, 7, 1.0, 1), [7, 7]);
});

Deno.test("a batch has equal counts and respects contextKeep", () => {
  const masks = multiBlockBatch(new Rng(3), IJEPA_MASKS, { batch: 16, rows: 7, cols: 7 });
  assert.equal(masks.context.length, 16 * masks.contextCount);
  assert.equal(masks.targets.length, 4);
  for (const t of masks.targets) assert.equal(t.length, 16 * masks.targetCount);
  const fixed = multiBlockBatch(new Rng(3), {
    ...IJEPA_MASKS,
    targetScale: [0.08, 0.08],
    targetAspect: [1, 1],
  }, { batch: 8, rows: 7, cols: 7, contextKeep: 25 });
  assert.equal(fixed.contextCount, 25);
  assert.equal(fixed.targetCount, 4);
  for (let i = 0; i < 8; i++) {
    const ctx = [...fixed.context.subarray(i * 25, (i + 1) * 25)];
    assert.equal(new Set(ctx).size, 25, "no duplicates");
    const tgt = new Set(fixed.targets.flatMap((t) => [...t.subarray(i * 4, (i + 1) * 4)]));
    assert.ok(ctx.every((c) => !tgt.has(c)));
  }
});

Deno.test("random masks split the tokens by the ratio", () => {
  const { visible, masked } = randomMask(new Rng(4), 64, 0.4);
  assert.equal(masked.length, 26);
  assert.equal(visible.length, 38);
  assert.equal(new Set([...visible, ...masked]).size, 64);
});

Deno.test("patchMotion sums each token's change from the oldest frame to the newest", () => {
  // Two tokens of 2 pixels x 3 frames (channels innermost): one static, one with a moving dot.
  const patches = Float32Array.from([0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0, 0.5, 1, 0.3, 0.3, 0]);
  const motion = patchMotion(patches, { batch: 1, tokens: 2, patchDim: 6, channels: 3 });
  assert.deepEqual(Array.from(motion, (m) => +m.toFixed(6)), [0, 1.3]);
});

Deno.test("motion targets cover the moving token; without motion the draws are unchanged", () => {
  const cfg = { ...IJEPA_MASKS, motionTargets: 0.5 };
  const [rows, cols, batch] = [7, 7, 8];
  const motion = new Float32Array(batch * rows * cols);
  for (let i = 0; i < batch; i++) motion[i * 49 + 3 + 7 * (i % 7)] = 1; // one moving token each
  const masks = multiBlockBatch(new Rng(2), cfg, { batch, rows, cols, motion });
  for (let i = 0; i < batch; i++) {
    const moving = 3 + 7 * (i % 7);
    for (const j of [0, 1]) {
      const block = masks.targets[j].subarray(i * masks.targetCount, (i + 1) * masks.targetCount);
      assert.ok(block.includes(moving), `sample ${i} target ${j} misses token ${moving}`);
    }
  }
  // motionTargets without motion, and motion with motionTargets 0, draw what plain masks draw.
  const plain = multiBlockBatch(new Rng(2), IJEPA_MASKS, { batch, rows, cols });
  assert.deepEqual(multiBlockBatch(new Rng(2), cfg, { batch, rows, cols }), plain);
  assert.deepEqual(multiBlockBatch(new Rng(2), IJEPA_MASKS, { batch, rows, cols, motion }), plain);
});
