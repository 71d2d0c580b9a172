import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { Rng } from "../tensor/rng.ts";
import { loadReplay, ReplayBuffer, saveReplay } from "./replay.ts";

/** Episodes of `lengths` decisions, each frame's pixels = 10 * episode + step; returns the rows. */
function fill(buf: ReplayBuffer, lengths: number[]) {
  const rows: { e: number; t: number; final: boolean }[] = [];
  lengths.forEach((len, e) => {
    for (let t = 0; t <= len; t++) {
      const final = t === len;
      buf.add(new Uint8Array(4).fill(10 * e + t), {
        first: t === 0,
        action: final ? -1 : (e + t) % 3,
        reward: final ? 0 : t,
        done: t === len - 1,
      });
      rows.push({ e, t, final });
    }
  });
  return rows;
}

/** The newest frame value of each stack in a batch, and the whole stacks. */
function stacks(obs: Uint8Array, b: number, k: number): number[][] {
  // Frames are 2x2x1: pixel 0's k channels are the stack, oldest first.
  return Array.from({ length: b }, (_, i) => Array.from(obs.subarray(i * 4 * k, i * 4 * k + k)));
}

Deno.test("a sampled transition's stacks are the frames before it, clamped at its episode's start", () => {
  const buf = new ReplayBuffer({ capacity: 64, frameShape: [2, 2, 1], stack: 3 });
  fill(buf, [4, 2, 5]);
  assert.equal(buf.size, 4 + 2 + 5, "every decision, no final observation");
  const b = 200;
  const batch = buf.sample(b, new Rng(0));
  const s = stacks(batch.obs, b, 3), ns = stacks(batch.nextObs, b, 3);
  for (let i = 0; i < b; i++) {
    const v = s[i][2];
    const e = Math.floor(v / 10), t = v % 10;
    const at = (d: number) => 10 * e + Math.max(0, t - d);
    assert.deepEqual(s[i], [at(2), at(1), at(0)], `state of ${e}/${t}`);
    assert.deepEqual(ns[i], [10 * e + Math.max(0, t - 1), 10 * e + t, 10 * e + t + 1]);
    assert.equal(batch.actions[i], (e + t) % 3);
    assert.equal(batch.rewards[i], t);
    assert.equal(batch.dones[i], t === [4, 2, 5][e] - 1 ? 1 : 0);
    assert.equal(batch.weights[i], 1);
  }
  assert.equal(new Set(s.map((x) => x[2])).size, 11, "every transition drawn in 200 draws");
});

Deno.test("once the ring wraps, stacks stop at the oldest frame held and the newest is never drawn", () => {
  const buf = new ReplayBuffer({ capacity: 8, frameShape: [2, 2, 1], stack: 4 });
  fill(buf, [9]); // 10 slots into 8: frames 2..9 are held, 9 the final observation
  const b = 300;
  const s = stacks(buf.sample(b, new Rng(1)).obs, b, 4);
  const newest = new Set(s.map((x) => x[3]));
  assert.deepEqual([...newest].sort((a, b) => a - b), [2, 3, 4, 5, 6, 7, 8]);
  for (const x of s) {
    for (const v of x) assert.ok(v >= 2, `frame ${v} was overwritten`);
  }
  assert.deepEqual(s.find((x) => x[3] === 3), [2, 2, 2, 3], "clamped at the oldest frame held");
});

