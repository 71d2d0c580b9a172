import assert from "node:assert/strict";
import { Rng } from "../tensor/rng.ts";
import {
  hsvToRgb,
  jitterColor,
  parsePerturbLevel,
  PERTURBATIONS,
  Perturber,
  rgbToHsv,
} from "./perturb.ts";

Deno.test("the published levels", () => {
  assert.deepEqual(PERTURBATIONS.color_jitter, {
    hue: 0.2,
    saturation: 0.3,
    brightness: 0.2,
    noiseSigma: 0,
  });
  assert.deepEqual(PERTURBATIONS.mild, {
    hue: 0.2,
    saturation: 0.3,
    brightness: 0.2,
    noiseSigma: 10,
  });
  assert.deepEqual(PERTURBATIONS.hard, {
    hue: 0.4,
    saturation: 0.5,
    brightness: 0.4,
    noiseSigma: 25,
  });
  assert.throws(() => parsePerturbLevel("strong"), /valid: clean, color_jitter, noise, mild, hard/);
});

Deno.test("HSV round trip is exact on Atari colours", () => {
  for (
    const [r, g, b] of [[200, 72, 72], [66, 72, 200], [142, 142, 142], [0, 0, 0], [162, 162, 42]]
  ) {
    assert.deepEqual(hsvToRgb(...rgbToHsv(r, g, b)), [r, g, b]);
  }
});

Deno.test("noise has the published sigma and zero mean (per pixel, per step)", () => {
  const hardNoiseOnly = { ...PERTURBATIONS.clean, noiseSigma: PERTURBATIONS.hard.noiseSigma };
  for (const spec of [PERTURBATIONS.noise, hardNoiseOnly]) {
    const p = new Perturber(spec, new Rng(1));
    p.newEpisode();
    const frame = new Uint8Array(210 * 160 * 3).fill(128);
    p.apply(frame);
    const n = frame.length;
    const mean = frame.reduce((s, v) => s + v, 0) / n;
    const sd = Math.sqrt(frame.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
    assert.ok(Math.abs(mean - 128) < 0.2, `mean ${mean}`);
    assert.ok(Math.abs(sd - spec.noiseSigma) < 0.25, `sd ${sd}`);
    const again = new Uint8Array(n).fill(128);
    p.apply(again);
    assert.notDeepEqual(again.subarray(0, 100), frame.subarray(0, 100), "fresh noise every step");
  }
});

Deno.test("jitter factors are drawn once per episode within the published ranges", () => {
  const p = new Perturber("hard", new Rng(2));
  const seen = {
    hue: [Infinity, -Infinity],
    sat: [Infinity, -Infinity],
    bri: [Infinity, -Infinity],
  };
  for (let i = 0; i < 2000; i++) {
    p.newEpisode();
    const j = p.jitter;
    seen.hue = [Math.min(seen.hue[0], j.hueShift), Math.max(seen.hue[1], j.hueShift)];
    seen.sat = [Math.min(seen.sat[0], j.saturation), Math.max(seen.sat[1], j.saturation)];
    seen.bri = [Math.min(seen.bri[0], j.brightness), Math.max(seen.bri[1], j.brightness)];
  }
  const close = (a: number, b: number) => Math.abs(a - b) < 0.01;
  assert.ok(
    seen.hue[0] >= -0.4 && seen.hue[1] <= 0.4 && close(seen.hue[0], -0.4) &&
      close(seen.hue[1], 0.4),
  );
  assert.ok(
    seen.sat[0] >= 0.5 && seen.sat[1] <= 1.5 && close(seen.sat[0], 0.5) && close(seen.sat[1], 1.5),
  );
  assert.ok(
    seen.bri[0] >= 0.6 && seen.bri[1] <= 1.4 && close(seen.bri[0], 0.6) && close(seen.bri[1], 1.4),
  );

  const jitter = new Perturber("color_jitter", new Rng(3));
  jitter.newEpisode();
  const a = jitter.apply(new Uint8Array(30).fill(0).map((_, i) => (i % 3 === 0 ? 200 : 72)));
  const b = jitter.apply(new Uint8Array(30).fill(0).map((_, i) => (i % 3 === 0 ? 200 : 72)));
  assert.deepEqual(a, b, "same colour maps the same way within an episode");
  assert.equal(jitterColor(0xc84848, { hueShift: 0, saturation: 1, brightness: 1 }), 0xc84848);
});

Deno.test("clean does nothing", () => {
  const p = new Perturber("clean", new Rng(0));
  p.newEpisode();
  assert.equal(p.active, false);
  const f = Uint8Array.from({ length: 30 }, (_, i) => i);
  assert.deepEqual(p.apply(f.slice()), f);
});
