import assert from "node:assert/strict";
import { AreaResizer } from "./resize.ts";

Deno.test("integer-factor area resize is the block mean", () => {
  const src = Uint8Array.from({ length: 16 }, (_, i) => i * 10);
  const out = new AreaResizer(4, 4, 2, 2).resize(src, new Uint8Array(4));
  // blocks: [0,10,40,50] [20,30,60,70] [80,90,120,130] [100,110,140,150]
  assert.deepEqual([...out], [25, 45, 105, 125]);
});

Deno.test("fractional area resize keeps constants and the mean (210x160 -> 84x84)", () => {
  const src = new Uint8Array(210 * 160).fill(77);
  const r = new AreaResizer(210, 160, 84, 84);
  assert.ok(r.resize(src, new Uint8Array(84 * 84)).every((v) => v === 77));
  const ramp = Uint8Array.from({ length: 210 * 160 }, (_, i) => (i * 31) % 256);
  const out = r.resize(ramp, new Uint8Array(84 * 84));
  const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(Math.abs(mean(out) - mean(ramp)) < 1);
});

Deno.test("a 2x1 pixel of 255 in a 5x5 block of zeros averages over its overlap", () => {
  // 5 -> 2 rows and cols: output (0,0) covers input [0,2.5)^2; pixel (0,0) fully inside.
  const src = new Uint8Array(25);
  src[0] = 250;
  const out = new AreaResizer(5, 5, 2, 2).resize(src, new Uint8Array(4));
  assert.equal(out[0], Math.round(250 / 6.25));
});

Deno.test("fused max-pool resize equals resizing the max", () => {
  const a = Uint8Array.from({ length: 60 }, (_, i) => (i * 37) % 256);
  const b = Uint8Array.from({ length: 60 }, (_, i) => (i * 91) % 256);
  const m = a.map((v, i) => Math.max(v, b[i]));
  const r = new AreaResizer(6, 10, 4, 3);
  assert.deepEqual([...r.resize(a, new Uint8Array(12), b)], [...r.resize(m, new Uint8Array(12))]);
});

Deno.test("RGB resize works per channel and sizes are checked", () => {
  const src = new Uint8Array(4 * 4 * 3);
  for (let i = 0; i < 16; i++) src.set([10, 20, 30], i * 3);
  const out = new AreaResizer(4, 4, 2, 2, 3).resize(src, new Uint8Array(12));
  assert.deepEqual([...out], [10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30]);
  assert.throws(
    () => new AreaResizer(4, 4, 2, 2).resize(src, new Uint8Array(4)),
    /input has 48 bytes, expected 16/,
  );
});

Deno.test("incremental resizing equals a fresh full resize on every frame of a sequence", () => {
  // Frames that change a few rows at a time, as game frames do, plus whole-frame changes.
  const rng = (() => {
    let s = 12345;
    return () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
  })();
  for (const [h, w, c] of [[210, 160, 1], [21, 16, 3], [7, 5, 1]]) {
    const incremental = new AreaResizer(h, w, Math.ceil(h / 2.5), Math.ceil(w / 1.9), c);
    let a = new Uint8Array(h * w * c);
    for (let step = 0; step < 60; step++) {
      const b = a.slice();
      const rows = step % 10 === 0 ? h : 1 + Math.floor(rng() * 4);
      for (let r = 0; r < rows; r++) {
        const y = Math.floor(rng() * h);
        for (let x = 0; x < w * c; x++) if (rng() < 0.3) b[y * w * c + x] = Math.floor(rng() * 256);
      }
      const pooled = step % 3 === 0;
      const got = incremental.resize(
        b,
        new Uint8Array(incremental.outHeight * incremental.outWidth * c),
        pooled ? a : undefined,
      );
      const fresh = new AreaResizer(h, w, incremental.outHeight, incremental.outWidth, c);
      const want = fresh.resize(b, new Uint8Array(got.length), pooled ? a : undefined);
      assert.deepEqual(got, want, `step ${step}, ${h}x${w}x${c}`);
      a = b;
    }
  }
});
