/**
 * Picks and initialises the TensorFlow.js backend, once, before any tensor is created.
 *
 * ```ts
 * import { initBackend } from "./backend.ts";
 * const report = await initBackend(); // JEPA_BACKEND or "auto"
 * console.log(report.backend, report.tried);
 * ```
 *
 * In auto mode the candidates are tried in the order of {@linkcode BACKEND_NAMES}; the first that
 * loads wins and the report says why each earlier one was skipped. An explicit choice (the
 * `backend` option or `JEPA_BACKEND`) that cannot load is an Error that says why, never a silent
 * fallback. See DESIGN.md section 3 for how each dependency behaves on the project's machines.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  NATIVE_BACKEND,
  type NativeInfo,
  NativeUnavailable,
  registerNativeBackend,
} from "./native/register.ts";

/** A tfjs backend this project knows how to load. */
export type BackendName = "tensorflow" | "webgpu" | "native" | "wasm" | "cpu";

/** What {@linkcode initBackend} accepts: a backend name, or "auto" for the first that loads. */
export type BackendChoice = BackendName | "auto";

/** The parts of a WebGPU adapter's `info` worth printing. */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
}

/** One candidate's outcome: `ok`, or skipped / failed with a `reason`. */
export interface BackendAttempt {
  name: BackendName;
  ok: boolean;
  /** Why it was skipped or failed: a clause that reads after "requested but ...". */
  reason?: string;
  /** Candidate-specific facts (packages looked for, wasm paths, the adapter, ...). */
  detail?: Record<string, unknown>;
  /** Milliseconds the attempt took. */
  ms: number;
}

/** What {@linkcode initBackend} did: the backend chosen and every candidate tried on the way. */
export interface BackendReport {
  /** The active backend (equals `tf.getBackend()`). */
  backend: BackendName;
  /** What was asked for. */
  requested: BackendChoice;
  /** The candidates tried, in order; the last one is the chosen backend. */
  tried: BackendAttempt[];
  /** wasm only: whether the SIMD build is in use. */
  simd?: boolean;
  /** wasm only: whether the multi-threaded build is in use (never under Deno). */
  threads?: boolean;
  /** webgpu only: the adapter tfjs runs on. */
  adapter?: AdapterInfo;
  /** native only: OpenBLAS, the compiled kernels and their threads. */
  native?: NativeInfo;
}

/** Options of {@linkcode initBackend}. */
export interface InitBackendOptions {
  /** Backend to use; default `Deno.env.get("JEPA_BACKEND") ?? "auto"`. */
  backend?: BackendChoice | string;
  /**
   * Silence tfjs' own console noise during initialisation (the cpu backend's "looks like you are
   * running TensorFlow.js in Node.js" banner, tfjs' warnings when a backend fails to initialise;
   * the reasons still land in the report). Default `true`.
   */
  quiet?: boolean;
}

/** Thrown (as the reason of a candidate) when a backend cannot be used here. */
class Unavailable extends Error {
  constructor(readonly reason: string, readonly detail?: Record<string, unknown>) {
    super(reason);
  }
}

/** What a loader returns once its backend is active. */
interface Loaded {
  detail?: Record<string, unknown>;
  simd?: boolean;
  threads?: boolean;
  adapter?: AdapterInfo;
  native?: NativeInfo;
}

type Loader = (quiet: boolean) => Promise<Loaded>;

// ---------------------------------------------------------------------------------------------
// The candidates. The order of this object is the auto-mode priority: a new backend is one
// entry here plus its name in BackendName.

const LOADERS: Record<BackendName, Loader> = {
  tensorflow: loadTensorflow,
  webgpu: loadWebGPU,
  native: loadNative,
  wasm: loadWasm,
  cpu: loadCpu,
};

/** Every backend name, in auto-mode priority order. */
export const BACKEND_NAMES: readonly BackendName[] = Object.keys(LOADERS) as BackendName[];

// ---------------------------------------------------------------------------------------------
// tensorflow: @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node (native libtensorflow).

/** The native packages, best first. They are not in deno.json: their install script fetches
 * libtensorflow from a host the project's machines cannot reach. */
const TFJS_NODE_PACKAGES = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"] as const;

