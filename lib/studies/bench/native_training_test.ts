/**
 * The native backend in training: gradients through every layer of the models against the cpu
 * backend, a smoke I-JEPA pretraining run with the same loss curve on both, bit-identical
 * numbers run to run, and no tensor leaks over steps.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { IJEPA_BENCH_CONFIG, makeIJepaStep } from "./ijepa_bench.ts";
import { collectDataset } from "../../data/collect.ts";
import { openDataset } from "../../data/reader.ts";
import { CLEANRL_ATARI } from "../../envs/make.ts";
import type { IJepaConfig } from "../../models/ijepa.ts";
import { attention, block, gelu, initBlock, layerNorm, linear } from "../../nn/layers.ts";
import { flattenParams, type Params } from "../../nn/params.ts";
import { smoothL1 } from "../../ssl/losses.ts";
import { pretrain } from "../../train/pretrain.ts";
import { PRETRAIN_PRESETS } from "../../train/pretrain_presets.ts";
import { Rng } from "../../tensor/rng.ts";
import {
  NATIVE_BACKEND,
  nativeFallbacks,
  resetNativeFallbacks,
} from "../../tensor/native/register.ts";
import { compare, nativeSkipReason, onBoth, randomTensor } from "../../tensor/native/testing.ts";

const ignore = nativeSkipReason !== undefined;

function test(name: string, fn: () => Promise<void>) {
  Deno.test({ name: `native: ${name}`, ignore, fn });
}

/** A small I-JEPA (49 patches of 12x12x4, width 32) that runs in seconds on cpu. */
const SMALL: IJepaConfig = {
  encoder: { ...IJEPA_BENCH_CONFIG.encoder, width: 32, depth: 2, heads: 2 },
  predictor: { width: 16, depth: 1, heads: 2, mlpRatio: 4 },
};

/**
 * The loss and its gradients w.r.t. the leaves of `part(tree)`, for a tree built by `init`
 * (seeded, so the same on both backends).
 */
function treeGrads(
  init: () => Params,
  loss: (p: Params) => tf.Scalar,
  part: (p: Params) => Params = (p) => p,
): tf.Tensor[] {
  const p = init();
  const leaves = flattenParams(part(p)).map(([, v]) => v);
  const { value, grads } = tf.variableGrads(() => loss(p), leaves);
  const out = [value, ...leaves.map((v) => grads[v.name])];
  // Variables are not tracked by tidy: free the whole tree here, keep the results.
  const kept = out.map((t) => t.clone());
  tf.dispose([...out, ...flattenParams(p).map(([, v]) => v)]);
  return kept;
}

test("gradients of a transformer block, GELU, layer norm and smooth L1 match cpu", async () => {
  const x = () => randomTensor("bx", [3, 29, 16]) as tf.Tensor3D;
  await compare("block and loss gradients", () =>
    treeGrads(
      () => initBlock(new Rng(5), 16, 4),
      (p) => smoothL1(block(p, x(), 2), randomTensor("by", [3, 29, 16])),
    ), { atol: 2e-6, rtol: 2e-4 });
  await compare("masked attention gradients", () => {
    const mask = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([29, 29]), -1, 0)), -1e9);
    return treeGrads(
      () => initBlock(new Rng(6), 16, 4),
      (p) => tf.mean(tf.square(attention(p.attn as Params, x(), 4, mask))),
      (p) => p.attn as Params,
    );
  }, { atol: 2e-6, rtol: 2e-4 });
  await compare("input gradients of gelu, layerNorm, linear", () => {
    const f = (t: tf.Tensor) =>
      tf.sum(
        tf.mul(
          gelu(linear({ w: randomTensor("lw", [16, 8]), b: randomTensor("lb", [8]) } as never, t)),
          layerNorm(
            { g: randomTensor("g", [8]), b: randomTensor("b", [8]) } as never,
            t.slice([0, 0, 0], [-1, -1, 8]),
          ),
        ),
      );
    return tf.grad(f)(x());
  }, { atol: 2e-6, rtol: 2e-4 });
});

test("gradients of gather (unsorted segment sum), softmax and transposes match cpu", async () => {
  await compare(
    "gather gradient",
    () =>
      tf.grad((t: tf.Tensor) =>
        tf.sum(
          tf.mul(tf.gather(t, tf.tensor1d([3, 1, 3, 0, 3], "int32")), randomTensor("gw", [5, 6])),
        )
      )(randomTensor("gx", [4, 6])),
  );
  await compare(
    "softmax / transpose gradient",
    () =>
      tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(tf.softmax(tf.transpose(t, [0, 2, 1, 3])), randomTensor("sw", [2, 5, 3, 7])))
      )(randomTensor("sx", [2, 3, 5, 7], -3, 3)),
  );
});

/** Runs `steps` training steps of the small model; returns the losses. */
function ijepaLosses(steps: number, batch = 8): number[] {
  const run = makeIJepaStep(SMALL, batch);
  try {
    return Array.from({ length: steps }, () => run.step());
  } finally {
    run.dispose();
  }
}

