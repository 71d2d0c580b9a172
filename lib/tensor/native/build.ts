/**
 * Compiles `kernels.c` with the system C compiler into a shared library, once per source and
 * flags: `.cache/native/<hash>.so` under the repository root, where the hash covers the source,
 * the compiler's identity, the flags and the CPU (the build uses `-march=native`). The library
 * is written to a temporary name and renamed into place, so concurrent first uses (parallel
 * tests) never see a half-written file.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Flags of every build. `-fno-math-errno` lets sqrtf and friends vectorise. */
export const NATIVE_CFLAGS = [
  "-O3",
  "-march=native",
  "-shared",
  "-fPIC",
  "-pthread",
  "-fno-math-errno",
  "-std=gnu11",
];

/** Compilers tried in order when `CC` is not set. */
const COMPILERS = ["cc", "gcc", "clang"];

/** A built kernel library. */
export interface NativeBuild {
  /** Path of the shared library. */
  path: string;
  /** The compiler used (its `--version` first line). */
  compiler: string;
  /** Whether this call compiled it (false: it was in the cache). */
  compiled: boolean;
  /** Milliseconds the compile took (0 from the cache). */
  ms: number;
}

/** Why the library cannot be built; `reason` reads after "native: ...". */
export class NativeBuildError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

const SOURCE_URL = new URL("./kernels.c", import.meta.url);

/** The kernel source text. */
export function kernelSource(): string {
  return readFileSync(fileURLToPath(SOURCE_URL), "utf8");
}

/** `.cache/native` under the nearest folder above this file holding deno.json. */
export function defaultCacheDir(): string {
  let dir = dirname(fileURLToPath(SOURCE_URL));
  for (;;) {
    if (existsSync(join(dir, "deno.json"))) return join(dir, ".cache", "native");
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return join(Deno.env.get("HOME") ?? "/tmp", ".cache", "jepa-native");
}

function run(cmd: string, args: string[]): { ok: boolean; stdout: string; stderr: string } {
  try {
    const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
    const dec = new TextDecoder();
    return { ok: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (err) {
    const what = err instanceof Deno.errors.NotFound ? "not found" : String(err);
    return { ok: false, stdout: "", stderr: what };
  }
}

/** Compilers to try: `CC` alone when set, else cc, gcc, clang. */
export function compilerCandidates(): string[] {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("CC") || undefined;
  } catch { /* no env permission */ }
  return fromEnv ? [fromEnv] : COMPILERS;
}

/** The first compiler that answers `--version`. */
export function findCompiler(): { cmd: string; version: string } | undefined {
  for (const cmd of compilerCandidates()) {
    const r = run(cmd, ["--version"]);
    if (r.ok) return { cmd, version: r.stdout.split("\n")[0].trim() };
  }
  return undefined;
}

/** What -march=native depends on: the CPU model and its flags. */
function cpuIdentity(): string {
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    const model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? "";
    const flags = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(info)?.[1] ?? "";
    return `${model}|${flags}`;
  } catch {
    return `${Deno.build.os}-${Deno.build.arch}`;
  }
}

/** Removes libraries of older sources (a process still using one keeps its mapping). */
function removeStale(cacheDir: string, keep: string): void {
  try {
    for (const entry of Deno.readDirSync(cacheDir)) {
      const p = join(cacheDir, entry.name);
      if (p !== keep && /^kernels-[0-9a-f]+\.so$/.test(entry.name)) rmSync(p, { force: true });
    }
  } catch { /* best effort */ }
}

/**
 * Returns the kernel library, compiling it when the cache has none for this source, compiler,
 * flags and CPU. Throws {@linkcode NativeBuildError} when no compiler is found or the compile
 * fails.
 */
export function buildKernels(cacheDir = defaultCacheDir()): NativeBuild {
  const compiler = findCompiler();
  if (!compiler) {
    throw new NativeBuildError(
      `no C compiler found (tried ${compilerCandidates().join(", ")}; ` +
        `apt-get install g++, or set CC)`,
    );
  }
  const source = kernelSource();
  const hash = createHash("sha256")
    .update(source).update("\0").update(compiler.version).update("\0")
    .update(NATIVE_CFLAGS.join(" ")).update("\0").update(cpuIdentity())
    .digest("hex").slice(0, 16);
  const path = join(cacheDir, `kernels-${hash}.so`);
  if (existsSync(path)) return { path, compiler: compiler.version, compiled: false, ms: 0 };
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const start = performance.now();
  const r = run(compiler.cmd, [
    ...NATIVE_CFLAGS,
    "-o",
    tmp,
    fileURLToPath(SOURCE_URL),
    "-lm",
    "-ldl",
  ]);
  if (!r.ok) {
    rmSync(tmp, { force: true });
    const first = r.stderr.split("\n").find((l) => /error/i.test(l)) ?? r.stderr.split("\n")[0];
    throw new NativeBuildError(`compiling kernels.c with ${compiler.cmd} failed: ${first.trim()}`);
  }
  renameSync(tmp, path);
  removeStale(cacheDir, path);
  return {
    path,
    compiler: compiler.version,
    compiled: true,
    ms: Math.round(performance.now() - start),
  };
}
