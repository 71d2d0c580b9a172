import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../tensor/backend.ts";
import {
  makeWorldModelStep,
  WORLDMODEL_BENCH_CONFIG,
  worldModelStepBench,
} from "./worldmodel_bench.ts";

await initBackend({ backend: "wasm" });

Deno.test("worldmodel-step: the benchmarked step trains and frees its temporaries", () => {
  const c = WORLDMODEL_BENCH_CONFIG;
  assert.equal(c.model.steps, 8);
  assert.equal(worldModelStepBench.name, "worldmodel-step");
  const wm = makeWorldModelStep({
    ...c,
    model: { ...c.model, width: 16, depth: 1 },
    spec: { ...c.spec, dim: 8 },
  }, 4);
  const counts: number[] = [];
  const losses: number[] = [];
  for (let i = 0; i < 4; i++) {
    losses.push(wm.step());
    counts.push(tf.memory().numTensors);
  }
  assert.ok(losses.every(Number.isFinite));
  assert.ok(counts.every((n) => n === counts[0]), counts.join(","));
  const before = tf.memory().numTensors;
  wm.dispose();
  assert.ok(tf.memory().numTensors < before);
});
