/**
 * Visual perturbations of the encoder-swap study, applied to the RGB frame before grayscale:
 * a colour jitter in HSV drawn once per episode, and Gaussian pixel noise drawn every step.
 *
 * Levels and parameters are the published ones (DESIGN.md section 5):
 * color_jitter hue 0.2, saturation 0.3, brightness 0.2; noise sigma 10; mild = both;
 * hard = hue 0.4, saturation 0.5, brightness 0.4, sigma 25.
 *
 * @module
 */

import type { Rng } from "../tensor/rng.ts";

/** The perturbation levels, in the order the study reports them. */
export const PERTURB_LEVELS = ["clean", "color_jitter", "noise", "mild", "hard"] as const;
/** One of {@linkcode PERTURB_LEVELS}. */
export type PerturbLevel = typeof PERTURB_LEVELS[number];

/** Ranges of a level: jitter factors are drawn from [1 - x, 1 + x] (hue: shift in [-x, x]). */
export interface PerturbSpec {
  /** Hue shift range, as a fraction of the colour wheel. */
  hue: number;
  /** Saturation factor range around 1. */
  saturation: number;
  /** Brightness (HSV value) factor range around 1. */
  brightness: number;
  /** Standard deviation of the per-pixel, per-channel Gaussian noise, in 0..255 units. */
  noiseSigma: number;
}

/** The published parameters of each level. */
export const PERTURBATIONS: Readonly<Record<PerturbLevel, PerturbSpec>> = {
  clean: { hue: 0, saturation: 0, brightness: 0, noiseSigma: 0 },
  color_jitter: { hue: 0.2, saturation: 0.3, brightness: 0.2, noiseSigma: 0 },
  noise: { hue: 0, saturation: 0, brightness: 0, noiseSigma: 10 },
  mild: { hue: 0.2, saturation: 0.3, brightness: 0.2, noiseSigma: 10 },
  hard: { hue: 0.4, saturation: 0.5, brightness: 0.4, noiseSigma: 25 },
};

/** Checks a level name, with an error that lists the valid ones. */
export function parsePerturbLevel(name: string): PerturbLevel {
  if ((PERTURB_LEVELS as readonly string[]).includes(name)) return name as PerturbLevel;
  throw new Error(`unknown perturbation '${name}' (valid: ${PERTURB_LEVELS.join(", ")})`);
}

/** The jitter drawn for one episode. */
export interface JitterFactors {
  hueShift: number;
  saturation: number;
  brightness: number;
}

/**
 * Applies one level's perturbation to RGB frames in place. Call {@linkcode newEpisode} at every
 * reset (draws the episode's jitter) and {@linkcode apply} on every observed frame.
 */
export class Perturber {
  readonly spec: PerturbSpec;
  #jitter: JitterFactors = { hueShift: 0, saturation: 1, brightness: 1 };
  #cache = new Map<number, number>();
  #rng: Rng;

  constructor(level: PerturbLevel | PerturbSpec, rng: Rng) {
    this.spec = typeof level === "string" ? PERTURBATIONS[parsePerturbLevel(level)] : level;
    this.#rng = rng;
  }

  /** Replaces the random stream (when the env is re-seeded). */
  reseed(rng: Rng): void {
    this.#rng = rng;
  }

  /** True when this level changes frames at all. */
  get active(): boolean {
    const s = this.spec;
    return s.hue > 0 || s.saturation > 0 || s.brightness > 0 || s.noiseSigma > 0;
  }

  /** The jitter of the current episode. */
  get jitter(): Readonly<JitterFactors> {
    return this.#jitter;
  }

  /** Draws the colour jitter for a new episode. */
  newEpisode(): void {
    const { hue, saturation, brightness } = this.spec;
    this.#jitter = {
      hueShift: hue > 0 ? this.#rng.uniform(-hue, hue) : 0,
      saturation: saturation > 0
        ? this.#rng.uniform(Math.max(0, 1 - saturation), 1 + saturation)
        : 1,
      brightness: brightness > 0
        ? this.#rng.uniform(Math.max(0, 1 - brightness), 1 + brightness)
        : 1,
    };
    this.#cache.clear();
  }

  /** Perturbs a packed RGB frame in place. */
  apply(rgb: Uint8Array): Uint8Array {
    const { hue, saturation, brightness, noiseSigma } = this.spec;
    if (hue > 0 || saturation > 0 || brightness > 0) this.#applyJitter(rgb);
    if (noiseSigma > 0) addGaussianNoise(rgb, noiseSigma, this.#rng);
    return rgb;
  }

  #applyJitter(rgb: Uint8Array): void {
    // Atari frames hold few colours in long runs: remember the last colour and a per-episode
    // table, so HSV maths runs once per distinct colour rather than once per pixel.
    let lastKey = -1;
    let lastVal = 0;
    for (let j = 0; j < rgb.length; j += 3) {
      const key = (rgb[j] << 16) | (rgb[j + 1] << 8) | rgb[j + 2];
      if (key !== lastKey) {
        let val = this.#cache.get(key);
        if (val === undefined) {
          val = jitterColor(key, this.#jitter);
          this.#cache.set(key, val);
        }
        lastKey = key;
        lastVal = val;
      }
      rgb[j] = lastVal >>> 16;
      rgb[j + 1] = (lastVal >>> 8) & 255;
      rgb[j + 2] = lastVal & 255;
    }
  }
}

/** Jitters one packed 0xRRGGBB colour in HSV; returns the packed result. */
export function jitterColor(packed: number, f: JitterFactors): number {
  const [h, s, v] = rgbToHsv(packed >>> 16, (packed >>> 8) & 255, packed & 255);
  const [r, g, b] = hsvToRgb(
    (((h + f.hueShift) % 1) + 1) % 1,
    Math.min(1, s * f.saturation),
    Math.min(1, v * f.brightness),
  );
  return (r << 16) | (g << 8) | b;
}

/** RGB in 0..255 to HSV in [0, 1). */
export function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const d = max - min;
  let h = 0;
  if (d > 0) {
    if (max === r) h = ((g - b) / d + 6) % 6;
    else if (max === g) h = (b - r) / d + 2;
    else h = (r - g) / d + 4;
    h /= 6;
  }
  return [h, max === 0 ? 0 : d / max, max / 255];
}

/** HSV in [0, 1] to RGB in 0..255 (rounded). */
export function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(h * 6) % 6;
  const f = h * 6 - Math.floor(h * 6);
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const [r, g, b] = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][i];
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

/** Adds N(0, sigma^2) noise to every byte, rounding and clipping to 0..255. */
export function addGaussianNoise(data: Uint8Array, sigma: number, rng: Rng): void {
  // Box-Muller, using both outputs of each pair.
  for (let i = 0; i < data.length; i += 2) {
    let u = rng.float();
    while (u === 0) u = rng.float();
    const r = sigma * Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * rng.float();
    data[i] = clampByte(data[i] + r * Math.cos(theta));
    if (i + 1 < data.length) data[i + 1] = clampByte(data[i + 1] + r * Math.sin(theta));
  }
}

function clampByte(x: number): number {
  return x <= 0 ? 0 : x >= 255 ? 255 : Math.round(x);
}
