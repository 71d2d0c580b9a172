/**
 * Facts about this machine that decide how fast (and whether) the project runs: the tfjs backend
 * and why the others were skipped, versions of Deno and the pinned npm packages, wasm SIMD and
 * threads, the WebGPU adapter, Jupyter and its Deno kernel, ale-py, and the native backend with
 * what it needs (a C compiler, OpenBLAS). Returns plain data; `tasks/doctor.ts` prints it.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type BackendChoice,
  type BackendReport,
  initBackend,
  probeWebGPU,
  type WebGPUProbe,
} from "./backend.ts";
import { findCompiler } from "./native/build.ts";
import { registerNativeBackend } from "./native/register.ts";

/** The backend outcome: the report, or the error an explicit choice raised. */
export type BackendFact =
  | { ok: true; report: BackendReport }
  | { ok: false; requested: string; error: string };

/** One entry of deno.json's imports, with what is installed under node_modules. */
export interface PackageFact {
  /** The import-map key. */
  name: string;
  /** The specifier it maps to, e.g. `npm:@tensorflow/tfjs@4.22.0`. */
  specifier: string;
  /** The version pinned in the specifier. */
  pinned?: string;
  /** The version in `node_modules/<package>/package.json`; absent when not installed. */
  installed?: string;
  /** Installed and equal to the pin (or no pin to compare with). */
  ok: boolean;
  /** Why not ok. */
  problem?: string;
}

/** The outcome of running an external command. */
interface CommandResult {
  ok: boolean;
  code?: number;
  stdout: string;
  stderr: string;
  /** Why it did not run at all (not found, timed out, not permitted). */
  error?: string;
}

/** Everything `deno task doctor` reports. */
export interface DoctorFacts {
  backend: BackendFact;
  runtime: {
    deno: string;
    v8: string;
    typescript: string;
    os: string;
    arch: string;
    cpus: number;
  };
  /** `tf.version`: tfjs and its bundled packages. */
  tfjs: Record<string, string>;
  /** deno.json's imports, in its order. */
  packages: PackageFact[];
  /** wasm backend build flags; `threads` is always false under Deno. */
  wasm: { simd: boolean | null; threads: boolean; note: string };
  webgpu: WebGPUProbe;
  jupyter: {
    installed: boolean;
    path: string;
    /** `jupyter --version`'s table (jupyter_core, nbconvert, nbclient, ...), installed ones only. */
    versions: Record<string, string>;
    kernels: string[];
    denoKernel: boolean;
    error?: string;
  };
  alepy: { importable: boolean; version?: string; python?: string; error?: string };
  native: {
    gxx: { present: boolean; version?: string; error?: string };
    openblas: {
      present: boolean;
      /** The runtime library (libopenblas.so.0) as ldconfig knows it. */
      library?: string;
      /** `openblas_get_config()`, when it could be loaded through FFI. */
      config?: string;
      threads?: number;
      /** `cblas.h` and the unversioned `libopenblas.so` (from libopenblas-dev), for building. */
      header?: string;
      devLibrary?: string;
      error?: string;
    };
    /** The C compiler the native kernels are built with (`CC`, else cc, gcc, clang). */
    cc: { present: boolean; command?: string; version?: string };
    /** Whether the `native` tfjs backend can load here, and what it runs on. */
    backend: {
      available: boolean;
      /** Why not (one line), when unavailable. */
      reason?: string;
      /** The BLAS it runs on: description, file, origin, kernel family, and any warning. */
      openblas?: string;
      blasLibrary?: string;
      blasSource?: "env" | "wheel" | "system";
      blasCore?: string;
      blasNotes?: string[];
      blasWarning?: string;
      openblasThreads?: number;
      threads?: number;
      library?: string;
      kernels?: number;
    };
  };
}

/** Options of {@linkcode gatherDoctorFacts}. */
export interface DoctorOptions {
  /** Passed to {@linkcode initBackend}; default JEPA_BACKEND or "auto". */
  backend?: BackendChoice | string;
  /** The folder holding deno.json and node_modules; default: found above this file. */
  root?: string;
}

/** Gathers every fact. Initialises the tfjs backend first (no tensor is created). */
export async function gatherDoctorFacts(opts: DoctorOptions = {}): Promise<DoctorFacts> {
  const root = opts.root ?? findRoot();
  const backend = await backendFact(opts.backend);
  const [packages, wasm, webgpu, jupyter, alepy, gxx, openblas] = await Promise.all([
    packageFacts(root),
    wasmFacts(backend),
    probeWebGPU(),
    jupyterFacts(),
    alepyFacts(),
    gxxFacts(),
    openblasFacts(),
  ]);
  return {
    backend,
    runtime: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      typescript: Deno.version.typescript,
      os: Deno.build.os,
      arch: Deno.build.arch,
      cpus: navigator.hardwareConcurrency,
    },
    tfjs: { ...tf.version } as Record<string, string>,
    packages,
    wasm,
    webgpu,
    jupyter,
    alepy,
    native: { gxx, openblas, cc: ccFacts(), backend: nativeFacts() },
  };
}

