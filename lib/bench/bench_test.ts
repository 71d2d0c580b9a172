import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../tensor/backend.ts";
import { formatKernelProfile, startKernelProfile } from "./kernel_profile.ts";
import { peakRssMiB } from "./measure.ts";
import { comparePeer, type PeerResult, peerUnavailable, runPeer } from "./peers.ts";
import { soak } from "./soak.ts";

await initBackend({ backend: "cpu" });

Deno.test("the kernel profiler times each kernel once and restores the kernels", () => {
  const before = tf.getKernel("BatchMatMul", "cpu")!.kernelFunc;
  const a = tf.ones([8, 8]);
  const profiler = startKernelProfile("cpu");
  tf.tidy(() => tf.sum(tf.matMul(tf.add(a, 1), a)));
  const rows = profiler.stop();
  assert.equal(tf.getKernel("BatchMatMul", "cpu")!.kernelFunc, before);
  const names = rows.map((r) => r.kernel);
  for (const k of ["Add", "BatchMatMul", "Sum"]) assert.ok(names.includes(k), names.join(","));
  assert.ok(rows.every((r) => r.ms >= 0 && r.calls >= 1));
  assert.equal(rows.find((r) => r.kernel === "BatchMatMul")!.elements, 64);
  // The product's 64 floats were alive at the peak (the sum came after it).
  assert.equal(rows.find((r) => r.kernel === "BatchMatMul")!.peakMiB, 256 / 2 ** 20);
  assert.match(formatKernelProfile(rows), /BatchMatMul\s+1\s/);
  a.dispose();
});

Deno.test("peak RSS is read from /proc where there is one", () => {
  const peak = peakRssMiB();
  if (Deno.build.os === "linux") assert.ok(peak !== undefined && peak > 10, String(peak));
});

Deno.test("a peer comparison alternates rounds and reports the median of their ratios", async () => {
  const peerValues = [100, 50, 80]; // the peer's speed drifts from round to round
  const oursValues = [40, 90]; // ours after the first round, measured by the caller
  const asked: (number[] | undefined)[] = [];
  const result = (value: number, threads: number): PeerResult => ({
    bench: "b",
    impl: "pytorch",
    value,
    unit: "samples/s",
    threads,
  });
  const c = await comparePeer("b", () => Promise.resolve(oursValues.shift()!), {
    rounds: 3,
    firstOurs: 110,
    peer: (_bench, opts) => {
      asked.push(opts?.threads);
      const value = peerValues.shift()!;
      const best = result(value, 2);
      return Promise.resolve({
        ok: true as const,
        best,
        runs: opts?.threads ? [best] : [result(value / 2, 1), best],
        variants: { pruned: result(value * 2, 2) },
      });
    },
  });
  assert.ok(!("reason" in c));
  if ("reason" in c) return;
  // Round 1 tries every thread count; later rounds the best one.
  assert.deepEqual(asked, [undefined, [2], [2]]);
  assert.deepEqual(c.rounds.map((r) => r.ours), [110, 40, 90]);
  assert.equal(c.threadRuns.length, 2);
  assert.equal(c.ours, 90);
  assert.equal(c.peer, 80);
  // Ratios per round: 1.1, 0.8, 1.125: the median is 1.1, not 90 / 80.
  assert.equal(c.ratio, 1.1);
  assert.deepEqual(c.variants.pruned, { value: 160, ratio: 0.55 });
  const failed = await comparePeer("b", () => Promise.resolve(1), {
    peer: () => Promise.resolve({ ok: false as const, reason: "no torch" }),
  });
  assert.deepEqual(failed, { reason: "no torch" });
});

Deno.test("a peer without torch is skipped with the reason", async () => {
  const saved = Deno.env.get("JEPA_PYTHON");
  Deno.env.set("JEPA_PYTHON", "/nonexistent/python3");
  try {
    const outcome = await runPeer("ijepa-step", { quick: true });
    assert.equal(outcome.ok, false);
    assert.match(!outcome.ok ? outcome.reason : "", /torch is not importable by \/nonexistent/);
  } finally {
    if (saved === undefined) Deno.env.delete("JEPA_PYTHON");
    else Deno.env.set("JEPA_PYTHON", saved);
  }
  const none = await runPeer("no-such-bench");
  assert.equal(none.ok, false);
});

Deno.test({
  name: "the PyTorch peer of ijepa-step runs where torch is importable",
  ignore: (await peerUnavailable()) !== undefined,
  async fn() {
    const outcome = await runPeer("ijepa-step", { quick: true, threads: [1] });
    assert.ok(outcome.ok, outcome.ok ? "" : outcome.reason);
    if (!outcome.ok) return;
    assert.equal(outcome.best.bench, "ijepa-step");
    assert.equal(outcome.best.impl, "pytorch");
    assert.equal(outcome.best.threads, 1);
    assert.ok(outcome.best.value > 0);
    assert.ok((outcome.best.peakRssMiB ?? 0) > 0);
    // The pruned variant runs at the best thread count; the peer proper is not pruned.
    const pruned = outcome.variants.pruned as PeerResult & { pruned?: boolean };
    assert.equal((outcome.best as PeerResult & { pruned?: boolean }).pruned, false);
    assert.equal(pruned.threads, 1);
    assert.equal(pruned.pruned, true);
    assert.ok(pruned.value > 0);
  },
});

Deno.test("a soak run samples every tenth of its steps and reports the growth", () => {
  const step = () => tf.tidy(() => void tf.add(tf.ones([4]), 1));
  const clean = soak(() => ({ step, dispose() {} }), 20);
  assert.deepEqual(clean.samples.map((s) => s.step), [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
  assert.equal(clean.growth.numTensors, 0);
  assert.ok(clean.samples.every((s) => s.rssMiB > 0));
  // A step that leaks one tensor: 18 more from step 2 to step 20.
  const leaked: tf.Tensor[] = [];
  let disposed = false;
  const leaky = soak(() => ({
    step: () => leaked.push(tf.ones([4])),
    dispose: () => (disposed = true),
  }), 20);
  assert.equal(leaky.growth.numTensors, 18);
  assert.ok(disposed, "the run was disposed");
  tf.dispose(leaked);
  assert.throws(() => soak(() => ({ step() {}, dispose() {} }), 0), /integer >= 1/);
});
