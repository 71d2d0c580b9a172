/**
 * Which BLAS the native backend runs on, and how it gets one that is fast on this CPU.
 *
 * OpenBLAS picks its kernels for the CPU at load time, from the CPUs it knows. Debian's 0.3.21
 * does not know recent Intel Xeons and falls back to generic SSE3 kernels (`Prescott`) there,
 * 2.5x slower on the I-JEPA step. The PyPI wheel `scipy-openblas32` (OpenBLAS 0.3.34 built for
 * every x86-64 core, LAPACK included, every symbol prefixed `scipy_` so that it never clashes
 * with another BLAS in the process) chooses the right kernels and needs no root. So the backend
 * opens, in this order:
 *
 * 1. `JEPA_OPENBLAS`, a library name or path, when set (its symbol prefix is found by probing);
 * 2. the pinned wheel's library in `.cache/blas/` under the repository root, fetched on first use
 *    by `python3 -m pip download` (the file's SHA-256 checked against the pin, the libraries
 *    unpacked to a temporary folder renamed into place), unless `JEPA_BLAS_FETCH=0`;
 * 3. the system's `libopenblas.so.0` (Debian's `libopenblas0`).
 *
 * Whatever is opened, {@linkcode kernelWarning} says when it runs generic kernels on a CPU with
 * AVX2, so a slow library is never silent.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The wheel the backend fetches: pinned by version, file name and SHA-256. */
export const BLAS_WHEEL = {
  project: "scipy-openblas32",
  version: "0.3.34",
  file: "scipy_openblas32-0.3.34.0.0-py3-none-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
  sha256: "5b5df658f32271b3115d845ea91b19bed190591b55d27d9b5399b83071c68ea1",
  /** The folder inside the wheel holding the library and the runtime libraries it links. */
  libDir: "scipy_openblas32/lib",
  library: "libscipy_openblas.so",
  prefix: "scipy_",
} as const;

/** The system library: its soname, as Debian's libopenblas0 installs it. */
export const SYSTEM_OPENBLAS = "libopenblas.so.0";

/** A BLAS to open. */
export interface BlasChoice {
  /** What `dlopen` opens (a path, or a name the loader searches for). */
  path: string;
  /** Prefix of every exported symbol: "" (a plain OpenBLAS) or "scipy_" (the wheel). */
  prefix: string;
  /** Where it came from. */
  source: "env" | "wheel" | "system";
  /** Why earlier options in the order were not taken (for `doctor` and the backend's log). */
  notes: string[];
}

/** A `Deno.dlopen` symbol table under the names a library with `prefix` exports. */
export function prefixed<T extends Record<string, Deno.ForeignFunction>>(
  symbols: T,
  prefix: string,
): T {
  return Object.fromEntries(
    Object.entries(symbols).map(([name, def]) => [name, { ...def, name: `${prefix}${name}` }]),
  ) as T;
}

/** Why no BLAS could be had: one line, ending with the command that fixes it. */
export class BlasUnavailable extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** `.cache/<sub>` under the nearest folder above this file holding deno.json. */
export function projectCacheDir(sub: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "deno.json"))) return join(dir, ".cache", sub);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return join(Deno.env.get("HOME") ?? "/tmp", ".cache", `jepa-${sub}`);
}

/** The folder the wheel's libraries are unpacked into. */
export function wheelDir(cacheDir = projectCacheDir("blas")): string {
  return join(cacheDir, `${BLAS_WHEEL.project}-${BLAS_WHEEL.version}`);
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why fetching into a folder failed, once per process: the kernels and the probes' LAPACK both
 * locate the BLAS, and a second pip run would fail the same way, only slower.
 */
const failedFetches = new Map<string, string>();

/**
 * The BLAS to open (see the module doc for the order). `fetch: false` (or `JEPA_BLAS_FETCH=0`)
 * never runs pip: the wheel is used only when already cached. `log` hears about a fetch.
 */
export function locateBlas(
  opts: { fetch?: boolean; cacheDir?: string; log?: (line: string) => void } = {},
): BlasChoice {
  const explicit = env("JEPA_OPENBLAS");
  if (explicit) return { path: explicit, prefix: "", source: "env", notes: [] };
  const notes: string[] = [];
  const dir = wheelDir(opts.cacheDir);
  const library = join(dir, BLAS_WHEEL.library);
  if (!existsSync(library)) {
    if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
      notes.push(`the ${BLAS_WHEEL.project} wheel is for Linux x86-64 only`);
    } else if (opts.fetch === false || env("JEPA_BLAS_FETCH") === "0") {
      notes.push(`${BLAS_WHEEL.project} is not in ${dir} and fetching is off`);
    } else if (failedFetches.has(dir)) {
      notes.push(failedFetches.get(dir)!);
    } else {
      try {
        fetchBlasWheel(dir, opts.log);
      } catch (err) {
        const reason = err instanceof BlasUnavailable ? err.reason : String(err);
        failedFetches.set(dir, reason);
        notes.push(reason);
      }
    }
  }
  if (existsSync(library)) {
    return { path: library, prefix: BLAS_WHEEL.prefix, source: "wheel", notes };
  }
  return { path: SYSTEM_OPENBLAS, prefix: "", source: "system", notes };
}

