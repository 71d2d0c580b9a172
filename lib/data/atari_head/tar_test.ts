import assert from "node:assert/strict";
import { readTar, tarEnd, type TarEntry, tarEntry, tarHeader } from "./tar.ts";

/** A stream of `bytes` in chunks of `size` (chunk edges fall anywhere in headers and data). */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

async function entries(stream: ReadableStream<Uint8Array>): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  for await (const e of readTar(stream)) out.push(e);
  return out;
}

const files = [
  { name: "100_RZ_1_x/RZ_1_1.png", data: Uint8Array.from({ length: 700 }, (_, i) => i % 251) },
  { name: "100_RZ_1_x/RZ_1_2.png", data: new Uint8Array(512).fill(7) },
  { name: "100_RZ_1_x/empty.png", data: new Uint8Array(0) },
  // Over 100 bytes: the name goes in the ustar prefix field.
  { name: `${"d".repeat(120)}/RZ_1_3.png`, data: Uint8Array.of(1, 2, 3) },
];
const archive = concat([...files.flatMap((f) => tarEntry(f.name, f.data)), tarEnd()]);

Deno.test("a tar stream reads back every file, whatever the chunking", async () => {
  for (const size of [1, 100, 512, 4096, archive.length]) {
    assert.deepEqual(await entries(chunked(archive, size)), files, `chunks of ${size}`);
  }
});

Deno.test("GNU tar reads what we write (and we read what it writes)", async () => {
  const dir = await Deno.makeTempDir();
  const tarFile = `${dir}/a.tar`;
  await Deno.writeFile(tarFile, archive);
  const list = await new Deno.Command("tar", { args: ["-tf", tarFile] }).output();
  assert.equal(new TextDecoder().decode(list.stdout).trim().split("\n").length, files.length);
  // A long name written by GNU tar itself (its own long-name records).
  const long = `${dir}/${"n".repeat(150)}.png`;
  await Deno.writeFile(long, Uint8Array.of(9, 8, 7));
  const gnu = await new Deno.Command("tar", {
    args: ["-cf", "-", "-C", dir, long.slice(dir.length + 1)],
    stdout: "piped",
  }).output();
  const got = await entries(chunked(gnu.stdout, 333));
  assert.deepEqual(got, [{ name: long.slice(dir.length + 1), data: Uint8Array.of(9, 8, 7) }]);
});

Deno.test("a truncated or damaged archive is an error saying so", async () => {
  await assert.rejects(
    () => entries(chunked(archive.slice(0, 900), 64)),
    /truncated archive: the stream ends inside the data of '100_RZ_1_x\/RZ_1_1.png'/,
  );
  await assert.rejects(
    () => entries(chunked(archive.slice(0, archive.length - 1024), 64)),
    /truncated archive: no end-of-archive blocks/,
  );
  const damaged = archive.slice();
  damaged[10] ^= 0xff;
  await assert.rejects(() => entries(chunked(damaged, 512)), /bad tar header 1: checksum/);
  assert.throws(() => tarHeader("x".repeat(300), 0), /too long for a ustar header/);
});
