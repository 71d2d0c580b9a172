/**
 * Tests of backend selection. tfjs keeps its backend in global state, so every case that
 * initialises a backend runs in its own `deno eval` subprocess and reports back one JSON line.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BACKEND_NAMES, parseBackendChoice } from "./backend.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BACKEND_URL = new URL("./backend.ts", import.meta.url).href;

// deno-lint-ignore no-explicit-any
type Json = any;

interface Outcome {
  out: Json;
  stderr: string;
}

/**
 * Runs `body` in a fresh Deno with `tf`, `initBackend` and `probeWebGPU` in scope; the body fills
 * `out`, and a thrown error lands in `out.error`.
 */
async function inSubprocess(body: string, env: Record<string, string> = {}): Promise<Outcome> {
  const code = `
import * as tf from "@tensorflow/tfjs";
import { initBackend, probeWebGPU } from ${JSON.stringify(BACKEND_URL)};
const out: Record<string, unknown> = {};
try {
${body}
} catch (err) {
  out.error = err instanceof Error ? err.message : String(err);
}
console.log("RESULT " + JSON.stringify(out));
`;
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", "--config", join(ROOT, "deno.json"), code],
    cwd: ROOT,
    env: { JEPA_BACKEND: "", NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(result.stdout);
  const stderr = new TextDecoder().decode(result.stderr);
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
  assert.ok(
    result.success && line,
    `subprocess failed (code ${result.code}):\n${stdout}\n${stderr}`,
  );
  return { out: JSON.parse(line.slice("RESULT ".length)), stderr };
}

function tfjsNodeInstalled(): boolean {
  return ["tfjs-node-gpu", "tfjs-node"].some((p) =>
    existsSync(join(ROOT, "node_modules", "@tensorflow", p))
  ) ||
    [...Deno.readDirSync(join(ROOT, "node_modules", ".deno"))].some((e) =>
      e.name.startsWith("@tensorflow+tfjs-node")
    );
}

/** Deterministic operands, so two processes multiply the same matrices. */
const MATMUL = `
const a = tf.tensor2d(Array.from({ length: 33 * 47 }, (_, i) => Math.sin(i * 0.37)), [33, 47]);
const b = tf.tensor2d(Array.from({ length: 29 * 47 }, (_, i) => Math.cos(i * 0.11)), [29, 47]);
out.plain = Array.from(tf.matMul(a, b, false, true).dataSync());
out.transposedA = Array.from(tf.matMul(a, tf.ones([33, 5]), true, false).dataSync());
`;

function assertClose(actual: number[], expected: number[], what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const tol = 1e-4 * Math.max(1, Math.abs(expected[i]));
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

Deno.test("backend names are in auto-mode priority order", () => {
  assert.deepEqual(BACKEND_NAMES, ["tensorflow", "webgpu", "native", "wasm", "cpu"]);
  assert.equal(parseBackendChoice(" WASM "), "wasm");
  assert.equal(parseBackendChoice("auto"), "auto");
});

Deno.test("an unknown backend name is an error listing the valid names", async () => {
  assert.throws(
    () => parseBackendChoice("cuda"),
    /unknown backend 'cuda'; valid names: auto, tensorflow, webgpu, native, wasm, cpu/,
  );
  const { out } = await inSubprocess(`await initBackend({ backend: "tpu" });`);
  assert.match(
    out.error,
    /unknown backend 'tpu'; valid names: auto, tensorflow, webgpu, native, wasm, cpu/,
  );
  const fromEnv = await inSubprocess(`await initBackend();`, { JEPA_BACKEND: "gpu" });
  assert.match(fromEnv.out.error, /unknown JEPA_BACKEND 'gpu'; valid names: auto, tensorflow/);
});

Deno.test("explicit cpu: tfjs runs on cpu, without the tfjs-node banner", async () => {
  const { out, stderr } = await inSubprocess(`
out.report = await initBackend({ backend: "cpu" });
out.active = tf.getBackend();
out.sum = tf.add(tf.ones([3]), tf.ones([3])).dataSync()[0];
`);
  assert.equal(out.error, undefined);
  assert.equal(out.report.backend, "cpu");
  assert.equal(out.report.requested, "cpu");
  assert.equal(out.active, "cpu");
  assert.equal(out.sum, 2);
  assert.deepEqual(out.report.tried.map((t: Json) => [t.name, t.ok]), [["cpu", true]]);
  assert.doesNotMatch(stderr, /looks like you are running TensorFlow\.js in Node\.js/);
});

Deno.test("JEPA_BACKEND picks the backend when no option is given", async () => {
  const { out } = await inSubprocess(
    `out.report = await initBackend(); out.active = tf.getBackend();`,
    { JEPA_BACKEND: "cpu" },
  );
  assert.equal(out.report.requested, "cpu");
  assert.equal(out.active, "cpu");
});

Deno.test("explicit wasm: SIMD on, no threads, matmul equal to cpu's", async () => {
  const wasm = await inSubprocess(`
out.report = await initBackend({ backend: "wasm" });
out.active = tf.getBackend();
${MATMUL}`);
  assert.equal(wasm.out.error, undefined, wasm.out.error);
  assert.equal(wasm.out.active, "wasm");
  assert.equal(wasm.out.report.backend, "wasm");
  assert.equal(wasm.out.report.simd, true);
  assert.equal(wasm.out.report.threads, false);
  const cpu = await inSubprocess(`await initBackend({ backend: "cpu" });\n${MATMUL}`);
  assert.equal(cpu.out.error, undefined, cpu.out.error);
  assert.equal(wasm.out.plain.length, 33 * 29);
  assertClose(wasm.out.plain, cpu.out.plain, "a @ b^T");
  assertClose(wasm.out.transposedA, cpu.out.transposedA, "a^T @ 1");
});

/** Whether this machine has what the native backend needs (a C compiler and OpenBLAS). */
async function nativeAvailable(): Promise<boolean> {
  const { out } = await inSubprocess(`
const { registerNativeBackend } = await import(${
    JSON.stringify(new URL("./native/register.ts", import.meta.url).href)
  });
registerNativeBackend();
out.ok = true;`);
  return out.ok === true;
}

Deno.test("explicit native: OpenBLAS and compiled kernels, matmul equal to cpu's", async () => {
  if (!(await nativeAvailable())) {
    const { out } = await inSubprocess(`await initBackend({ backend: "native" });`);
    assert.match(out.error, /^backend 'native' requested but (OpenBLAS|no C compiler|compiling)/);
    return;
  }
  const native = await inSubprocess(`
out.report = await initBackend({ backend: "native" });
out.active = tf.getBackend();
${MATMUL}`);
  assert.equal(native.out.error, undefined, native.out.error);
  assert.equal(native.out.active, "native");
  assert.equal(native.out.report.backend, "native");
  assert.match(native.out.report.native.openblas, /OpenBLAS/);
  assert.ok(native.out.report.native.threads >= 1);
  assert.ok(native.out.report.native.kernels.includes("BatchMatMul"));
  assert.doesNotMatch(native.stderr, /looks like you are running TensorFlow\.js in Node\.js/);
  const cpu = await inSubprocess(`await initBackend({ backend: "cpu" });\n${MATMUL}`);
  assertClose(native.out.plain, cpu.out.plain, "a @ b^T");
  assertClose(native.out.transposedA, cpu.out.transposedA, "a^T @ 1");
  const fromEnv = await inSubprocess(`out.report = await initBackend();`, {
    JEPA_BACKEND: "native",
  });
  assert.equal(fromEnv.out.report.backend, "native");
});

Deno.test("native without OpenBLAS or a compiler: explicit fails loudly, auto skips it", async () => {
  const noBlas = { JEPA_OPENBLAS: "libopenblas-missing.so.0" };
  const explicit = await inSubprocess(`await initBackend({ backend: "native" });`, noBlas);
  assert.match(
    explicit.out.error,
    /^backend 'native' requested but OpenBLAS is not installed: libopenblas-missing\.so\.0 could not be loaded \(libopenblas-missing\.so\.0: cannot open shared object file.*\); JEPA_OPENBLAS names it: unset it to let the backend fetch scipy-openblas32$/,
  );
  const auto = await inSubprocess(`out.report = await initBackend({ backend: "auto" });`, noBlas);
  const skipped = auto.out.report.tried.find((t: Json) => t.name === "native");
  assert.equal(skipped.ok, false);
  assert.match(skipped.reason, /^OpenBLAS is not installed/);
  assert.notEqual(auto.out.report.backend, "native");
  if (["wasm", "cpu"].includes(auto.out.report.backend)) {
    assert.match(auto.stderr, /backend (wasm|cpu): the last resort, .* OpenBLAS is not installed/);
  }
  const noCc = await inSubprocess(`await initBackend({ backend: "native" });`, {
    CC: "/nonexistent/cc",
  });
  assert.match(
    noCc.out.error,
    /^backend 'native' requested but (OpenBLAS is not installed|no C compiler found \(tried \/nonexistent\/cc; apt-get install g\+\+, or set CC\))/,
  );
});

Deno.test("explicit tensorflow fails with the reason, without a fallback", async () => {
  const { out } = await inSubprocess(`
await initBackend({ backend: "cpu" });
try {
  await initBackend({ backend: "tensorflow" });
  out.active = tf.getBackend();
} catch (err) {
  out.error = (err as Error).message;
  out.active = tf.getBackend();
}`);
  if (tfjsNodeInstalled() && out.error === undefined) {
    assert.equal(out.active, "tensorflow");
    return;
  }
  assert.match(out.error, /^backend 'tensorflow' requested but @tensorflow\/tfjs-node-gpu\/-node/);
  if (!tfjsNodeInstalled()) assert.match(out.error, /are not installed/);
  assert.equal(out.active, "cpu", "a failed explicit choice must leave the backend alone");
});

Deno.test("explicit webgpu loads only on a hardware adapter, else says why", async () => {
  const { out } = await inSubprocess(`
out.probe = await probeWebGPU();
try {
  out.report = await initBackend({ backend: "webgpu" });
  out.active = tf.getBackend();
} catch (err) {
  out.error = (err as Error).message;
}`);
  if (out.probe.status === "gpu") {
    assert.equal(out.error, undefined, out.error);
    assert.equal(out.active, "webgpu");
    assert.equal(out.report.adapter.isFallbackAdapter, false);
    return;
  }
  assert.equal(out.report, undefined, "must not load webgpu on a fallback adapter");
  assert.equal(out.error, `backend 'webgpu' requested but ${out.probe.reason}`);
  if (out.probe.status === "fallback") {
    assert.match(out.error, /software fallback \(isFallbackAdapter: true/);
    assert.equal(out.probe.adapter.isFallbackAdapter, true);
  }
});

Deno.test("auto: first loadable candidate wins, each skipped one says why", async () => {
  const { out } = await inSubprocess(`
out.probe = await probeWebGPU();
out.report = await initBackend({ backend: "auto" });
out.active = tf.getBackend();
`);
  assert.equal(out.error, undefined, out.error);
  const { report } = out;
  assert.equal(report.requested, "auto");
  assert.equal(out.active, report.backend);
  const last = report.tried.at(-1);
  assert.equal(last.name, report.backend);
  assert.equal(last.ok, true);
  for (const skipped of report.tried.slice(0, -1)) {
    assert.equal(skipped.ok, false);
    assert.ok(skipped.reason, `${skipped.name} was skipped without a reason`);
  }
  // The order is the priority order.
  assert.deepEqual(
    report.tried.map((t: Json) => t.name),
    BACKEND_NAMES.slice(0, report.tried.length),
  );
  if (!tfjsNodeInstalled() && out.probe.status !== "gpu") {
    // This machine: no libtensorflow, no GPU; native where OpenBLAS and a compiler are.
    assert.match(report.tried[0].reason, /not installed/);
    assert.equal(report.tried[1].reason, out.probe.reason);
    if (await nativeAvailable()) {
      assert.equal(report.backend, "native");
      assert.deepEqual(report.tried.map((t: Json) => t.name), ["tensorflow", "webgpu", "native"]);
    } else {
      assert.equal(report.backend, "wasm");
      assert.deepEqual(report.tried.map((t: Json) => t.name), [
        "tensorflow",
        "webgpu",
        "native",
        "wasm",
      ]);
      assert.ok(report.tried[2].reason, "native was skipped without a reason");
      assert.equal(report.simd, true);
    }
  }
});

Deno.test("same choice twice returns the same report; another choice switches", async () => {
  const { out } = await inSubprocess(`
const first = await initBackend({ backend: "wasm" });
const kept = tf.tensor1d([1, 2, 3]);
const again = await initBackend({ backend: "wasm" });
const [a, b] = await Promise.all([initBackend({ backend: "wasm" }), initBackend({ backend: "wasm" })]);
out.same = first === again && again === a && a === b;
out.keptSum = kept.sum().dataSync()[0];
out.afterSame = tf.getBackend();
const cpu = await initBackend({ backend: "cpu" });
out.switched = tf.getBackend();
out.cpuSame = cpu === (await initBackend({ backend: "cpu" }));
out.backToWasm = (await initBackend({ backend: "wasm" })) === first;
out.final = tf.getBackend();
`);
  assert.equal(out.error, undefined, out.error);
  assert.equal(out.same, true);
  assert.equal(out.keptSum, 6);
  assert.equal(out.afterSame, "wasm");
  assert.equal(out.switched, "cpu");
  assert.equal(out.cpuSame, true);
  assert.equal(out.backToWasm, false, "a switch back is a new initialisation, so a new report");
  assert.equal(out.final, "wasm");
});
