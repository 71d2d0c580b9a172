/**
 * Reading Atari-HEAD's per-game zip (`breakout.zip`) in place: its central directory lists the
 * entries (ZIP64 sizes and offsets included: a game's zip passes 4 GiB), and an entry's bytes
 * come as a stream, inflated as they are read where the entry is deflated. Nothing is unpacked to
 * disk; a trial's `.tar.bz2` goes from the zip through `bzip2` into the tar reader.
 *
 * @module
 */

import { open } from "node:fs/promises";
import { basename } from "node:path";

/** One file of a zip. */
export interface ZipEntry {
  name: string;
  /** 0: stored, 8: deflated. */
  method: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header. */
  offset: number;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const decoder = new TextDecoder();

async function readAt(path: string, offset: number, length: number): Promise<DataView> {
  const f = await open(path, "r");
  try {
    const buf = new Uint8Array(length);
    const { bytesRead } = await f.read(buf, 0, length, offset);
    if (bytesRead < length) {
      throw new Error(`${path}: truncated zip (wanted ${length} bytes at ${offset})`);
    }
    return new DataView(buf.buffer);
  } finally {
    await f.close();
  }
}

function u64(v: DataView, at: number): number {
  return Number(v.getBigUint64(at, true));
}

/** The entries of a zip, from its central directory; a damaged one is an error naming it. */
export async function zipEntries(path: string): Promise<ZipEntry[]> {
  const size = (await Deno.stat(path)).size;
  const tail = Math.min(size, 65_557);
  const end = await readAt(path, size - tail, tail);
  let at = -1;
  for (let i = tail - 22; i >= 0; i--) {
    if (end.getUint32(i, true) === EOCD) {
      at = i;
      break;
    }
  }
  if (at < 0) throw new Error(`${path}: not a zip (no end of central directory)`);
  let count = end.getUint16(at + 10, true);
  let dirSize = end.getUint32(at + 12, true);
  let dirOffset = end.getUint32(at + 16, true);
  if (at >= 20 && end.getUint32(at - 20, true) === EOCD64_LOCATOR) {
    const rec = await readAt(path, u64(end, at - 20 + 8), 56);
    if (rec.getUint32(0, true) !== EOCD64) throw new Error(`${path}: damaged ZIP64 directory`);
    count = u64(rec, 32);
    dirSize = u64(rec, 40);
    dirOffset = u64(rec, 48);
  }
  const dir = await readAt(path, dirOffset, dirSize);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let k = 0; k < count; k++) {
    if (dir.getUint32(p, true) !== CENTRAL) throw new Error(`${path}: damaged central directory`);
    const method = dir.getUint16(p + 10, true);
    let compressedSize = dir.getUint32(p + 20, true);
    let uncompressed = dir.getUint32(p + 24, true);
    const nameLen = dir.getUint16(p + 28, true);
    const extraLen = dir.getUint16(p + 30, true);
    const commentLen = dir.getUint16(p + 32, true);
    let offset = dir.getUint32(p + 42, true);
    const name = decoder.decode(new Uint8Array(dir.buffer, p + 46, nameLen));
    // ZIP64: the fields at 0xFFFFFFFF are in the extra field's record 0x0001, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = dir.getUint16(e, true), len = dir.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        if (uncompressed === 0xffffffff) (uncompressed = u64(dir, q), q += 8);
        if (compressedSize === 0xffffffff) (compressedSize = u64(dir, q), q += 8);
        if (offset === 0xffffffff) offset = u64(dir, q);
      }
      e += 4 + len;
    }
    entries.push({ name, method, compressedSize, size: uncompressed, offset });
    p = extraEnd + commentLen;
  }
  return entries;
}

/** An entry's bytes as a stream (inflated where deflated); other methods are an error. */
export async function zipEntryStream(
  path: string,
  entry: ZipEntry,
): Promise<ReadableStream<Uint8Array>> {
  if (entry.method !== 0 && entry.method !== 8) {
    throw new Error(
      `${path}: ${entry.name} is compressed with method ${entry.method} (stored and deflated only)`,
    );
  }
  const local = await readAt(path, entry.offset, 30);
  if (local.getUint32(0, true) !== LOCAL) throw new Error(`${path}: damaged entry ${entry.name}`);
  const start = entry.offset + 30 + local.getUint16(26, true) + local.getUint16(28, true);
  const file = await Deno.open(path);
  await file.seek(start, Deno.SeekMode.Start);
  let left = entry.compressedSize;
  const raw = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (left === 0) {
        file.close();
        return c.close();
      }
      const buf = new Uint8Array(Math.min(left, 1 << 20));
      const n = await file.read(buf);
      if (n === null) {
        file.close();
        return c.error(new Error(`${path}: truncated zip inside ${entry.name}`));
      }
      left -= n;
      c.enqueue(buf.subarray(0, n));
    },
    cancel() {
      file.close();
    },
  });
  if (entry.method === 0) return raw;
  const inflate = new DecompressionStream("deflate-raw") as unknown as TransformStream<
    Uint8Array,
    Uint8Array
  >;
  return raw.pipeThrough(inflate);
}

/** An entry's bytes, whole (for small files: labels, metadata). */
export async function zipEntryBytes(path: string, entry: ZipEntry): Promise<Uint8Array> {
  return new Uint8Array(await new Response(await zipEntryStream(path, entry)).arrayBuffer());
}

/** The entry named `name` (by base name when no path matches), or undefined. */
export function findEntry(entries: ZipEntry[], name: string): ZipEntry | undefined {
  return entries.find((e) => e.name === name) ?? entries.find((e) => basename(e.name) === name);
}
