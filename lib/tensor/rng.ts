/**
 * Seeded random numbers used by everything in the project: environments, masks, weight init,
 * shuffles, exploration. One algorithm (xoshiro128**), seeded through splitmix32, with a state
 * that can be saved into a checkpoint and restored exactly.
 *
 * @module
 */

/** The four 32-bit words of an {@linkcode Rng}'s state, as saved in checkpoints. */
export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a over a string, so streams can be named ("env/3", "mask") rather than numbered. */
function hashLabel(label: string | number): number {
  const text = String(label);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * xoshiro128** generator. Not cryptographic; fast, 2^128 - 1 period, and its whole state is four
 * integers, which makes exact resume from a checkpoint trivial.
 *
 * ```ts
 * const rng = new Rng(42);
 * rng.float(); // in [0, 1)
 * const child = rng.fork("env/0"); // independent stream, same every run
 * ```
 */
export class Rng {
  #s = new Uint32Array(4);

  /** Seeds the generator; any integer (negative and > 2^32 values are folded). */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng seed must be a finite number, got ${seed}`);
    const next = splitmix32(Math.floor(seed) ^ Math.floor(seed / 2 ** 32));
    for (let i = 0; i < 4; i++) this.#s[i] = next();
  }

  /** A generator restored from {@linkcode Rng.state}. */
  static fromState(state: RngState): Rng {
    const rng = new Rng(0);
    rng.setState(state);
    return rng;
  }

  /** The current state, to store in a checkpoint. */
  state(): RngState {
    return [this.#s[0], this.#s[1], this.#s[2], this.#s[3]];
  }

  /** Restores a state from {@linkcode Rng.state}. */
  setState(state: RngState): void {
    if (state.length !== 4 || state.every((w) => w === 0)) {
      throw new Error(`invalid Rng state ${JSON.stringify(state)}: expected 4 words, not all 0`);
    }
    for (let i = 0; i < 4; i++) this.#s[i] = state[i] >>> 0;
  }

  /** The next 32-bit unsigned integer. */
  uint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  float(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!(n >= 1) || !Number.isInteger(n)) {
      throw new Error(`Rng.int needs an integer n >= 1, got ${n}`);
    }
    if (n === 1) return 0;
    const limit = 4294967296 - (4294967296 % n);
    let x: number;
    do x = this.uint32(); while (x >= limit);
    return x % n;
  }

  /** Standard normal sample (Box-Muller; the second value is discarded to keep the state simple). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.float() < p;
  }

  /** Shuffles an array in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /**
   * An independent child generator named by a label. It depends on this generator's current
   * state and the label only, and does not advance this generator, so the order in which
   * children are forked does not matter.
   */
  fork(label: string | number): Rng {
    const h = hashLabel(label);
    const s = this.#s;
    return new Rng((s[0] ^ Math.imul(s[1], 0x9e3779b9) ^ rotl(s[2], 13) ^ s[3] ^ h) >>> 0)
      .#mix(h);
  }

  #mix(h: number): Rng {
    this.#s[3] ^= h;
    if (this.#s.every((w) => w === 0)) this.#s[0] = 1;
    return this;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Derives a reproducible integer seed from a base seed and a label ("train", "eval/2"). */
export function deriveSeed(seed: number, label: string | number): number {
  return new Rng(seed).fork(label).uint32();
}