test("the I-JEPA step: same losses as cpu, identical run to run, no leaks", async () => {
  const { cpu, native } = await onBoth(() => tf.tensor1d(ijepaLosses(6)));
  const c = cpu[0].values;
  const n = native[0].values;
  for (let i = 0; i < c.length; i++) {
    assert.ok(Math.abs(n[i] - c[i]) <= 1e-4 * Math.abs(c[i]), `step ${i}: ${n[i]} vs ${c[i]}`);
  }
  await tf.setBackend(NATIVE_BACKEND);
  resetNativeFallbacks();
  const again = ijepaLosses(6);
  assert.deepEqual(again, n, "native is not deterministic run to run");
  assert.deepEqual(nativeFallbacks(), {}, "the I-JEPA step handed kernels to cpu");
  // numTensors flat over steps.
  const run = makeIJepaStep(SMALL, 8);
  const counts: number[] = [];
  for (let i = 0; i < 5; i++) {
    run.step();
    counts.push(tf.memory().numTensors);
  }
  run.dispose();
  assert.ok(counts.every((k) => k === counts[0]), `numTensors over steps: ${counts}`);
});

test("a smoke I-JEPA pretraining run has the same loss curve on native and cpu", async () => {
  const dir = join(await Deno.makeTempDir(), "ds");
  await collectDataset(dir, {
    seed: 1,
    policy: "scripted",
    episodes: 2,
    shardFrames: 4096,
    env: CLEANRL_ATARI,
  });
  const ds = await openDataset(dir);
  const smoke = PRETRAIN_PRESETS.smoke;
  const cfg = {
    ...smoke,
    seed: 3,
    method: "ijepa" as const,
    encoder: { ...smoke.encoder, width: 16, depth: 1, heads: 2 },
    predictor: { ...smoke.predictor, width: 16 },
    train: {
      ...smoke.train,
      steps: 12,
      batchSize: 8,
      warmupSteps: 2,
      checkpointEvery: 100,
      monitorEvery: 1000,
      monitorFrames: 32,
    },
  };
  const curves: Record<string, number[]> = {};
  for (const backend of ["cpu", NATIVE_BACKEND]) {
    await tf.setBackend(backend);
    const losses: number[] = [];
    await pretrain(cfg, ds, { checkpointDir: await Deno.makeTempDir() }, {
      onStep: ({ values }) => losses.push(values.loss),
    });
    curves[backend] = losses;
  }
  assert.equal(curves.cpu.length, 12);
  curves.cpu.forEach((c, i) => {
    const n = curves[NATIVE_BACKEND][i];
    assert.ok(Math.abs(n - c) <= 1e-4 * Math.abs(c) + 1e-6, `step ${i}: native ${n} vs cpu ${c}`);
  });
});

test("results do not depend on the number of threads", async () => {
  const here = new URL(".", import.meta.url).href;
  const code = `
import * as tf from "@tensorflow/tfjs";
import { registerNativeBackend } from "${here}../../tensor/native/register.ts";
import { makeIJepaStep } from "${here}ijepa_bench.ts";
import { randomTensor } from "${here}../../tensor/native/testing.ts";
registerNativeBackend();
await tf.setBackend("native");
const x = randomTensor("t", [1100, 517]);
const w = randomTensor("w", [517, 300]);
const out = {
  sum: Array.from(tf.sum(x, 0).dataSync()),
  total: tf.sum(x).dataSync()[0],
  mm: Array.from(tf.matMul(x, w).dataSync().slice(0, 2000)),
  mmT: Array.from(tf.matMul(x, x, true, false).dataSync().slice(0, 2000)),
  softmax: Array.from(tf.softmax(x).dataSync().slice(0, 2000)),
  conv: (() => {
    // 17 blocks of images: the filter gradient sums 16 groups.
    const img = randomTensor("img", [34, 44, 44, 8]) as tf.Tensor4D;
    const f = randomTensor("f", [8, 8, 8, 4]) as tf.Tensor4D;
    const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 4, "valid")))
    )([img, f]);
    return [
      Array.from(tf.conv2d(img, f, 4, "valid").dataSync().slice(0, 2000)),
      Array.from(df.dataSync()),
      Array.from(dx.dataSync().slice(0, 2000)),
    ];
  })(),
  losses: (() => {
    const run = makeIJepaStep(${JSON.stringify(SMALL)}, 8);
    return [run.step(), run.step(), run.step()];
  })(),
};
console.log("RESULT " + JSON.stringify(out));
`;
  const results = [];
  for (const threads of ["1", "2", "3"]) {
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--ext=ts",
        "--config",
        fileURLToPath(new URL("../../../deno.json", import.meta.url)),
        code,
      ],
      env: { JEPA_NATIVE_THREADS: threads, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(r.stdout);
    const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
    assert.ok(r.success && line, new TextDecoder().decode(r.stderr));
    results.push(JSON.parse(line.slice(7)));
  }
  assert.deepEqual(results[1], results[0], "2 threads vs 1");
  assert.deepEqual(results[2], results[0], "3 threads vs 1");
});
