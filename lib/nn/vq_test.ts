import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import { variable } from "./params.ts";
import { codebookSpread, codebookStats, CodeUsage, nearestCodes, quantize } from "./vq.ts";

await initBackend({ backend: "cpu" });

Deno.test("quantize picks the nearest code, passes the gradient straight through, and trains the codes", () => {
  const codebook = variable(Float32Array.of(0, 0, 1, 1, -1, 2), [3, 2]);
  const ze = tf.variable(tf.tensor2d([[0.9, 1.2], [-0.1, 0.1]]));
  assert.deepEqual(Array.from(nearestCodes(codebook as tf.Tensor2D, ze)), [1, 0]);
  const { value, grads } = tf.variableGrads(() => {
    const q = quantize(codebook, ze);
    assert.deepEqual(Array.from(q.indices), [1, 0]);
    assert.deepEqual(Array.from(q.quantized.dataSync()), [1, 1, 0, 0], "forward: z_q");
    // The decoder's loss sum(out): d/dz_e is 1 everywhere (straight through).
    return tf.add(tf.sum(q.quantized), tf.add(q.codebookLoss, q.commitmentLoss)) as tf.Scalar;
  });
  // d/dz_e: 1 (straight through) + commitment 2 (z_e - z_q) / 4; codes: 2 (z_q - z_e) / 4.
  const gz = Array.from(grads[ze.name].dataSync());
  const want = [0.9 - 1, 1.2 - 1, -0.1, 0.1].map((d) => 1 + d / 2);
  gz.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-6, `${gz} vs ${want}`));
  const gc = Array.from(grads[codebook.name].dataSync());
  const wantC = [0.05, -0.05, 0.05, -0.1, 0, 0];
  gc.forEach((g, i) => assert.ok(Math.abs(g - wantC[i]) < 1e-5, `${gc} vs ${wantC}`));
  tf.dispose([value, ...Object.values(grads), codebook, ze]);
});

Deno.test("code usage finds the dead codes and resets them to batch outputs", () => {
  const usage = new CodeUsage(4, 0.5);
  for (let i = 0; i < 10; i++) usage.update([0, 0, 1, 1]);
  assert.deepEqual(usage.dead(0.1), [2, 3]);
  const codebook = variable(new Float32Array(8), [4, 2]);
  usage.reset(codebook, [2, 3], Float32Array.of(5, 6, 7, 8), new Rng(0));
  const rows = Array.from(codebook.dataSync());
  for (const k of [2, 3]) {
    const row = rows.slice(2 * k, 2 * k + 2).join();
    assert.ok(row === "5,6" || row === "7,8", row);
  }
  assert.deepEqual(usage.dead(0.1), []);
  codebook.dispose();
  usage.dispose();
  assert.deepEqual(codebookStats([0, 1, 0, 1], 4), { used: 0.5, perplexity: 2 });
});

Deno.test("codebookSpread: random codes sit about sqrt(2) norms apart, a collapsed codebook near 0", () => {
  const rng = new Rng(4);
  const size = 16, d = 32;
  const random = Float32Array.from({ length: size * d }, () => rng.normal());
  const spread = codebookSpread(random, size);
  assert.ok(spread > 1.2 && spread < 1.6, `random: ${spread}`);
  const point = Float32Array.from(
    { length: size * d },
    (_, i) => (i % d) / d + 1e-4 * rng.normal(),
  );
  assert.ok(codebookSpread(point, size) < 1e-3, "collapsed");
});
