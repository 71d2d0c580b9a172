import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { withTempDir } from "../../data/synthetic_testing.ts";
import { ffmpegInstalled, gameGif, type GameScreens, writeMp4 } from "./videos.ts";

/** Five 4x2 screens of one colour each. */
const GAME: GameScreens = {
  screens: Array.from({ length: 5 }, (_, i) => new Uint8Array(4 * 2 * 3).fill(40 * i)),
  width: 4,
  height: 2,
  frameSkip: 4,
};

/** A stand-in for ffmpeg: answers -version, else copies its input to its last argument. */
const COPYING_FFMPEG =
  '#!/bin/sh\n[ "$1" = -version ] && exit 0\nfor last; do :; done\ncat > "$last"\n';

Deno.test("writeMp4 pipes every screen to ffmpeg and renames its output into place", async () => {
  await withTempDir(async (dir) => {
    const ffmpeg = join(dir, "ffmpeg");
    await Deno.writeTextFile(ffmpeg, COPYING_FFMPEG, { mode: 0o755 });
    assert.equal(await ffmpegInstalled(ffmpeg), true);
    assert.equal(await ffmpegInstalled(join(dir, "missing")), false);
    const path = join(dir, "game-00000.mp4");
    await writeMp4(path, GAME, ffmpeg);
    const bytes = await Deno.readFile(path);
    assert.equal(bytes.length, 5 * 4 * 2 * 3);
    assert.equal(bytes[bytes.length - 1], 160, "the last screen last");
    await Deno.writeTextFile(ffmpeg, "#!/bin/sh\necho 'no encoder' >&2\nexit 1\n");
    await assert.rejects(
      writeMp4(join(dir, "game-00001.mp4"), GAME, ffmpeg),
      /ffmpeg could not write .*game-00001\.mp4: no encoder/,
    );
    assert.deepEqual((await readdir(dir)).sort(), ["ffmpeg", "game-00000.mp4"]);
  });
});

Deno.test("a game's GIF shows every stride-th screen and the last, upscaled", () => {
  // Graphic control extensions, one per frame (these tiny frames' LZW data holds no such run).
  const frames = (gif: Uint8Array) =>
    gif.filter((b, i) => b === 0x21 && gif[i + 1] === 0xf9 && gif[i + 2] === 4).length;
  const every = gameGif(GAME, { stride: 1, scale: 1 });
  const strided = gameGif(GAME, { stride: 3, scale: 2 });
  assert.equal(new TextDecoder().decode(every.subarray(0, 6)), "GIF89a");
  assert.equal(every[6], 4, "width");
  assert.equal(strided[6], 8, "width, upscaled");
  assert.equal(frames(every), 5);
  assert.equal(frames(strided), 3, "screens 0, 3 and the last");
});
