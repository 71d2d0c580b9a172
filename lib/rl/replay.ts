/**
 * DQN's replay buffer, each frame stored once: a ring of `capacity` single observations (84x84
 * gray: 7 KB each, so 200K steps fit in 1.4 GB where stacked pairs would take 11 GB), with the
 * action taken in each, its reward and whether the transition ended the game. A transition's
 * stacks are indices into the ring: the `k` frames ending at slot i (state) and at slot i + 1
 * (next state), never reaching back past the episode's first frame (repeated there, as
 * `FrameStack` repeats it after a reset) or past the oldest frame still held.
 *
 * An episode's final observation is stored as a slot of its own with no transition from it, as
 * the project's datasets store it; slots that are final observations, or whose next frame is not
 * written yet, are never sampled.
 *
 * Prioritized replay (Schaul et al. 2016, proportional): `priorities` on, each transition i has
 * p_i = (|delta_i| + eps)^alpha, drawn with P(i) = p_i / sum_j p_j (stratified over the batch),
 * new ones at the largest priority seen, and importance weights
 *
 *   w_i = (N P(i))^-beta / max_j (N P(j))^-beta       (N: transitions held)
 *
 * with beta annealed to 1 by the trainer.
 *
 * A buffer is saved whole beside a trainer's checkpoint (`saveReplay`: a JSON header, then the
 * raw arrays) and validated on read (`loadReplay`: its sha256, its size, and its layout against
 * the buffer it is loaded into), so a resumed run samples exactly what an uninterrupted one would.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { gunzipSync, gzipSync } from "node:zlib";
import { writeFileAtomic } from "../run/atomic.ts";
import type { Rng } from "../tensor/rng.ts";
import { SumTree } from "./sum_tree.ts";

/** How a buffer is built. */
export interface ReplayOptions {
  capacity: number;
  /** `[height, width, channels]` of one observation (before stacking). */
  frameShape: [number, number, number];
  /** Frames per stack. */
  stack: number;
  /** Proportional prioritized replay (off: uniform). */
  priorities?: { alpha: number; eps: number };
}

/** A sampled batch. */
export interface ReplayBatch {
  /** `[B, h, w, c * stack]` uint8, channels last, oldest frame first. */
  obs: Uint8Array;
  nextObs: Uint8Array;
  actions: Int32Array;
  rewards: Float32Array;
  /** 1 where the transition ended the game (no bootstrap from `nextObs`). */
  dones: Uint8Array;
  /** Slots of the transitions (to update their priorities). */
  slots: Int32Array;
  /** Importance weights (all 1 without priorities). */
  weights: Float32Array;
}

/** The replay buffer of the module doc. */
export class ReplayBuffer {
  readonly frames: Uint8Array;
  readonly actions: Int32Array;
  readonly rewards: Float32Array;
  readonly dones: Uint8Array;
  /** 1 where the slot is an episode's first frame. */
  readonly firsts: Uint8Array;
  /** 1 where the slot is an episode's final observation (no transition from it). */
  readonly finals: Uint8Array;
  readonly tree: SumTree | null;
  readonly #frameBytes: number;
  /** Next slot to write, and slots written in all (the ring holds the last `capacity`). */
  cursor = 0;
  written = 0;
  /** The largest priority given so far (new transitions get it). */
  maxPriority = 1;