function ccFacts(): DoctorFacts["native"]["cc"] {
  const cc = findCompiler();
  return cc ? { present: true, command: cc.cmd, version: cc.version } : { present: false };
}

/** Registers (without activating) the native backend, compiling its kernels if needed. */
function nativeFacts(): DoctorFacts["native"]["backend"] {
  try {
    const info = registerNativeBackend();
    return {
      available: true,
      openblas: info.openblas,
      blasLibrary: info.blasLibrary,
      blasSource: info.blasSource,
      blasCore: info.blasCore,
      ...(info.blasNotes ? { blasNotes: info.blasNotes } : {}),
      ...(info.blasWarning ? { blasWarning: info.blasWarning } : {}),
      openblasThreads: info.openblasThreads,
      threads: info.threads,
      library: info.library,
      kernels: info.kernels.length,
    };
  } catch (err) {
    return { available: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

async function backendFact(backend: string | undefined): Promise<BackendFact> {
  try {
    return { ok: true, report: await initBackend({ backend, quiet: true }) };
  } catch (err) {
    let requested = backend ?? "auto";
    try {
      requested = backend ?? (Deno.env.get("JEPA_BACKEND") || "auto");
    } catch { /* no env permission: initBackend used "auto" too */ }
    return { ok: false, requested, error: err instanceof Error ? err.message : String(err) };
  }
}

/** The nearest folder above this file (else the working directory) that holds deno.json. */
function findRoot(): string {
  const starts = import.meta.url.startsWith("file:")
    ? [dirname(fileURLToPath(import.meta.url)), Deno.cwd()]
    : [Deno.cwd()];
  for (const start of starts) {
    for (let dir = start;; dir = dirname(dir)) {
      if (existsSync(join(dir, "deno.json"))) return dir;
      if (dirname(dir) === dir) break;
    }
  }
  return Deno.cwd();
}

/** Splits `npm:@scope/name@1.2.3` into the package name and the pinned version. */
export function parseNpmSpecifier(spec: string): { npm: string; pinned?: string } | undefined {
  const m = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)(?:@([^/]+))?/.exec(spec);
  return m ? { npm: m[1], pinned: m[2] } : undefined;
}

async function packageFacts(root: string): Promise<PackageFact[]> {
  let imports: Record<string, string>;
  try {
    const text = await readFile(join(root, "deno.json"), "utf8");
    imports = JSON.parse(text).imports ?? {};
  } catch (err) {
    return [{
      name: "deno.json",
      specifier: join(root, "deno.json"),
      ok: false,
      problem: `cannot read: ${firstLine(err)}`,
    }];
  }
  return await Promise.all(
    Object.entries(imports).map(async ([name, specifier]) => {
      const npm = parseNpmSpecifier(specifier);
      if (!npm) return { name, specifier, ok: true };
      const fact: PackageFact = { name, specifier, pinned: npm.pinned, ok: false };
      try {
        const pkg = JSON.parse(
          await readFile(join(root, "node_modules", npm.npm, "package.json"), "utf8"),
        );
        fact.installed = String(pkg.version);
        fact.ok = !npm.pinned || npm.pinned === fact.installed;
        if (!fact.ok) fact.problem = `pinned ${npm.pinned} but ${fact.installed} is installed`;
      } catch {
        fact.problem = `not in node_modules (run: deno install)`;
      }
      return fact;
    }),
  );
}

const WASM_THREADS_NOTE = "threads are impossible under Deno: the wasm backend's worker is a " +
  "blob: URL that node:worker_threads rejects";

async function wasmFacts(backend: BackendFact): Promise<DoctorFacts["wasm"]> {
  if (backend.ok && backend.report.backend === "wasm") {
    return {
      simd: backend.report.simd ?? null,
      threads: backend.report.threads ?? false,
      note: WASM_THREADS_NOTE,
    };
  }
  try {
    // Registers the wasm flags (and backend) without activating it.
    await import("@tensorflow/tfjs-backend-wasm");
    const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
    const threads = Boolean(await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"));
    return { simd, threads, note: WASM_THREADS_NOTE };
  } catch (err) {
    return { simd: null, threads: false, note: `wasm flags unavailable: ${firstLine(err)}` };
  }
}

async function jupyterFacts(): Promise<DoctorFacts["jupyter"]> {
  // Debian's Jupyter: prefer /usr/bin/jupyter over whatever else is on PATH (DESIGN.md section 3).
  const path = existsSync("/usr/bin/jupyter") ? "/usr/bin/jupyter" : "jupyter";
  const [version, kernelspecs] = await Promise.all([
    run(path, ["--version"]),
    run(path, ["kernelspec", "list", "--json"]),
  ]);
  const versions: Record<string, string> = {};
  for (const line of version.stdout.split("\n")) {
    const m = /^\s*([\w.-]+)\s*:\s*(.+?)\s*$/.exec(line);
    if (m && m[2] !== "not installed") versions[m[1]] = m[2];
  }
  let kernels: string[] = [];
  try {
    kernels = Object.keys(JSON.parse(kernelspecs.stdout).kernelspecs ?? {}).sort();
  } catch { /* not installed or no JSON */ }
  return {
    installed: version.ok,
    path,
    versions,
    kernels,
    denoKernel: kernels.some((k) => k.toLowerCase().includes("deno")),
    ...(version.ok ? {} : { error: version.error ?? lastLine(version.stderr) }),
  };
}

async function alepyFacts(): Promise<DoctorFacts["alepy"]> {
  const script = "import sys; print(sys.executable, flush=True); import ale_py; " +
    "print(ale_py.__version__)";
  // The python3 on PATH first, then Debian's if it is a different interpreter.
  const failures: DoctorFacts["alepy"][] = [];
  for (const python of ["python3", "/usr/bin/python3"]) {
    const r = await run(python, ["-c", script]);
    const [exe, version] = r.stdout.trim().split("\n");
    if (r.ok && version) return { importable: true, version: version.trim(), python: exe };
    if (exe && failures.some((f) => f.python === exe)) continue;
    failures.push({
      importable: false,
      ...(exe ? { python: exe } : {}),
      error: r.error ?? lastLine(r.stderr),
    });
  }
  return failures[0];
}

async function gxxFacts(): Promise<DoctorFacts["native"]["gxx"]> {
  const r = await run("g++", ["--version"]);
  if (!r.ok) return { present: false, error: r.error ?? lastLine(r.stderr) };
  return { present: true, version: r.stdout.split("\n")[0].trim() };
}

const CBLAS_HEADERS = [
  "/usr/include/cblas.h",
  "/usr/include/x86_64-linux-gnu/cblas.h",
  "/usr/include/aarch64-linux-gnu/cblas.h",
  "/usr/include/openblas/cblas.h",
];

async function openblasFacts(): Promise<DoctorFacts["native"]["openblas"]> {
  const ldconfig = existsSync("/sbin/ldconfig") ? "/sbin/ldconfig" : "ldconfig";
  const r = await run(ldconfig, ["-p"]);
  const lib = (name: string) =>
    r.stdout.split("\n").map((l) => l.trim()).find((l) => l.startsWith(name + " "))
      ?.split("=>")[1]?.trim();
  const library = lib("libopenblas.so.0");
  const fact: DoctorFacts["native"]["openblas"] = { present: library !== undefined };
  if (library) fact.library = library;
  const devLibrary = lib("libopenblas.so");
  if (devLibrary) fact.devLibrary = devLibrary;
  const header = CBLAS_HEADERS.find((h) => existsSync(h));
  if (header) fact.header = header;
  if (!r.ok && !library) fact.error = r.error ?? lastLine(r.stderr);
  if (Deno.permissions.querySync({ name: "ffi" }).state === "granted") {
    try {
      const blas = Deno.dlopen(library ?? "libopenblas.so.0", {
        openblas_get_config: { parameters: [], result: "pointer" },
        openblas_get_num_threads: { parameters: [], result: "i32" },
      });
      try {
        const ptr = blas.symbols.openblas_get_config();
        if (ptr) fact.config = Deno.UnsafePointerView.getCString(ptr).trim();
        fact.threads = blas.symbols.openblas_get_num_threads();
        fact.present = true;
      } finally {
        blas.close();
      }
    } catch (err) {
      if (fact.present) fact.error = `dlopen failed: ${firstLine(err)}`;
    }
  }
  return fact;
}

/** Runs a command with a timeout; never throws. */
async function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<CommandResult> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    const dec = new TextDecoder();
    return {
      ok: out.success,
      code: out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
      ...(out.signal ? { error: `killed by ${out.signal} (timeout ${timeoutMs} ms?)` } : {}),
    };
  } catch (err) {
    const error = err instanceof Deno.errors.NotFound
      ? `${cmd}: not found`
      : `${cmd}: ${firstLine(err)}`;
    return { ok: false, stdout: "", stderr: "", error };
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0].trim();
}

function lastLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.at(-1) ?? "";
}
