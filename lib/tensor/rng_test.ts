import assert from "node:assert/strict";
import { deriveSeed, Rng } from "./rng.ts";

Deno.test("same seed gives the same stream, different seeds differ", () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const xs = Array.from({ length: 100 }, () => a.uint32());
  assert.deepEqual(xs, Array.from({ length: 100 }, () => b.uint32()));
  assert.notDeepEqual(xs, Array.from({ length: 100 }, () => c.uint32()));
});

Deno.test("state round trip resumes the exact stream", () => {
  const a = new Rng(7);
  for (let i = 0; i < 10; i++) a.float();
  const saved = a.state();
  const expected = Array.from({ length: 20 }, () => a.float());
  const b = Rng.fromState(saved);
  assert.deepEqual(Array.from({ length: 20 }, () => b.float()), expected);
  assert.throws(() => Rng.fromState([0, 0, 0, 0]), /not all 0/);
});

Deno.test("float, int and normal have the right ranges and moments", () => {
  const rng = new Rng(1);
  const n = 20000;
  let sum = 0;
  let sumSq = 0;
  const counts = new Array(5).fill(0);
  for (let i = 0; i < n; i++) {
    const f = rng.float();
    assert.ok(f >= 0 && f < 1);
    counts[rng.int(5)]++;
    const z = rng.normal();
    sum += z;
    sumSq += z * z;
  }
  assert.ok(Math.abs(sum / n) < 0.03);
  assert.ok(Math.abs(sumSq / n - 1) < 0.04);
  for (const c of counts) assert.ok(Math.abs(c / n - 0.2) < 0.02);
  assert.throws(() => rng.int(0), /integer n >= 1/);
});

Deno.test("fork is independent of fork order and does not advance the parent", () => {
  const a = new Rng(5);
  const b = new Rng(5);
  const a1 = a.fork("x").uint32();
  const a2 = a.fork("y").uint32();
  const b2 = b.fork("y").uint32();
  const b1 = b.fork("x").uint32();
  assert.equal(a1, b1);
  assert.equal(a2, b2);
  assert.notEqual(a1, a2);
  assert.equal(a.uint32(), new Rng(5).uint32());
  assert.equal(deriveSeed(3, "env/0"), deriveSeed(3, "env/0"));
  assert.notEqual(deriveSeed(3, "env/0"), deriveSeed(3, "env/1"));
});

Deno.test("shuffle is a permutation and depends on the seed", () => {
  const p = new Rng(9).permutation(50);
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.notDeepEqual(p, new Rng(10).permutation(50));
});