function run(cmd: string, args: string[]): { ok: boolean; text: string } {
  try {
    const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
    const dec = new TextDecoder();
    return { ok: out.success, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
  } catch (err) {
    return {
      ok: false,
      text: err instanceof Deno.errors.NotFound ? `${cmd}: not found` : `${err}`,
    };
  }
}

/** The last line of a tool's output that says what went wrong. */
function lastError(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.findLast((l) => /error|not found|no matching/i.test(l)) ?? lines.at(-1) ?? "";
}

/** Python 3: `python3` on PATH, or `JEPA_PYTHON`. */
function python(): string {
  return env("JEPA_PYTHON") ?? "python3";
}

/**
 * Downloads the pinned wheel with pip into a temporary folder beside `dir`, checks its SHA-256,
 * unpacks its `lib/` folder there and renames that folder to `dir`. Throws
 * {@linkcode BlasUnavailable} naming the step that failed and the command that fixes it; leaves
 * nothing behind on failure.
 */
export function fetchBlasWheel(dir: string, log?: (line: string) => void): void {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const tmp = `${dir}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const spec = `${BLAS_WHEEL.project}==${BLAS_WHEEL.version}`;
  const by = `${python()} -m pip download --no-deps --only-binary=:all: ${spec}`;
  log?.(`fetching ${spec} (a fast OpenBLAS, 8.8 MB) from PyPI into ${dir}`);
  try {
    mkdirSync(tmp, { recursive: true });
    const dl = run(python(), [
      "-m",
      "pip",
      "download",
      "--quiet",
      "--no-deps",
      "--only-binary=:all:",
      "--dest",
      tmp,
      spec,
    ]);
    if (!dl.ok) {
      throw new BlasUnavailable(
        `fetching ${spec} failed (${lastError(dl.text)}); try: ${by}`,
      );
    }
    const wheel = join(tmp, BLAS_WHEEL.file);
    if (!existsSync(wheel)) {
      throw new BlasUnavailable(`pip fetched no ${BLAS_WHEEL.file} (is this Linux x86-64?)`);
    }
    const digest = createHash("sha256").update(readFileSync(wheel)).digest("hex");
    if (digest !== BLAS_WHEEL.sha256) {
      throw new BlasUnavailable(
        `${BLAS_WHEEL.file} has SHA-256 ${digest}, expected ${BLAS_WHEEL.sha256}: not the ` +
          `pinned file (a mirror serving something else?)`,
      );
    }
    // Only the libraries: the wheel's `lib/` folder, flattened into the target.
    const unzip = run(python(), [
      "-c",
      `import sys, zipfile, os
z = zipfile.ZipFile(sys.argv[1])
for info in z.infolist():
    if info.filename.startswith(sys.argv[2] + "/") and ".so" in info.filename:
        target = os.path.join(sys.argv[3], os.path.basename(info.filename))
        with z.open(info) as src, open(target, "wb") as out:
            out.write(src.read())`,
      wheel,
      BLAS_WHEEL.libDir,
      tmp,
    ]);
    if (!unzip.ok) throw new BlasUnavailable(`unpacking ${wheel} failed: ${lastError(unzip.text)}`);
    rmSync(wheel);
    if (!existsSync(join(tmp, BLAS_WHEEL.library))) {
      throw new BlasUnavailable(`${BLAS_WHEEL.file} holds no ${BLAS_WHEEL.library}`);
    }
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another process unpacked it first: theirs is as good as ours.
      if (!existsSync(join(dir, BLAS_WHEEL.library))) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * OpenBLAS core names whose kernels use AVX2 or wider (from OpenBLAS' `dynamic.c`); on a CPU with
 * AVX2, any other core is a generic fallback.
 */
const AVX2_CORES = [
  "haswell",
  "zen",
  "skylakex",
  "cooperlake",
  "sapphirerapids",
  "excavator",
];

/** Whether the CPU reports AVX2 (`/proc/cpuinfo`; false where that cannot be read). */
export function cpuHasAvx2(): boolean {
  try {
    return /^flags\s*:.*\bavx2\b/m.test(Deno.readTextFileSync("/proc/cpuinfo"));
  } catch {
    return false;
  }
}

/**
 * A warning when the library runs generic kernels on a CPU that has AVX2 (`corename` as
 * `openblas_get_corename()` reports it), naming the fix; undefined when the kernels fit the CPU.
 */
export function kernelWarning(
  corename: string,
  choice: Pick<BlasChoice, "path" | "source">,
  hasAvx2 = cpuHasAvx2(),
): string | undefined {
  if (!hasAvx2 || AVX2_CORES.includes(corename.toLowerCase())) return undefined;
  const fix = choice.source === "wheel"
    ? `set OPENBLAS_CORETYPE=Haswell (or SkylakeX) if the CPU is one of those`
    : `unset JEPA_OPENBLAS and JEPA_BLAS_FETCH so that the backend fetches ` +
      `${BLAS_WHEEL.project} ${BLAS_WHEEL.version}, or set OPENBLAS_CORETYPE=Haswell`;
  return `SLOW BLAS: ${choice.path} runs generic '${corename}' kernels on a CPU with AVX2 ` +
    `(2-3x slower matmuls); ${fix}`;
}
