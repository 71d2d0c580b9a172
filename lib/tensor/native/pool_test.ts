/**
 * The arena of pool.ts on its own: ranges come back, merge with their free neighbours and serve
 * other sizes; exposed ranges are never reused; small arrays stay outside.
 */

import assert from "node:assert/strict";
import { alloc, clearPool, expose, isPooled, poolStats, release } from "./pool.ts";

const MiB = 2 ** 18; // floats per MiB

Deno.test("pool: freed neighbours merge and serve a request of another size", () => {
  clearPool();
  const a = alloc(3 * MiB);
  const b = alloc(5 * MiB);
  const c = alloc(1 * MiB);
  assert.ok(isPooled(a) && isPooled(b) && isPooled(c));
  assert.equal(poolStats().chunks, 1);
  const arena = poolStats().arenaMiB;
  release(a);
  release(b);
  // 8 MiB: only the merged range of a and b holds it without a new chunk.
  const d = alloc(8 * MiB);
  assert.equal(poolStats().arenaMiB, arena, "the arena grew");
  assert.equal(d.buffer, a.buffer);
  assert.equal(d.byteOffset, a.byteOffset);
  release(c);
  release(d);
  assert.equal(poolStats().pooledMiB, arena, "everything is free again");
  clearPool();
});

Deno.test("pool: the smallest free range that fits is taken", () => {
  clearPool();
  const big = alloc(6 * MiB);
  const gap = alloc(8192);
  const small = alloc(2 * MiB);
  const rest = alloc(1 * MiB);
  release(big);
  release(small);
  const x = alloc(2 * MiB - 100);
  assert.equal(x.byteOffset, small.byteOffset, "took the 6 MiB hole for a 2 MiB request");
  assert.ok(x.byteOffset % 64 === 0, "ranges start on cache lines");
  for (const t of [gap, rest, x]) release(t);
  clearPool();
});

Deno.test("pool: exposed ranges are never reused, and small arrays are not pooled", () => {
  clearPool();
  const a = alloc(1 * MiB);
  a.fill(7);
  expose(a);
  assert.equal(isPooled(a), false);
  release(a); // a no-op: the range stays a's
  const b = alloc(1 * MiB);
  assert.notEqual(b.byteOffset, a.byteOffset);
  b.fill(1);
  assert.ok(a.every((v) => v === 7));
  const tiny = alloc(100);
  assert.equal(isPooled(tiny), false);
  assert.equal(tiny.buffer.byteLength, 400);
  release(b);
  clearPool();
});

Deno.test("pool: a chunk that loses a quarter of itself to exposed ranges leaves the arena", () => {
  clearPool();
  // 5 MiB each, in one 32 MiB chunk.
  const arrays = Array.from({ length: 4 }, () => alloc(5 * MiB));
  const chunkMiB = poolStats().arenaMiB;
  expose(arrays[0]);
  assert.equal(poolStats().chunks, 1, "under a quarter lost: still in");
  expose(arrays[1]);
  assert.equal(poolStats().chunks, 0, "more than a quarter lost: retired");
  assert.equal(poolStats().arenaMiB, 0);
  // Its other arrays stay valid; releasing them does not bring the chunk back.
  arrays[2].fill(3);
  release(arrays[2]);
  release(arrays[3]);
  assert.equal(poolStats().arenaMiB, 0);
  const next = alloc(5 * MiB);
  assert.notEqual(next.buffer, arrays[0].buffer);
  assert.equal(poolStats().arenaMiB, chunkMiB);
  release(next);
  clearPool();
});
