import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../tensor/backend.ts";
import { formatKernelProfile, startKernelProfile } from "./kernel_profile.ts";
import { peakRssMiB } from "./measure.ts";
import {
  pairWithPeer,
  type PeerResult,
  peerUnavailable,
  runPeer,
  summarizeWindows,
} from "./peers.ts";
import { soak } from "./soak.ts";
import { dqnUpdateBench } from "./dqn_bench.ts";

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

Deno.test("paired windows: per form, the median, min and max of the windows' ratios", () => {
  const ratios = summarizeWindows([
    { ours: 110, peers: { reference: 100, pruned: 220 } },
    { ours: 40, peers: { reference: 50, pruned: 80 } }, // the machine slowed for both sides
    { ours: 90, peers: { reference: 80, pruned: 160 } },
  ]);
  // 1.1, 0.8, 1.125: the median is 1.1, though the sums' ratio is 240 / 230.
  assert.deepEqual(ratios.reference, { median: 1.1, min: 0.8, max: 1.125 });
  assert.deepEqual(ratios.pruned, { median: 0.5, min: 0.5, max: 0.5625 });
  assert.deepEqual(summarizeWindows([]), {});
});

Deno.test("a peer without torch is skipped with the reason", async () => {
  const saved = Deno.env.get("JEPA_PYTHON");
  Deno.env.set("JEPA_PYTHON", "/nonexistent/python3");
  try {
    const outcome = await runPeer("ijepa-step", { quick: true });
    assert.equal(outcome.ok, false);
    assert.match(!outcome.ok ? outcome.reason : "", /torch is not importable by \/nonexistent/);
    const numpy = await runPeer("probe-fit", { quick: true });
    assert.match(
      !numpy.ok ? numpy.reason : "",
      /numpy and scipy are not importable by \/nonexistent.*python3 -m pip install numpy scipy$/,
    );
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
    // Served, window by window, against a step of ours (here a stand-in of known speed).
    const paired = await pairWithPeer(
      "ijepa-step",
      () => {
        const until = performance.now() + 20;
        while (performance.now() < until) { /* a 20 ms step */ }
      },
      64,
      { threads: 1, windows: 2, steps: 1, pauseMs: 0 },
    );
    assert.ok(!("reason" in paired), "reason" in paired ? paired.reason : "");
    if ("reason" in paired) return;
    assert.equal(paired.windows.length, 2);
    for (const w of paired.windows) {
      assert.ok(w.ours > 0 && w.ours <= 3200, String(w.ours)); // 64 samples per >= 20 ms
      assert.deepEqual(Object.keys(w.peers), ["reference", "pruned"]);
    }
    assert.ok(paired.ratios.reference.median > 0 && paired.ratios.pruned.median > 0);
  },
});

Deno.test({
  name: "the PyTorch peers of worldmodel-step and ppo-update run where torch is importable",
  ignore: (await peerUnavailable()) !== undefined,
  async fn() {
    type Extra = PeerResult & { loss?: number[]; stats?: Record<string, number> };
    const wm = await runPeer("worldmodel-step", { quick: true, threads: [1] });
    assert.ok(wm.ok, wm.ok ? "" : wm.reason);
    if (!wm.ok) return;
    const w = wm.best as Extra;
    assert.deepEqual([w.bench, w.impl, w.unit, w.threads], [
      "worldmodel-step",
      "pytorch",
      "sequences/s",
      1,
    ]);
    assert.ok(w.value > 0 && (w.peakRssMiB ?? 0) > 0);
    assert.deepEqual(wm.variants, {});
    // Residual outputs start near s_t: about E|x - y| = 2 / sqrt(pi) for independent N(0, 1).
    assert.ok(w.loss![0] > 1 && w.loss![0] < 1.3, String(w.loss));
    // Served (one form), window by window, against a stand-in step.
    const paired = await pairWithPeer("worldmodel-step", () => {}, 32, {
      threads: 1,
      windows: 1,
      steps: 1,
      pauseMs: 0,
    });
    assert.ok(!("reason" in paired), "reason" in paired ? paired.reason : "");
    if (!("reason" in paired)) assert.deepEqual(Object.keys(paired.ratios), ["reference"]);

    const ppo = await runPeer("ppo-update", { quick: true, threads: [1] });
    assert.ok(ppo.ok, ppo.ok ? "" : ppo.reason);
    if (!ppo.ok) return;
    const p = ppo.best as Extra;
    assert.deepEqual([p.bench, p.unit], ["ppo-update", "env steps/s (optimisation only)"]);
    assert.ok(p.value > 0 && (p.peakRssMiB ?? 0) > 0);
    // The actor's gain-0.01 init: a near-uniform first policy over the 4 actions.
    assert.ok(Math.abs(p.stats!.entropy - Math.log(4)) < 0.01, JSON.stringify(p.stats));
    assert.ok(p.stats!.gradNorm > 0);
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

Deno.test({
  name: "dqn-update: ours times one update; its PyTorch peer runs where torch is importable",
  async fn() {
    const ours = await dqnUpdateBench.run({ quick: true });
    assert.equal(ours.unit, "updates/s");
    assert.ok(ours.value > 0);
    if ((await peerUnavailable()) !== undefined) return;
    const peer = await runPeer("dqn-update", { quick: true, threads: [1] });
    assert.ok(peer.ok, peer.ok ? "" : peer.reason);
    if (!peer.ok) return;
    const p = peer.best as PeerResult & { loss?: number[] };
    assert.deepEqual([p.bench, p.impl, p.unit], ["dqn-update", "pytorch", "updates/s"]);
    assert.ok(p.value > 0 && Number.isFinite(p.loss![0]));
  },
});
