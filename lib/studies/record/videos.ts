/**
 * A recorded game's videos, for people to watch (the dataset is what models read): a GIF through
 * `viz/gif.ts`, and an MP4 through ffmpeg where it is installed. Each file is written to a
 * temporary name and renamed, so a killed recording leaves whole videos or none.
 *
 * @module
 */

import { mkdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../../run/atomic.ts";
import { encodeGif } from "../../viz/gif.ts";
import { upscaleNearest } from "../../viz/png.ts";

/** Atari's frame rate: emulator frames per second. */
const ATARI_FPS = 60;
/** MP4s are upscaled this many times: yuv420p's half-resolution colour smears 1-pixel details. */
const MP4_SCALE = 2;

/** The line printed when MP4s are asked for but ffmpeg is missing. */
export const FFMPEG_MISSING = "MP4s skipped: ffmpeg is not installed " +
  "(to get them: apt-get install ffmpeg)";

/** A game's screens and how to show them. */
export interface GameScreens {
  /** `height x width x 3` RGB screens, one per agent step, the final one included. */
  screens: Uint8Array[];
  width: number;
  height: number;
  /** Emulator frames per agent step, which sets the playback speed. */
  frameSkip: number;
}

/** What to write for each game. */
export interface VideoOptions {
  gif: { enabled: boolean; stride: number; scale: number };
  /** Write MP4s (the caller checks for ffmpeg with {@linkcode ffmpegInstalled}). */
  mp4: boolean;
}

/** The file name of game `index`'s video with extension `ext`. */
export function videoName(index: number, ext: "gif" | "mp4"): string {
  return `game-${String(index).padStart(5, "0")}.${ext}`;
}

/** Whether `ffmpeg` (or the program `command` names) runs. */
export async function ffmpegInstalled(command = "ffmpeg"): Promise<boolean> {
  try {
    const out = await new Deno.Command(command, {
      args: ["-version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** Writes game `index`'s videos into `dir`; returns the paths written. */
export async function writeGameVideos(
  dir: string,
  index: number,
  game: GameScreens,
  opts: VideoOptions,
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  if (opts.gif.enabled) {
    const path = join(dir, videoName(index, "gif"));
    await writeFileAtomic(path, gameGif(game, opts.gif));
    written.push(path);
  }
  if (opts.mp4) {
    const path = join(dir, videoName(index, "mp4"));
    await writeMp4(path, game);
    written.push(path);
  }
  return written;
}

/** Every `stride`-th screen of a game (and its last), upscaled `scale` times, as a GIF. */
export function gameGif(game: GameScreens, opts: { stride: number; scale: number }): Uint8Array {
  const { screens, width, height, frameSkip } = game;
  const { stride, scale } = opts;
  const shown = screens.filter((_, i) => i % stride === 0 || i === screens.length - 1);
  const frames = scale === 1
    ? shown
    : shown.map((screen) => upscaleNearest(screen, width, height, 3, scale));
  const delayMs = (stride * frameSkip * 1000) / ATARI_FPS;
  return encodeGif(frames, width * scale, height * scale, 3, { delayMs });
}

/**
 * Every screen of a game as an MP4 (H.264 where ffmpeg has it), through `ffmpeg` (or the
 * program `command` names), upscaled twice.
 */
export async function writeMp4(path: string, game: GameScreens, command = "ffmpeg"): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${Deno.pid}`);
  const fps = ATARI_FPS / game.frameSkip;
  const child = new Deno.Command(command, {
    args: [
      ...["-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24"],
      ...["-s", `${game.width}x${game.height}`, "-r", String(fps), "-i", "-"],
      ...["-vf", `scale=iw*${MP4_SCALE}:ih*${MP4_SCALE}:flags=neighbor`],
      ...["-pix_fmt", "yuv420p", "-f", "mp4", tmp],
    ],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Read ffmpeg's messages as they come, so that a full stderr pipe never stalls it.
  const messages = new Response(child.stderr).text();
  const writer = child.stdin.getWriter();
  let pipeError: unknown = null;
  try {
    for (const screen of game.screens) await writer.write(screen);
    await writer.close();
  } catch (err) {
    // ffmpeg closed its input early; its own message (below) says why.
    pipeError = err;
  }
  const [status, stderr] = await Promise.all([child.status, messages]);
  if (!status.success || pipeError) {
    await rm(tmp, { force: true });
    throw new Error(`ffmpeg could not write ${path}: ${stderr.trim() || String(pipeError)}`);
  }
  await rename(tmp, path);
}
