import assert from "node:assert/strict";
import {
  batchImageMetrics,
  changedFrames,
  framePsnr,
  frameSsim,
  maskedMean,
} from "./image_metrics.ts";

Deno.test("PSNR and SSIM: identical frames score best, hand-computed values otherwise", () => {
  const a = Float32Array.from({ length: 64 }, (_, i) => (i % 8) / 8);
  assert.equal(framePsnr(a, a), 100);
  assert.ok(Math.abs(frameSsim(a, a, 8, 8) - 1) < 1e-9);
  // A uniform error of 0.1 (no clipping: values stay below 1): MSE 0.01, 20 dB.
  const low = a.map((v) => Math.min(v, 0.8));
  assert.ok(Math.abs(framePsnr(low.map((v) => v + 0.1), low) - 20) < 1e-4);
  const b = low.map((v) => v + 0.1);
  // Predictions are clipped to [0, 1] before scoring.
  assert.equal(framePsnr(Float32Array.of(1.5, -2), Float32Array.of(1, 0)), 100);
  // SSIM falls for an inverted structure (negative correlation), and with the brightness shift.
  const inverted = a.map((v) => 1 - v);
  assert.ok(frameSsim(inverted, a, 8, 8) < 0);
  assert.ok(frameSsim(a.map((v) => v * 0.5), a, 8, 8) < 0.95);
  const m = batchImageMetrics(
    new Float32Array([...a, ...b]),
    new Float32Array([...a, ...a]),
    2,
    8,
    8,
  );
  assert.equal(m.perFramePsnr.length, 2);
  assert.equal(m.perFramePsnr[0], 100);
});

Deno.test("changed frames: a frame equal to its predecessor in every pixel is not changed", () => {
  const before = Float32Array.of(0, 0.5, 1, 1, 0.2, 0.2);
  const after = Float32Array.of(0, 0.5, 1, 0.9, 0.2, 0.2);
  assert.deepEqual(changedFrames(before, after, 3, 2), [false, true, false]);
  // Copying scores 100 dB on the unchanged frames and less where one moved: only the changed one counts.
  const psnrs = [0, 1, 2].map((i) =>
    framePsnr(before.subarray(2 * i, 2 * i + 2), after.subarray(2 * i, 2 * i + 2))
  );
  assert.equal(psnrs[0], 100);
  assert.equal(maskedMean(psnrs, changedFrames(before, after, 3, 2)), psnrs[1]);
  assert.ok(Number.isNaN(maskedMean(psnrs, [false, false, false])));
});
