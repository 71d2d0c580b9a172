import assert from "node:assert/strict";
import {
  type Channels,
  crc32,
  decodePng,
  encodePng,
  type PngFilter,
  tileFrames,
  upscaleNearest,
} from "./png.ts";

/** The pattern the Python fixtures below were generated from; varied so every filter matters. */
function pattern(w: number, h: number, channels: number): Uint8Array {
  const out = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < channels; c++) {
        out[(y * w + x) * channels + c] = (x * 37 + y * 91 + c * 53 + x * y * 7) & 255;
      }
    }
  }
  return out;
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

// Written by Python's zlib + struct, independently of png.ts: row y uses filter y % 5 (so all five
// filters occur), the data is split over two IDAT chunks, and a tEXt chunk precedes them.
const PYTHON_PNGS: { name: string; w: number; h: number; channels: Channels; b64: string }[] = [
  {
    name: "rgb",
    w: 6,
    h: 10,
    channels: 3,
    b64:
      "iVBORw0KGgoAAAANSUhEUgAAAAYAAAAKCAIAAAAYbLhkAAAADnRFWHRDb21tZW50AHB5dGhvbpzclXQAAAAHSURBVHja" +
      "Y2AwzVIfmvz0AAAAjUlEQVSN6veq35K/5OaUk/92vlNmjJ5wVAcVMEVHRyclJWVmZhYUFJSXl9fV1TFvu5h9zs8vKCgo" +
      "NDQ0MvJmzJ0YFqAqRygocCx3rHN0ZDj+x5DfpTK85+D8K5zPZQL1U2YyKoX3+KMCbMbP2nI+ISEhOTk5PT09KysrLy8P" +
      "ZHxKUlJKyrEUoKoUIKgDAKMgSIE2vP+/AAAAAElFTkSuQmCC",
  },
  {
    name: "gray",
    w: 7,
    h: 5,
    channels: 1,
    b64:
      "iVBORw0KGgoAAAANSUhEUgAAAAcAAAAFCAAAAACs8akEAAAADnRFWHRDb21tZW50AHB5dGhvbpzclXQAAAAHSURBVHja" +
      "Y2BQ9cq+BpBZAAAAJElEQVSfsvMeY7QOGDBFJ2UWlNe1Mm87FxQaGfOAJdoRCOocAQOXDWUJj3NlAAAAAElFTkSuQmCC",
  },
  {
    name: "rgba",
    w: 5,
    h: 5,
    channels: 4,
    b64:
      "iVBORw0KGgoAAAANSUhEUgAAAAUAAAAFCAYAAACNbyblAAAADnRFWHRDb21tZW50AHB5dGhvbpzclXQAAAAHSURBVHja" +
      "Y2AwzZqKJbZ2AAAAT0lEQVSvGtV/xKt+y8v8JTf5ppz8Z8wYPeHoLx00wBQNBElAkAkEBUBQDgTM2y5mt53z8/MLAoLQ" +
      "0NCrkZE3I1lAKh0hINPRscDRsdzREQBSSCbgVHP4AAAAAABJRU5ErkJggg==",
  },
];

Deno.test("crc32 matches the standard check value", () => {
  assert.deepEqual(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

Deno.test("decodePng reads PNGs written by Python with all five filters", () => {
  for (const { name, w, h, channels, b64 } of PYTHON_PNGS) {
    const image = decodePng(fromBase64(b64));
    assert.deepEqual([image.width, image.height, image.channels], [w, h, channels], name);
    assert.deepEqual(image.data, pattern(w, h, channels), name);
  }
});

Deno.test("encodePng -> decodePng round trips every channel count and filter", () => {
  for (const channels of [1, 3, 4] as Channels[]) {
    const data = pattern(9, 7, channels);
    for (const filter of [0, 1, 2, 3, 4] as PngFilter[]) {
      const image = decodePng(encodePng(data, 9, 7, channels, { filter }));
      assert.deepEqual(image, { data, width: 9, height: 7, channels }, `c=${channels} f=${filter}`);
    }
  }
});

Deno.test("encodePng writes a standard header", () => {
  const png = encodePng(new Uint8Array(210 * 160 * 3), 160, 210, 3);
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  assert.deepEqual(new TextDecoder().decode(png.subarray(12, 16)), "IHDR");
  const view = new DataView(png.buffer, png.byteOffset);
  assert.deepEqual([view.getUint32(16), view.getUint32(20)], [160, 210]);
  assert.deepEqual([png[24], png[25], png[28]], [8, 2, 0]); // depth 8, RGB, not interlaced
});

Deno.test("decodePng rejects corrupt and unsupported files with a reason", () => {
  const png = encodePng(pattern(4, 4, 3), 4, 4, 3);
  assert.throws(() => decodePng(png.subarray(1)), /bad signature/);
  const flipped = png.slice();
  flipped[45] ^= 0xff; // inside the IDAT body (which starts at byte 41)
  assert.throws(() => decodePng(flipped), /CRC mismatch in IDAT/);
  assert.throws(() => decodePng(png.subarray(0, png.length - 20)), /truncated IDAT/);
  assert.throws(() => decodePng(withHeaderByte(png, 9, 3)), /color type 3/);
  assert.throws(() => decodePng(withHeaderByte(png, 8, 16)), /bit depth 16/);
  assert.throws(() => decodePng(withHeaderByte(png, 12, 1)), /interlaced/);
});

/** A copy of `png` with one IHDR body byte changed and the chunk CRC fixed up. */
function withHeaderByte(png: Uint8Array, offset: number, value: number): Uint8Array {
  const out = png.slice();
  out[16 + offset] = value;
  new DataView(out.buffer).setUint32(29, crc32(out.subarray(12, 29)));
  return out;
}

Deno.test("tileFrames places frames in a padded grid", () => {
  const frames = [1, 2, 3].map((v) => new Uint8Array(2 * 3).fill(v)); // 3 frames, w=3 h=2 gray
  const grid = tileFrames(frames, {
    width: 3,
    height: 2,
    channels: 1,
    columns: 2,
    pad: 1,
    padValue: 0,
  });
  assert.deepEqual([grid.width, grid.height, grid.channels], [2 * 3 + 3, 2 * 2 + 3, 1]);
  const rows = Array.from(
    { length: grid.height },
    (_, y) => [...grid.data.subarray(y * grid.width, (y + 1) * grid.width)].join(""),
  );
  assert.deepEqual(rows, [
    "000000000",
    "011102220",
    "011102220",
    "000000000",
    "033300000",
    "033300000",
    "000000000",
  ]);
});

Deno.test("tileFrames keeps RGB pixels intact", () => {
  const frame = pattern(4, 3, 3);
  const grid = tileFrames([frame], { width: 4, height: 3, channels: 3, columns: 5, pad: 0 });
  assert.deepEqual(grid, { data: frame, width: 4, height: 3, channels: 3 });
});

Deno.test("upscaleNearest repeats each pixel factor x factor times", () => {
  const rgb = new Uint8Array([1, 2, 3, 4, 5, 6]); // 2x1 RGB
  assert.deepEqual(
    upscaleNearest(rgb, 2, 1, 3, 2),
    new Uint8Array([1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]),
  );
  assert.deepEqual(upscaleNearest(rgb, 2, 1, 3, 1), rgb);
  assert.throws(() => upscaleNearest(rgb, 2, 1, 3, 1.5), /factor/);
  assert.throws(() => upscaleNearest(rgb, 3, 1, 3, 2), /expected 3x1x3/);
});
