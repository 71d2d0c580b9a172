import assert from "node:assert/strict";
import { encodeGif } from "./gif.ts";

/** What the tests read back from a GIF: RGB frames, delays (1/100 s) and the loop extension. */
interface DecodedGif {
  width: number;
  height: number;
  frames: Uint8Array[];
  delays: number[];
  loops: boolean;
  /** LZW clear codes seen, over all frames. */
  clears: number;
}

/**
 * A minimal GIF decoder, written from the GIF89a spec so the encoder is checked against an
 * independent reader: global/local colour tables, graphic control and NETSCAPE extensions,
 * variable-width LZW. Frames are assumed full-size at (0, 0), which is what encodeGif writes.
 */
function decodeGif(bytes: Uint8Array): DecodedGif {
  const u16 = (at: number) => bytes[at] | (bytes[at + 1] << 8);
  const ascii = (at: number, n: number) => String.fromCharCode(...bytes.subarray(at, at + n));
  assert.equal(ascii(0, 6), "GIF89a");
  const width = u16(6);
  const height = u16(8);
  let at = 13;
  let global: Uint8Array | undefined;
  if (bytes[10] & 0x80) {
    global = bytes.subarray(at, at + 3 * (2 << (bytes[10] & 7)));
    at += global.length;
  }
  const out: DecodedGif = { width, height, frames: [], delays: [], loops: false, clears: 0 };
  const subBlocks = (): Uint8Array => {
    const parts: number[] = [];
    while (bytes[at] !== 0) {
      parts.push(...bytes.subarray(at + 1, at + 1 + bytes[at]));
      at += 1 + bytes[at];
    }
    at++;
    return new Uint8Array(parts);
  };
  for (;;) {
    const block = bytes[at++];
    if (block === 0x3b) return out;
    if (block === 0x21) {
      const label = bytes[at++];
      if (label === 0xf9) out.delays.push(u16(at + 2));
      if (label === 0xff && ascii(at + 1, 11) === "NETSCAPE2.0") out.loops = true;
      subBlocks();
    } else if (block === 0x2c) {
      assert.deepEqual([u16(at), u16(at + 2), u16(at + 4), u16(at + 6)], [0, 0, width, height]);
      const flags = bytes[at + 8];
      at += 9;
      let table = global!;
      if (flags & 0x80) {
        table = bytes.subarray(at, at + 3 * (2 << (flags & 7)));
        at += table.length;
      }
      const minCodeSize = bytes[at++];
      const index = lzwDecode(minCodeSize, subBlocks(), width * height, out);
      out.frames.push(
        Uint8Array.from(
          { length: index.length * 3 },
          (_, i) => table[index[Math.floor(i / 3)] * 3 + (i % 3)],
        ),
      );
    } else {
      throw new Error(`unexpected block 0x${block.toString(16)} at byte ${at - 1}`);
    }
  }
}

function lzwDecode(
  minCodeSize: number,
  data: Uint8Array,
  pixels: number,
  stats: { clears: number },
): Uint8Array {
  const clear = 1 << minCodeSize;
  const end = clear + 1;
  const fresh = () => Array.from({ length: clear + 2 }, (_, i) => [i]);
  let dict = fresh();
  let size = minCodeSize + 1;
  let prev: number[] | undefined;
  let bit = 0;
  const out: number[] = [];
  while (bit + size <= data.length * 8) {
    let code = 0;
    for (let b = 0; b < size; b++, bit++) code |= ((data[bit >> 3] >> (bit & 7)) & 1) << b;
    if (code === clear) {
      stats.clears++;
      dict = fresh();
      size = minCodeSize + 1;
      prev = undefined;
      continue;
    }
    if (code === end) break;
    const entry = code < dict.length ? dict[code] : [...prev!, prev![0]];
    out.push(...entry);
    if (prev) dict.push([...prev, entry[0]]);
    prev = entry;
    if (dict.length === 1 << size && size < 12) size++;
  }
  assert.equal(out.length, pixels);
  return new Uint8Array(out);
}

/** A w x h RGB frame of vertical stripes in `colors`, shifted by `shift` columns. */
function stripes(w: number, h: number, colors: number[][], shift: number): Uint8Array {
  const frame = new Uint8Array(w * h * 3);
  for (let p = 0; p < w * h; p++) frame.set(colors[((p % w) + shift) % colors.length], p * 3);
  return frame;
}

const ATARI_COLORS = [[0, 0, 0], [200, 72, 72], [66, 72, 200], [142, 142, 142], [162, 98, 33]];

Deno.test("encodeGif keeps every frame and a few-colour palette exactly", () => {
  const frames = [0, 1, 2, 3].map((s) => stripes(13, 7, ATARI_COLORS, s));
  const gif = encodeGif(frames, 13, 7, 3, { delayMs: 50 });
  assert.equal(new TextDecoder().decode(gif.subarray(0, 6)), "GIF89a");
  const decoded = decodeGif(gif);
  assert.deepEqual([decoded.width, decoded.height], [13, 7]);
  assert.deepEqual(decoded.frames, frames);
  assert.deepEqual(decoded.delays, [5, 5, 5, 5]);
  assert.equal(decoded.loops, true);
});

Deno.test("encodeGif expands gray frames to exact gray colours", () => {
  const frames = [0, 1].map((s) =>
    Uint8Array.from({ length: 10 * 6 }, (_, p) => ((p + s) % 4) * 60)
  );
  const decoded = decodeGif(encodeGif(frames, 10, 6, 1, { loop: false }));
  assert.equal(decoded.loops, false);
  assert.deepEqual(
    decoded.frames,
    frames.map((f) => Uint8Array.from([...f].flatMap((g) => [g, g, g]))),
  );
});

Deno.test("encodeGif stays exact when the LZW table fills and resets inside a frame", () => {
  // Random pixels over 200 colours make short LZW strings, so the 4096-entry code table fills
  // and the encoder must emit clear codes in the middle of the frame.
  // A fixed linear congruential sequence: the test needs many colours, not a good generator.
  let state = 1;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) % 200;
  const colors = Array.from({ length: 200 }, (_, i) => [i, (i * 7) & 255, (i * 13) & 255]);
  const frame = new Uint8Array(96 * 96 * 3);
  for (let p = 0; p < 96 * 96; p++) frame.set(colors[next()], p * 3);
  const decoded = decodeGif(encodeGif([frame, frame.slice().reverse()], 96, 96, 3));
  assert.equal(decoded.frames.length, 2);
  assert.deepEqual(decoded.frames[0], frame);
  assert.ok(decoded.clears > 2, `only ${decoded.clears} clear codes: the table never filled`);
});

Deno.test("encodeGif quantizes frames with more than 256 colours, close to the original", () => {
  const w = 32;
  const h = 32;
  const frame = Uint8Array.from({ length: w * h * 3 }, (_, i) => {
    const p = Math.floor(i / 3);
    return [(p % w) * 8, Math.floor(p / w) * 8, 128][i % 3]; // 1024 distinct colours
  });
  const decoded = decodeGif(encodeGif([frame, frame], w, h, 3));
  assert.equal(decoded.frames.length, 2);
  const maxError = decoded.frames[0].reduce((m, v, i) => Math.max(m, Math.abs(v - frame[i])), 0);
  assert.ok(maxError <= 24, `max channel error ${maxError}`);
});

Deno.test("encodeGif rejects frames of the wrong size", () => {
  assert.throws(() => encodeGif([new Uint8Array(5)], 2, 2, 1), /frame 0 has 5 bytes/);
  assert.throws(() => encodeGif([], 2, 2, 1), /no frames/);
});
