/**
 * POSIX tar (ustar), read as a stream and written as chunks: what an Atari-HEAD trial archive
 * holds once its bzip2 layer is off (`bzip2.ts`). The reader yields each regular file as it
 * arrives, without the whole archive in memory or on disk; GNU long names and pax `path`
 * records are understood, since other tools write them for long names.
 *
 * @module
 */

const BLOCK = 512;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A regular file of an archive. */
export interface TarEntry {
  name: string;
  data: Uint8Array;
}

/** Reads whole chunks off a byte stream on demand. */
class ByteQueue {
  #chunks: Uint8Array[] = [];
  #have = 0;
  #done = false;
  constructor(readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  /** Exactly `n` bytes, or null at a clean end of stream (no byte of them read). */
  async take(n: number, what: string): Promise<Uint8Array | null> {
    while (this.#have < n && !this.#done) {
      const { value, done } = await this.reader.read();
      if (done) this.#done = true;
      else if (value.length) {
        this.#chunks.push(value);
        this.#have += value.length;
      }
    }
    if (this.#have === 0 && this.#done) return null;
    if (this.#have < n) {
      throw new Error(`truncated archive: the stream ends inside ${what}`);
    }
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#have -= n;
    return out;
  }
}

function field(h: Uint8Array, start: number, length: number): string {
  const bytes = h.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function octal(h: Uint8Array, start: number, length: number, what: string): number {
  const text = field(h, start, length).trim();
  if (!/^[0-7]*$/.test(text)) throw new Error(`bad tar header: ${what} '${text}' is not octal`);
  return text === "" ? 0 : parseInt(text, 8);
}

function checksum(h: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return sum;
}

/** The pax records' `path`, if any. */
function paxPath(data: Uint8Array): string | undefined {
  const text = decoder.decode(data);
  for (const line of text.split("\n")) {
    const m = /^\d+ path=(.*)$/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * The regular files of a tar stream, in archive order. A damaged header (bad checksum) or a
 * stream that ends inside an entry is an error saying so.
 */
export async function* readTar(stream: ReadableStream<Uint8Array>): AsyncGenerator<TarEntry> {
  const queue = new ByteQueue(stream.getReader());
  let longName: string | undefined;
  for (let index = 0;; index++) {
    const h = await queue.take(BLOCK, `header ${index + 1}`);
    if (h === null) throw new Error("truncated archive: no end-of-archive blocks");
    if (h.every((b) => b === 0)) return;
    const stored = octal(h, 148, 8, "checksum");
    if (stored !== checksum(h)) {
      throw new Error(`bad tar header ${index + 1}: checksum ${stored}, computed ${checksum(h)}`);
    }
    const size = octal(h, 124, 12, "size");
    const type = String.fromCharCode(h[156] || 48);
    const prefix = decoder.decode(h.subarray(257, 262)) === "ustar" ? field(h, 345, 155) : "";
    const base = field(h, 0, 100);
    const name = longName ?? (prefix ? `${prefix}/${base}` : base);
    const data = await queue.take(size, `the data of '${name}'`) ?? new Uint8Array(0);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) await queue.take(pad, `the padding of '${name}'`);
    if (type === "L") {
      longName = decoder.decode(data).replace(/\0+$/, "");
      continue;
    }
    if (type === "x") {
      longName = paxPath(data) ?? longName;
      continue;
    }
    longName = undefined;
    if (type === "0" || type === "7") yield { name, data };
  }
}

/** A ustar header for a regular file; names longer than 100 bytes go in the prefix field. */
export function tarHeader(name: string, size: number, mtime = 0): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const put = (text: string, start: number, length: number) => {
    const bytes = encoder.encode(text);
    if (bytes.length > length) throw new Error(`tar: '${text}' does not fit in ${length} bytes`);
    h.set(bytes, start);
  };
  const num = (v: number, start: number, length: number) =>
    put(v.toString(8).padStart(length - 1, "0"), start, length - 1);
  let base = name, prefix = "";
  if (encoder.encode(name).length > 100) {
    const cut = name.lastIndexOf("/", 155);
    if (cut <= 0 || encoder.encode(name.slice(cut + 1)).length > 100) {
      throw new Error(`tar: the name '${name}' is too long for a ustar header`);
    }
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  put(base, 0, 100);
  num(0o644, 100, 8);
  num(0, 108, 8);
  num(0, 116, 8);
  num(size, 124, 12);
  num(mtime, 136, 12);
  h[156] = 48; // "0": a regular file
  put("ustar", 257, 6);
  put("00", 263, 2);
  put(prefix, 345, 155);
  put(checksum(h).toString(8).padStart(6, "0") + "\0 ", 148, 8);
  return h;
}

/** One file as tar bytes: its header, its data, and the padding to a whole block. */
export function tarEntry(name: string, data: Uint8Array, mtime = 0): Uint8Array[] {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return [tarHeader(name, data.length, mtime), data, new Uint8Array(pad)];
}

/** The end of an archive: two zero blocks. */
export function tarEnd(): Uint8Array {
  return new Uint8Array(2 * BLOCK);
}