  constructor(readonly opts: ReplayOptions) {
    const [h, w, c] = opts.frameShape;
    this.#frameBytes = h * w * c;
    const n = opts.capacity;
    if (!Number.isInteger(n) || n < opts.stack + 2) {
      throw new Error(`ReplayBuffer: capacity must be an integer >= stack + 2, got ${n}`);
    }
    this.frames = new Uint8Array(n * this.#frameBytes);
    this.actions = new Int32Array(n);
    this.rewards = new Float32Array(n);
    this.dones = new Uint8Array(n);
    this.firsts = new Uint8Array(n);
    this.finals = new Uint8Array(n);
    this.tree = opts.priorities ? new SumTree(n) : null;
  }

  /** Transitions that can be sampled now. */
  get size(): number {
    let count = 0;
    for (let i = 0; i < this.opts.capacity; i++) if (this.#complete(i)) count++;
    return count;
  }

  /**
   * Stores observation `frame` (an episode's first when `first`) in the next slot; with an
   * `action` (and its `reward`, `done`), the transition from it, completed by the next frame.
   * Without one (`action = -1`) the slot is the episode's final observation.
   */
  add(
    frame: Uint8Array,
    t: { first: boolean; action: number; reward: number; done: boolean },
  ): void {
    if (frame.length !== this.#frameBytes) {
      throw new Error(
        `ReplayBuffer: a frame has ${frame.length} bytes, expected ${this.#frameBytes}`,
      );
    }
    const i = this.cursor;
    this.frames.set(frame, i * this.#frameBytes);
    this.actions[i] = t.action;
    this.rewards[i] = t.reward;
    this.dones[i] = t.done ? 1 : 0;
    this.firsts[i] = t.first ? 1 : 0;
    this.finals[i] = t.action < 0 ? 1 : 0;
    // The transition from the previous slot is complete now; this slot's is not yet.
    if (this.tree) {
      this.tree.set(i, 0);
      const prev = (i - 1 + this.opts.capacity) % this.opts.capacity;
      if (this.written > 0 && !this.finals[prev]) this.tree.set(prev, this.maxPriority);
    }
    this.cursor = (i + 1) % this.opts.capacity;
    this.written++;
  }

  /** Whether slot i holds a complete transition (its next frame is written and its own). */
  #complete(i: number): boolean {
    const n = this.opts.capacity;
    const held = Math.min(this.written, n);
    // Slots held, oldest first: the one before the cursor was written last.
    const age = (this.cursor - 1 - i + n) % n; // 0 for the newest
    return age >= 1 && age < held && !this.finals[i];
  }

  /**
   * A uniformly drawn complete transition: a held slot drawn until it is one (about one draw:
   * one slot in an episode's length is a final observation), else a scan.
   */
  #uniformSlot(rng: Rng): number {
    const n = this.opts.capacity;
    const held = Math.min(this.written, n);
    for (let tries = 0; held >= 2 && tries < 64; tries++) {
      const i = (this.cursor - 2 - rng.int(held - 1) + 2 * n) % n;
      if (!this.finals[i]) return i;
    }
    const complete = [...Array(n).keys()].filter((i) => this.#complete(i));
    if (complete.length === 0) {
      throw new Error("ReplayBuffer: no complete transition to sample yet");
    }
    return complete[rng.int(complete.length)];
  }

  /** The stack of `k` frames ending at slot i into `out` at `at` (channels last, oldest first). */
  #stackInto(i: number, out: Uint8Array, at: number): void {
    const { stack: k, capacity: n } = this.opts;
    const c = this.opts.frameShape[2];
    const held = Math.min(this.written, n);
    const oldest = (this.cursor - held + n) % n;
    // Walk back from i: stop at the episode's first frame or the oldest frame held.
    const slots = new Array<number>(k);
    let j = i;
    for (let s = k - 1; s >= 0; s--) {
      slots[s] = j;
      if (!this.firsts[j] && j !== oldest) j = (j - 1 + n) % n;
    }
    // One pass per stacked frame, strided writes: the hot loop of every sampled batch.
    const fb = this.#frameBytes;
    const stride = k * c;
    for (let s = 0; s < k; s++) {
      const src = this.frames.subarray(slots[s] * fb, (slots[s] + 1) * fb);
      for (let ch = 0; ch < c; ch++) {
        let o = at + s * c + ch;
        for (let p = ch; p < fb; p += c, o += stride) out[o] = src[p];
      }
    }
  }

  /**
   * A batch of `b` transitions: uniform, or proportional to the priorities (stratified) with
   * importance weights for `beta`. Throws when none can be sampled yet.
   */
  sample(b: number, rng: Rng, beta = 1): ReplayBatch {
    const count = this.tree ? this.tree.count : Math.min(this.written, this.opts.capacity);
    if (count === 0 || (this.tree && this.tree.total === 0)) {
      throw new Error("ReplayBuffer: no complete transition to sample yet");
    }
    const slots = new Int32Array(b);
    const weights = new Float32Array(b).fill(1);
    if (this.tree) {
      const total = this.tree.total;
      const segment = total / b;
      for (let k = 0; k < b; k++) slots[k] = this.tree.find((k + rng.float()) * segment);
      // The largest weight, that of the smallest priority among the transitions held.
      const maxW = (count * this.tree.min / total) ** -beta;
      for (let k = 0; k < b; k++) {
        weights[k] = (count * this.tree.get(slots[k]) / total) ** -beta / maxW;
      }
    } else {
      for (let k = 0; k < b; k++) slots[k] = this.#uniformSlot(rng);
    }
    const stackBytes = this.#frameBytes * this.opts.stack;
    const obs = new Uint8Array(b * stackBytes);
    const nextObs = new Uint8Array(b * stackBytes);
    const n = this.opts.capacity;
    slots.forEach((i, k) => {
      this.#stackInto(i, obs, k * stackBytes);
      this.#stackInto((i + 1) % n, nextObs, k * stackBytes);
    });
    return {
      obs,
      nextObs,
      actions: Int32Array.from(slots, (i) => this.actions[i]),
      rewards: Float32Array.from(slots, (i) => this.rewards[i]),
      dones: Uint8Array.from(slots, (i) => this.dones[i]),
      slots,
      weights,
    };
  }

  /** New priorities from the transitions' TD errors: p = (|delta| + eps)^alpha. */
  updatePriorities(slots: Int32Array, tdErrors: ArrayLike<number>): void {
    if (!this.tree) return;
    const { alpha, eps } = this.opts.priorities!;
    slots.forEach((i, k) => {
      const p = (Math.abs(tdErrors[k]) + eps) ** alpha;
      if (this.#complete(i)) this.tree!.set(i, p);
      this.maxPriority = Math.max(this.maxPriority, p);
    });
  }
}

/** What a checkpoint's sidecar records of a saved buffer (`loadReplay` checks the file by it). */
export interface ReplayFileRef {
  file: string;
  sha256: string;
  bytes: number;
}

const REPLAY_FORMAT = "jepa-atari-replay";

/** The buffer's arrays in file order, each as bytes (a view, no copy). */
function replaySections(buffer: ReplayBuffer): [string, Uint8Array][] {
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const sections: [string, Uint8Array][] = [
    ["frames", buffer.frames],
    ["actions", bytes(buffer.actions)],
    ["rewards", bytes(buffer.rewards)],
    ["dones", buffer.dones],
    ["firsts", buffer.firsts],
    ["finals", buffer.finals],
  ];
  if (buffer.tree) sections.push(["priorities", bytes(buffer.tree.priorities())]);
  return sections;
}

/** The layout a file must have to load into `buffer` (options, and the sizes of its arrays). */
function replayLayout(buffer: ReplayBuffer) {
  return {
    capacity: buffer.opts.capacity,
    frameShape: buffer.opts.frameShape,
    stack: buffer.opts.stack,
    priorities: buffer.opts.priorities ?? null,
    sections: replaySections(buffer).map(([name, b]) => [name, b.byteLength]),
  };
}

/**
 * Writes `buffer` to `path` atomically (temp file + rename), gzipped (version 2): an 8-byte
 * little-endian header length, a JSON header (format, layout, cursor, counts), then each array's
 * bytes, as one gzip member per part. A small-preset buffer of 100K Breakout frames (707 MB) takes
 * 17 MB, its compression a fraction of what writing it raw took, and no copy of it is made.
 */
export async function saveReplay(buffer: ReplayBuffer, path: string): Promise<ReplayFileRef> {
  const header = new TextEncoder().encode(JSON.stringify({
    format: REPLAY_FORMAT,
    version: 2,
    layout: replayLayout(buffer),
    cursor: buffer.cursor,
    written: buffer.written,
    maxPriority: buffer.maxPriority,
  }));
  const prefix = new Uint8Array(8 + header.length);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(header.length), true);
  prefix.set(header, 8);
  const members = [prefix, ...replaySections(buffer).map(([, b]) => b)].map((part) =>
    gzipSync(part, { level: 1 })
  );
  const out = new Uint8Array(members.reduce((n, m) => n + m.length, 0));
  members.reduce((at, m) => (out.set(m, at), at + m.length), 0);
  await writeFileAtomic(path, out);
  const sha256 = createHash("sha256").update(out).digest("hex");
  return { file: path.split(/[\\/]/).pop()!, sha256, bytes: out.length };
}

/**
 * Fills `buffer` from the file at `path` written by {@linkcode saveReplay}. Throws, naming the
 * file and what differs, when its size or checksum is not `ref`'s (truncated or replaced) or its
 * layout is not the buffer's (another capacity, frame shape, stack or priority setting);
 * `buffer` is untouched then.
 */
export function loadReplay(buffer: ReplayBuffer, path: string, ref: ReplayFileRef): void {
  if (!existsSync(path)) throw new Error(`${path}: the replay buffer file is missing`);
  const bytes = readFileSync(path);
  if (bytes.byteLength !== ref.bytes) {
    throw new Error(`${path}: ${bytes.byteLength} bytes, the checkpoint recorded ${ref.bytes}`);
  }
  if (createHash("sha256").update(bytes).digest("hex") !== ref.sha256) {
    throw new Error(`${path}: checksum mismatch (the file is corrupt or was replaced)`);
  }
  // Version 2 is gzipped (it starts with gzip's magic bytes); version 1 files are raw.
  const gzipped = bytes[0] === 0x1f && bytes[1] === 0x8b;
  const raw: Uint8Array = gzipped ? gunzipSync(bytes) : bytes;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(raw.subarray(8, 8 + headerLength)));
  if (header.format !== REPLAY_FORMAT || header.version !== (gzipped ? 2 : 1)) {
    throw new Error(`${path}: not a version-1 or gzipped version-2 ${REPLAY_FORMAT} file`);
  }
  const want = JSON.stringify(replayLayout(buffer));
  if (JSON.stringify(header.layout) !== want) {
    throw new Error(
      `${path}: the saved buffer's layout ${JSON.stringify(header.layout)} is not this ` +
        `buffer's ${want}`,
    );
  }
  let at = 8 + headerLength;
  for (const [name, b] of replaySections(buffer)) {
    const src = raw.subarray(at, at + b.byteLength);
    at += b.byteLength;
    if (name === "priorities") {
      const aligned = new Uint8Array(src); // a copy: Float64Array needs 8-byte alignment
      buffer.tree!.load(new Float64Array(aligned.buffer));
    } else b.set(src);
  }
  buffer.cursor = header.cursor;
  buffer.written = header.written;
  buffer.maxPriority = header.maxPriority;
}
