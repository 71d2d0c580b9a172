/**
 * Atomic writes: a file or a whole directory appears complete or not at all, so a run killed
 * mid-write never leaves a half checkpoint or a half dataset behind.
 *
 * @module
 */

import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

let counter = 0;
function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${Deno.pid}-${Date.now()}-${counter++}`);
}

/** Writes `data` to `path` through a temp file in the same directory, fsync'd, then renamed. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempName(path);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const handle = await open(tmp, "w");
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  await rename(tmp, path);
}

/**
 * {@linkcode writeFileAtomic} without awaiting: for a small record written at the end of a chain
 * of disk work, where every `await` would wait for the caller's next turn of the event loop.
 */
export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempName(path);
  const fd = openSync(tmp, "w");
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/**
 * Builds a directory with `fill(tmpDir)` in a temp directory beside `path`, then swaps it in.
 * An existing directory at `path` is replaced only after `fill` succeeded; on failure the temp
 * directory is removed and `path` is left as it was.
 */
export async function writeDirAtomic(
  path: string,
  fill: (tmpDir: string) => Promise<void>,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempName(path);
  await mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const old = `${tmp}.old`;
  let hadOld = false;
  try {
    await rename(path, old);
    hadOld = true;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound) && (err as { code?: string }).code !== "ENOENT") {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }
  await rename(tmp, path);
  if (hadOld) await rm(old, { recursive: true, force: true });
}
