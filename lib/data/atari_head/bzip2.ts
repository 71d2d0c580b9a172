/**
 * bzip2 streams through the system's `bzip2` (the reference implementation, in C): decompression
 * as a byte stream read while `bzip2 -dc` runs, so a trial archive is never unpacked to disk or
 * held whole in memory; compression from a byte stream into a file. A missing `bzip2` is an error
 * that says how to install it; a damaged or truncated archive is an error with bzip2's own words.
 *
 * @module
 */

/** The decompressed bytes of a `.bz2` file, and a check to await once they are all read. */
export interface Bzip2Reader {
  stream: ReadableStream<Uint8Array>;
  /** Resolves when bzip2 exited cleanly; rejects naming the file when it did not. */
  done(): Promise<void>;
  /** Stops bzip2 (when the reader gives up early). */
  cancel(): void;
}

function spawn(args: string[], io: { stdin: "piped" | "null" }): Deno.ChildProcess {
  try {
    return new Deno.Command("bzip2", { args, stdin: io.stdin, stdout: "piped", stderr: "piped" })
      .spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(
        "bzip2 is not installed: Atari-HEAD archives need it (Debian/Ubuntu: apt-get install " +
          "bzip2; macOS: it ships with the system)",
      );
    }
    throw err;
  }
}

/**
 * Starts `bzip2 -dc` on a file, or on a byte stream (an archive inside a zip); `name` says what
 * it is in errors (default: the path).
 */
export function bzip2Read(source: string | ReadableStream<Uint8Array>, name?: string): Bzip2Reader {
  const what = name ?? (typeof source === "string" ? source : "bzip2 stream");
  const fromFile = typeof source === "string";
  const child = spawn(fromFile ? ["-dc", "--", source] : ["-dc"], {
    stdin: fromFile ? "null" : "piped",
  });
  // A stream source is fed to bzip2 as it reads; a failure there is reported with bzip2's.
  const fed = fromFile ? Promise.resolve() : source.pipeTo(child.stdin).catch((err) => err);
  const stderr = new Response(child.stderr).text();
  return {
    stream: child.stdout,
    async done() {
      const status = await child.status;
      const text = (await stderr).trim();
      const feedError = await fed;
      if (!status.success) {
        throw new Error(
          `${what}: damaged or truncated bzip2 archive (bzip2 exited with ${status.code}: ${
            text.split("\n").slice(0, 2).join(" ")
          })`,
        );
      }
      if (feedError) throw new Error(`${what}: ${(feedError as Error).message}`);
    },
    cancel() {
      try {
        child.kill();
      } catch {
        // Already exited.
      }
    },
  };
}

/**
 * Compresses the chunks of `source` into `path` (the caller writes to a temporary path and
 * renames it). `level` is bzip2's block size, 1-9.
 */
export async function bzip2Write(
  path: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  level = 9,
): Promise<void> {
  const child = spawn([`-${level}`, "-c"], { stdin: "piped" });
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const written = child.stdout.pipeTo(file.writable);
  const stderr = new Response(child.stderr).text();
  const writer = child.stdin.getWriter();
  try {
    for await (const chunk of source) await writer.write(chunk);
    await writer.close();
  } catch (err) {
    child.kill();
    await written.catch(() => {});
    throw err;
  }
  await written;
  const status = await child.status;
  if (!status.success) {
    throw new Error(`${path}: bzip2 failed (${status.code}): ${(await stderr).trim()}`);
  }
}