Deno.test("prioritized replay draws in proportion to the priorities, with hand-computed weights", () => {
  const buf = new ReplayBuffer({
    capacity: 16,
    frameShape: [2, 2, 1],
    stack: 1,
    priorities: { alpha: 1, eps: 0 },
  });
  fill(buf, [3]); // transitions at slots 0, 1, 2; slot 3 is the final observation
  assert.equal(buf.tree!.count, 3);
  buf.updatePriorities(Int32Array.from([0, 1, 2]), [1, 2, 5]);
  const counts = [0, 0, 0];
  const rng = new Rng(2);
  for (let k = 0; k < 500; k++) for (const slot of buf.sample(8, rng, 0.5).slots) counts[slot]++;
  [1 / 8, 2 / 8, 5 / 8].forEach((want, i) =>
    assert.ok(Math.abs(counts[i] / 4000 - want) < 0.02, `${counts}`)
  );
  // w_i = (N P_i)^-beta / max_j (N P_j)^-beta with N = 3, P = (1, 2, 5) / 8, beta = 0.5.
  const batch = buf.sample(64, new Rng(3), 0.5);
  const w = (p: number) => (3 * p / 8) ** -0.5 / (3 * 1 / 8) ** -0.5;
  batch.slots.forEach((slot, k) => {
    assert.ok(Math.abs(batch.weights[k] - w([1, 2, 5][slot])) < 1e-6);
  });
  // A new transition gets the largest priority seen so far.
  buf.add(new Uint8Array(4).fill(50), { first: true, action: 0, reward: 0, done: false });
  buf.add(new Uint8Array(4).fill(51), { first: false, action: 1, reward: 0, done: false });
  assert.equal(buf.tree!.get(4), 5);
  assert.equal(buf.tree!.get(5), 0, "its next frame is not written yet");
});

Deno.test("a buffer refuses a frame of another size and sampling before any transition", () => {
  const buf = new ReplayBuffer({ capacity: 8, frameShape: [2, 2, 1], stack: 2 });
  assert.throws(
    () => buf.add(new Uint8Array(3), { first: true, action: 0, reward: 0, done: false }),
    /a frame has 3 bytes, expected 4/,
  );
  assert.throws(() => buf.sample(1, new Rng(0)), /no complete transition/);
  assert.throws(
    () => new ReplayBuffer({ capacity: 2, frameShape: [2, 2, 1], stack: 4 }),
    /capacity/,
  );
});

Deno.test("a saved buffer (gzipped) loads back whole; a version-1 raw file still loads", async () => {
  const opts = { capacity: 32, frameShape: [2, 2, 1] as [number, number, number], stack: 3 };
  const buf = new ReplayBuffer({ ...opts, priorities: { alpha: 0.6, eps: 1e-6 } });
  fill(buf, [4, 2, 5]);
  buf.updatePriorities(Int32Array.of(1, 3), Float32Array.of(0.5, 2));
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/replay.bin`;
    const ref = await saveReplay(buf, path);
    const file = Deno.readFileSync(path);
    assert.deepEqual([file[0], file[1]], [0x1f, 0x8b], "gzip");
    const same = (b: ReplayBuffer) => {
      assert.deepEqual(b.frames, buf.frames);
      assert.deepEqual([b.cursor, b.written, b.maxPriority], [
        buf.cursor,
        buf.written,
        buf.maxPriority,
      ]);
      assert.deepEqual(b.tree!.priorities(), buf.tree!.priorities());
      assert.deepEqual(b.sample(16, new Rng(3)), buf.sample(16, new Rng(3)));
    };
    const back = new ReplayBuffer({ ...opts, priorities: { alpha: 0.6, eps: 1e-6 } });
    loadReplay(back, path, ref);
    same(back);
    // The raw layout of version 1 (checkpoints written before compression): same bytes, unzipped.
    const raw = gunzipSync(file);
    const headerLength = Number(new DataView(raw.buffer, raw.byteOffset).getBigUint64(0, true));
    const header = new TextDecoder().decode(raw.subarray(8, 8 + headerLength));
    raw.set(new TextEncoder().encode(header.replace('"version":2', '"version":1')), 8);
    Deno.writeFileSync(path, raw);
    const v1 = {
      ...ref,
      bytes: raw.length,
      sha256: createHash("sha256").update(raw).digest("hex"),
    };
    const old = new ReplayBuffer({ ...opts, priorities: { alpha: 0.6, eps: 1e-6 } });
    loadReplay(old, path, v1);
    same(old);
    const other = new ReplayBuffer({
      ...opts,
      capacity: 16,
      priorities: { alpha: 0.6, eps: 1e-6 },
    });
    assert.throws(() => loadReplay(other, path, v1), /replay\.bin: the saved buffer's layout/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