async function loadTensorflow(quiet: boolean): Promise<Loaded> {
  const roots = nodeModulesDirs();
  const status: Record<string, string> = {};
  for (const pkg of TFJS_NODE_PACKAGES) {
    const where = await findPackage(pkg, roots);
    if (where === undefined) {
      status[pkg] = "not installed";
      continue;
    }
    // A non-literal specifier, so that neither `deno check` nor the module graph fetch it.
    const specifier = `npm:${pkg}@${tf.version_core}`;
    try {
      await import(specifier);
    } catch (err) {
      status[pkg] = `import failed: ${firstLine(err)}`;
      continue;
    }
    try {
      await activate("tensorflow", quiet);
      return { detail: { package: pkg, path: where, ...status } };
    } catch (err) {
      status[pkg] = err instanceof Unavailable ? err.reason : firstLine(err);
    }
  }
  const detail = { ...status, lookedIn: roots };
  const states = TFJS_NODE_PACKAGES.map((p) => `${p}: ${status[p]}`);
  if (TFJS_NODE_PACKAGES.every((p) => status[p] === "not installed")) {
    throw new Unavailable(
      `@tensorflow/tfjs-node-gpu/-node are not installed: neither is under ` +
        `${roots.join(", ") || "any node_modules"} (their install script downloads ` +
        `libtensorflow, which Deno skips)`,
      detail,
    );
  }
  throw new Unavailable(
    `@tensorflow/tfjs-node-gpu/-node did not load (${states.join("; ")})`,
    detail,
  );
}

/** node_modules folders to look in: above this file, then above the working directory. */
function nodeModulesDirs(): string[] {
  const starts: string[] = [];
  if (import.meta.url.startsWith("file:")) starts.push(dirname(fileURLToPath(import.meta.url)));
  try {
    starts.push(Deno.cwd());
  } catch { /* no read permission */ }
  const found: string[] = [];
  for (const start of starts) {
    for (let dir = start;; dir = dirname(dir)) {
      const candidate = join(dir, "node_modules");
      if (isDir(candidate)) {
        if (!found.includes(candidate)) found.push(candidate);
        break;
      }
      if (dirname(dir) === dir) break;
    }
  }
  return found;
}

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** The package's folder when it is installed: `node_modules/<pkg>` (linked from deno.json) or
 * Deno's own `node_modules/.deno/<scope>+<name>@<version>/` store. */
async function findPackage(pkg: string, roots: string[]): Promise<string | undefined> {
  const storePrefix = pkg.replace("/", "+") + "@";
  for (const root of roots) {
    const linked = join(root, pkg);
    if (isDir(linked)) return linked;
    try {
      for await (const entry of Deno.readDir(join(root, ".deno"))) {
        if (entry.isDirectory && entry.name.startsWith(storePrefix)) {
          return join(root, ".deno", entry.name, "node_modules", pkg);
        }
      }
    } catch { /* no .deno store */ }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// webgpu: only on a real (non-fallback) adapter.

/** What `navigator.gpu` offers here. */
export interface WebGPUProbe {
  /** "gpu": a hardware adapter; "fallback": only a software one; "none": no adapter;
   * "unavailable": no `navigator.gpu` (or requesting an adapter failed). */
  status: "gpu" | "fallback" | "none" | "unavailable";
  /** Why it is not usable as a GPU (absent when status is "gpu"). */
  reason?: string;
  adapter?: AdapterInfo;
}

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/**
 * Asks `navigator.gpu` for the adapter tfjs would use (high-performance preference, as
 * tfjs-backend-webgpu asks). Deno 2.9 reports a software adapter through
 * `adapter.info.isFallbackAdapter`; older runtimes put `isFallbackAdapter` on the adapter.
 */
export async function probeWebGPU(timeoutMs = 15_000): Promise<WebGPUProbe> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return { status: "unavailable", reason: "navigator.gpu is not available here" };
  let adapter: GPUAdapter | null;
  try {
    adapter = await withTimeout(
      gpu.requestAdapter({ powerPreference: "high-performance" }),
      timeoutMs,
      "navigator.gpu.requestAdapter()",
    );
  } catch (err) {
    return {
      status: "unavailable",
      reason: `navigator.gpu.requestAdapter() failed: ${firstLine(err)}`,
    };
  }
  if (!adapter) {
    return {
      status: "none",
      reason: "there is no WebGPU adapter (navigator.gpu.requestAdapter() returned null)",
    };
  }
  const raw = ((adapter as { info?: AdapterInfoLike }).info ?? {}) as AdapterInfoLike;
  const info: AdapterInfo = {
    vendor: String(raw.vendor ?? ""),
    architecture: String(raw.architecture ?? ""),
    device: String(raw.device ?? ""),
    description: String(raw.description ?? ""),
    isFallbackAdapter: Boolean(
      raw.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
    ),
  };
  if (info.isFallbackAdapter) {
    return {
      status: "fallback",
      reason: `the only WebGPU adapter is a software fallback (isFallbackAdapter: true` +
        (info.description ? `, "${info.description}"` : "") + `)`,
      adapter: info,
    };
  }
  return { status: "gpu", adapter: info };
}

async function loadWebGPU(quiet: boolean): Promise<Loaded> {
  const probe = await probeWebGPU();
  if (probe.status !== "gpu") {
    throw new Unavailable(probe.reason!, probe.adapter ? { adapter: probe.adapter } : undefined);
  }
  try {
    await import("@tensorflow/tfjs-backend-webgpu");
  } catch (err) {
    throw new Unavailable(`@tensorflow/tfjs-backend-webgpu failed to load: ${firstLine(err)}`);
  }
  await activate("webgpu", quiet);
  return { adapter: probe.adapter, detail: { adapter: probe.adapter } };
}

// ---------------------------------------------------------------------------------------------
// native: the cpu backend with OpenBLAS matmuls and compiled C kernels, through Deno FFI.

async function loadNative(quiet: boolean): Promise<Loaded> {
  let info: NativeInfo;
  try {
    info = registerNativeBackend();
  } catch (err) {
    if (err instanceof NativeUnavailable) throw new Unavailable(err.reason);
    throw new Unavailable(`the native kernels failed to load: ${firstLine(err)}`);
  }
  await activate(NATIVE_BACKEND, quiet);
  const { kernels, ...facts } = info;
  return { native: info, detail: { ...facts, nativeKernels: kernels.length } };
}

// ---------------------------------------------------------------------------------------------
// wasm: SIMD on; threads impossible under Deno (the worker is a blob: URL that
// node:worker_threads rejects), and tfjs turns them off anyway when IS_NODE.

const WASM_FILE = "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm";

async function loadWasm(quiet: boolean): Promise<Loaded> {
  let wasm: typeof import("@tensorflow/tfjs-backend-wasm");
  try {
    wasm = await import("@tensorflow/tfjs-backend-wasm");
  } catch (err) {
    throw new Unavailable(`@tensorflow/tfjs-backend-wasm failed to load: ${firstLine(err)}`);
  }
  let wasmDir: string;
  try {
    wasmDir = dirname(createRequire(import.meta.url).resolve(WASM_FILE)) + "/";
  } catch (err) {
    throw new Unavailable(`${WASM_FILE} could not be resolved: ${firstLine(err)}`);
  }
  try {
    wasm.setWasmPaths(wasmDir);
  } catch (err) {
    throw new Unavailable(`setWasmPaths failed: ${firstLine(err)}`);
  }
  await activate("wasm", quiet);
  const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
  const threads = Boolean(await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"));
  return { simd, threads, detail: { wasmDir, simd, threads } };
}

// ---------------------------------------------------------------------------------------------
// cpu: plain JavaScript kernels, always there.

async function loadCpu(quiet: boolean): Promise<Loaded> {
  await activate("cpu", quiet);
  if (quiet) {
    // The cpu backend prints its "install our node backend" banner on its first write.
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------

/** `tf.setBackend(name)` + `tf.ready()`, turning tfjs' "returns false and warns" into a reason. */
async function activate(name: string, quiet: boolean): Promise<void> {
  const warnings: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => {
    warnings.push(args.map(String).join(" "));
    if (!quiet) original(...args);
  };
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
    if (ok) await tf.ready();
  } catch (err) {
    throw new Unavailable(`tf.setBackend('${name}') failed: ${firstLine(err)}`);
  } finally {
    console.warn = original;
  }
  if (!ok) {
    // tfjs warns "Initialization of backend X failed", then the error: keep the error's first line.
    const why = warnings.find((w) => !w.startsWith("Initialization of backend"))?.split("\n")[0];
    throw new Unavailable(`tf.setBackend('${name}') failed: ${why || "tfjs gave no reason"}`);
  }
  if (tf.getBackend() !== name) {
    throw new Unavailable(`tf.setBackend('${name}') left tfjs on '${tf.getBackend()}'`);
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0].trim();
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Reads JEPA_BACKEND if allowed to; "" counts as unset. */
function envChoice(): string | undefined {
  try {
    const state = Deno.permissions.querySync({ name: "env", variable: "JEPA_BACKEND" }).state;
    if (state !== "granted") return undefined;
    return Deno.env.get("JEPA_BACKEND") || undefined;
  } catch {
    return undefined;
  }
}

/** Normalises a requested backend; an unknown name is an Error listing the valid ones. */
export function parseBackendChoice(value: string, source = "backend"): BackendChoice {
  const name = value.trim().toLowerCase();
  if (name === "auto" || (BACKEND_NAMES as readonly string[]).includes(name)) {
    return name as BackendChoice;
  }
  throw new Error(
    `unknown ${source} '${value}'; valid names: auto, ${BACKEND_NAMES.join(", ")}`,
  );
}

async function attempt(name: BackendName, quiet: boolean): Promise<[BackendAttempt, Loaded?]> {
  const start = performance.now();
  const ms = () => Math.round((performance.now() - start) * 10) / 10;
  try {
    const loaded = await LOADERS[name](quiet);
    return [
      { name, ok: true, ...(loaded.detail ? { detail: loaded.detail } : {}), ms: ms() },
      loaded,
    ];
  } catch (err) {
    const reason = err instanceof Unavailable ? err.reason : `unexpected error: ${firstLine(err)}`;
    const detail = err instanceof Unavailable ? err.detail : undefined;
    return [{ name, ok: false, reason, ...(detail ? { detail } : {}), ms: ms() }];
  }
}

async function select(requested: BackendChoice, quiet: boolean): Promise<BackendReport> {
  const names = requested === "auto" ? BACKEND_NAMES : [requested];
  const tried: BackendAttempt[] = [];
  for (const name of names) {
    const [outcome, loaded] = await attempt(name, quiet);
    tried.push(outcome);
    if (!loaded) continue;
    const report: BackendReport = { backend: name, requested, tried };
    const native = tried.find((t) => t.name === "native" && !t.ok);
    if (native && (name === "wasm" || name === "cpu")) {
      // The fallback is tens of times slower: never silent.
      console.error(
        `backend ${name}: the last resort, 10-50x slower than native, which is unavailable: ` +
          native.reason,
      );
    }
    if (loaded.simd !== undefined) report.simd = loaded.simd;
    if (loaded.threads !== undefined) report.threads = loaded.threads;
    if (loaded.adapter !== undefined) report.adapter = loaded.adapter;
    if (loaded.native !== undefined) report.native = loaded.native;
    return report;
  }
  if (requested !== "auto") {
    throw new Error(`backend '${requested}' requested but ${tried[0].reason}`);
  }
  throw new Error(
    `no tfjs backend could be loaded: ${tried.map((t) => `${t.name}: ${t.reason}`).join("; ")}`,
  );
}

let current: { requested: BackendChoice; report: Promise<BackendReport> } | undefined;

/**
 * Picks, loads and activates a tfjs backend (`tf.setBackend` + `tf.ready()`); call it before
 * creating any tensor.
 *
 * The choice is `opts.backend`, else `JEPA_BACKEND`, else "auto". "auto" tries
 * {@linkcode BACKEND_NAMES} in order: `tensorflow` (tfjs-node-gpu, then tfjs-node, only when
 * installed), `webgpu` (only on a non-fallback adapter), `native` (OpenBLAS and compiled
 * kernels over FFI, where a C compiler and OpenBLAS are present), `wasm` (SIMD, no threads),
 * `cpu`.
 * An explicit backend that cannot load rejects with an Error saying why; an unknown name
 * rejects with one listing the valid names.
 *
 * Idempotent: calling it again with the same choice, while that backend is still active,
 * returns the same report without re-initialising. A different choice switches backend.
 */
export async function initBackend(opts: InitBackendOptions = {}): Promise<BackendReport> {
  const fromEnv = opts.backend === undefined ? envChoice() : undefined;
  const requested = parseBackendChoice(
    opts.backend ?? fromEnv ?? "auto",
    opts.backend === undefined && fromEnv !== undefined ? "JEPA_BACKEND" : "backend",
  );
  if (current?.requested === requested) {
    try {
      const report = await current.report;
      if (tf.getBackend() === report.backend) return report;
    } catch { /* the previous attempt failed: try again */ }
  }
  const report = select(requested, opts.quiet ?? true);
  current = { requested, report };
  try {
    return await report;
  } catch (err) {
    if (current?.report === report) current = undefined;
    throw err;
  }
}
