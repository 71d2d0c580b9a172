/**
 * Every native kernel against the stock cpu kernel on seeded random inputs: odd sizes,
 * broadcasting, every transpose flag, empty and size-1 dims, sizes large enough for the thread
 * pool, and special values.
 */

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  NATIVE_BACKEND,
  NATIVE_KERNEL_NAMES,
  nativeFallbacks,
  resetNativeFallbacks,
} from "./register.ts";
import { setSmallGemmMode } from "./matmul.ts";
import { clearPool, poolStats } from "./pool.ts";
import { compare, nativeSkipReason, randomTensor, randomValues } from "./testing.ts";

const ignore = nativeSkipReason !== undefined;
if (ignore) console.warn(`native backend tests skipped: ${nativeSkipReason}`);

/** A test whose float32 work must all run natively (no kernel handed to cpu), unless `allow`. */
function test(name: string, fn: () => Promise<void> | void, allow: string[] = []) {
  Deno.test({
    name: `native: ${name}`,
    ignore,
    async fn() {
      resetNativeFallbacks();
      await fn();
      const fell = Object.keys(nativeFallbacks()).filter((k) => !allow.includes(k));
      assert.deepEqual(fell, [], `kernels fell back to cpu: ${fell.join(", ")}`);
    },
  });
}

/** Shape pairs that broadcast, from trivial to awkward. */
const BROADCAST_PAIRS: [number[], number[]][] = [
  [[3, 5], [3, 5]],
  [[3, 5], [5]],
  [[5], [3, 5]],
  [[3, 1], [1, 5]],
  [[2, 3, 4], [3, 1]],
  [[1], [7]],
  [[], [4, 3]],
  [[4, 3], []],
  [[0, 3], [3]],
  [[2, 0, 3], [1, 3]],
  [[2, 1, 4, 1], [3, 1, 5]],
  [[5, 7, 3], [5, 1, 3]],
  [[1, 1, 1], [1, 1]],
  [[257, 131], [131]], // above the thread pool's grain
  [[100003], [100003]],
  [[64, 29, 96], [64, 29, 1]],
  [[2, 3, 2, 3, 2, 3, 2, 3, 2], [3, 2, 3, 2, 3, 2, 3, 2]], // rank 9 merges to 2
  [[2, 3, 2, 3, 2, 3, 2], [3, 1, 3, 1, 3, 1]], // rank 7 stays 7
];

test("every native kernel name is a registered kernel", () => {
  const registered = new Set(tf.getKernelsForBackend(NATIVE_BACKEND).map((k) => k.kernelName));
  for (const name of NATIVE_KERNEL_NAMES) assert.ok(registered.has(name), name);
  // Every cpu kernel exists on native too (the fallbacks).
  for (const k of tf.getKernelsForBackend("cpu")) assert.ok(registered.has(k.kernelName));
});

test("binary ops with broadcasting", async () => {
  const ops: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
    ["add", tf.add],
    ["sub", tf.sub],
    ["mul", tf.mul],
    ["div", tf.div],
    ["maximum", tf.maximum],
    ["minimum", tf.minimum],
    ["squaredDifference", tf.squaredDifference],
  ];
  for (const [aShape, bShape] of BROADCAST_PAIRS) {
    for (const [name, op] of ops) {
      await compare(`${name} ${JSON.stringify([aShape, bShape])}`, () => {
        const a = randomTensor(`a${aShape}`, aShape);
        // Keep divisors away from 0, so relative error stays meaningful.
        const b = name === "div"
          ? randomTensor(`b${bShape}`, bShape, 0.5, 2)
          : randomTensor(`b${bShape}`, bShape);
        return op(a, b);
      });
    }
  }
});

test("pow: general exponents and the scalar fast paths", async () => {
  for (const [aShape, bShape] of BROADCAST_PAIRS.slice(0, 12)) {
    await compare(
      `pow ${JSON.stringify([aShape, bShape])}`,
      () =>
        tf.pow(
          randomTensor(`a${aShape}`, aShape, 0.1, 3),
          randomTensor(`b${bShape}`, bShape, -2, 3),
        ),
    );
  }
  for (const e of [0, 1, 2, 3, 0.5, 1.5, -0.5, -1, 2.7, -3, NaN]) {
    await compare(`pow(x, ${e})`, () => tf.pow(randomTensor("x", [33, 17], 0.1, 3), e), {
      rtol: 3e-6,
    });
    await compare(`pow(x<0, ${e})`, () => tf.pow(randomTensor("x", [33], -3, -0.1), e), {
      rtol: 3e-6,
    });
  }
});

test("comparisons into bool", async () => {
  const ops = [tf.less, tf.lessEqual, tf.greater, tf.greaterEqual, tf.equal, tf.notEqual];
  for (const [aShape, bShape] of BROADCAST_PAIRS) {
    for (const op of ops) {
      await compare(`${op.name} ${JSON.stringify([aShape, bShape])}`, () => {
        // Rounded values so that equality happens.
        const a = tf.round(tf.mul(randomTensor(`a${aShape}`, aShape), 3));
        const b = tf.round(tf.mul(randomTensor(`b${bShape}`, bShape), 3));
        return op(a, b);
      });
    }
  }
});

/** Inputs for unary ops: a spread of values plus the special ones. */
function unaryInput(lo: number, hi: number, n = 4099): tf.Tensor {
  const special = [0, -0, 1, -1, 1e-30, -1e-30, 1e-40, 80, -80, 89, -89, 100, -100, 0.6, -0.6];
  const values = Float32Array.from([
    ...special.filter((v) => v >= lo && v <= hi),
    ...randomValues(`u${lo},${hi}`, n, lo, hi),
  ]);
  return tf.tensor1d(values);
}

test("unary ops, over their domains and special values", async () => {
  const cases: [string, (x: tf.Tensor) => tf.Tensor, number, number, number?, number?][] = [
    ["neg", tf.neg, -1e3, 1e3],
    ["abs", tf.abs, -1e3, 1e3],
    ["exp", tf.exp, -100, 89],
    ["log", tf.log, 1e-38, 1e30],
    ["sqrt", tf.sqrt, 0, 1e6],
    ["rsqrt", tf.rsqrt, 1e-6, 1e6],
    ["square", tf.square, -1e3, 1e3],
    ["tanh", tf.tanh, -20, 20, 2e-6],
    ["sigmoid", tf.sigmoid, -100, 100, 2e-6],
    // tfjs' erf formula (A&S 7.1.26) is good to 1.5e-7 absolute; in float32 near 0 it loses
    // a few more bits to cancellation.
    ["erf", tf.erf, -6, 6, 2e-6, 5e-7],
    ["relu", tf.relu, -5, 5],
    ["relu6", tf.relu6, -5, 10],
    ["elu", tf.elu, -20, 5, 2e-6],
    ["selu", tf.selu, -20, 5, 2e-6],
    ["leakyRelu", (x) => tf.leakyRelu(x, 0.13), -5, 5],
    ["step", (x) => tf.step(x, 0.25), -5, 5],
    ["reciprocal", tf.reciprocal, 0.01, 100],
    ["log1p", tf.log1p, -0.99, 100],
    ["expm1", tf.expm1, -20, 20],
    ["softplus", tf.softplus, -30, 30, 2e-6],
    ["sign", tf.sign, -3, 3],
    ["floor", tf.floor, -30, 30],
    ["ceil", tf.ceil, -30, 30],
    ["sin", tf.sin, -10, 10],
    ["cos", tf.cos, -10, 10],
    ["clipByValue", (x) => tf.clipByValue(x, -0.5, 0.75), -3, 3],
  ];
  for (const [name, op, lo, hi, rtol, atol] of cases) {
    await compare(`${name} [${lo}, ${hi}]`, () => op(unaryInput(lo, hi)), {
      rtol: rtol ?? 1e-6,
      atol: atol ?? 1e-7,
    });
  }
  // Out-of-domain inputs, infinities and NaN.
  const special = () => tf.tensor1d([NaN, Infinity, -Infinity, -1, 0, -0, 3]);
  for (
    const [name, op] of [
      ["exp", tf.exp],
      ["log", tf.log],
      ["tanh", tf.tanh],
      ["sigmoid", tf.sigmoid],
      ["erf", tf.erf],
      ["sqrt", tf.sqrt],
      ["abs", tf.abs],
      ["relu", tf.relu],
      ["elu", tf.elu],
      ["step", tf.step],
    ] as [string, (x: tf.Tensor) => tf.Tensor][]
  ) {
    await compare(`${name} of specials`, () => op(special()));
  }
  // Odd lengths around the vector width, empty and size-1 tensors.
  for (const n of [0, 1, 7, 8, 9, 15, 17, 40001]) {
    await compare(`exp/tanh/log n=${n}`, () => {
      const x = randomTensor(`n${n}`, [n], 0.01, 4);
      return [tf.exp(x), tf.tanh(x), tf.log(x), tf.erf(x)];
    }, { rtol: 2e-6, atol: 5e-7 });
  }
  await compare("unary keeps shape", () => tf.exp(randomTensor("s", [2, 1, 3, 0])));
});

test("reductions over every axis pattern", async () => {
  const shapes = [[2, 3, 4, 5], [1, 7, 1, 3], [6, 1], [4099], [33, 257], [3, 0, 2]];
  const ops: [string, (x: tf.Tensor, axis?: number | number[], keep?: boolean) => tf.Tensor][] = [
    ["sum", tf.sum],
    ["mean", tf.mean],
    ["max", tf.max],
    ["min", tf.min],
    ["prod", tf.prod],
  ];
  for (const shape of shapes) {
    const rank = shape.length;
    const axesList: (number | number[] | undefined)[] = [undefined, -1, 0];
    if (rank >= 2) axesList.push(1, [0, 1]);
    if (rank >= 3) axesList.push([0, 2], [1, 2]);
    if (rank >= 4) axesList.push([1, 3], [0, 2, 3], [0, 1, 2, 3]);
    for (const [name, op] of ops) {
      for (const axis of axesList) {
        for (const keep of [false, true]) {
          const empty = shape.includes(0);
          if (empty && (name === "max" || name === "min")) continue;
          await compare(`${name} [${shape}] axis ${JSON.stringify(axis)} keep ${keep}`, () => {
            const lo = name === "prod" ? 0.8 : -1;
            const hi = name === "prod" ? 1.25 : 1;
            return op(randomTensor(`r${shape}`, shape, lo, hi), axis, keep);
          }, { rtol: 1e-5, atol: 1e-5 });
        }
      }
    }
  }
  await compare("max with NaN", () => tf.max(tf.tensor2d([[1, NaN, 3], [4, 5, 6]]), 1));
  await compare("max axis 0 with NaN", () => tf.max(tf.tensor2d([[1, NaN, 3], [4, 5, 6]]), 0));
});

test("softmax rows of every length", async () => {
  for (const shape of [[1, 1], [3, 7], [4, 5, 33], [2, 0], [64, 3, 29, 29], [5, 1024]]) {
    await compare(
      `softmax [${shape}]`,
      () => tf.softmax(randomTensor(`s${shape}`, shape, -20, 20)),
      {
        rtol: 1e-5,
        atol: 1e-7,
      },
    );
  }
  await compare("softmax of large logits", () => tf.softmax(tf.tensor2d([[1000, 1001, 999]])));
});

test("transpose of ranks 1 to 6, float32 and int32", async () => {
  const cases: [number[], number[]][] = [
    [[7], [0]],
    [[3, 5], [1, 0]],
    [[64, 49], [1, 0]],
    [[300, 257], [1, 0]],
    [[2, 3, 4], [2, 0, 1]],
    [[2, 3, 4], [1, 0, 2]],
    [[4, 29, 3, 32], [0, 2, 1, 3]],
    [[64, 25, 3, 64], [0, 2, 1, 3]],
    [[2, 1, 3, 1], [3, 2, 1, 0]],
    [[3, 4, 5, 6, 7], [4, 2, 0, 3, 1]],
    [[2, 7, 12, 7, 12, 4], [0, 1, 3, 2, 4, 5]],
    [[2, 3, 2, 3, 2, 3], [5, 4, 3, 2, 1, 0]],
    [[0, 3, 2], [2, 0, 1]],
    [[9, 33, 17], [2, 1, 0]],
  ];
  for (const [shape, perm] of cases) {
    await compare(`transpose [${shape}] by [${perm}]`, () => {
      const x = randomTensor(`t${shape}`, shape);
      return [tf.transpose(x, perm), tf.transpose(tf.cast(tf.mul(x, 100), "int32"), perm)];
    }, { atol: 0, rtol: 0 });
  }
});

test("slice, concat, split and pad", async () => {
  await compare("slice", () => {
    const x = randomTensor("sl", [5, 29, 7]);
    return [
      tf.slice(x, [0, 25, 0], [-1, 4, -1]),
      tf.slice(x, [1, 0, 2], [3, 29, 4]),
      tf.slice(x, 2),
      tf.slice(x, [4, 28, 6], [1, 1, 1]),
      tf.slice(x, [0, 3, 0], [5, 0, 7]),
      tf.slice(tf.cast(tf.mul(x, 50), "int32"), [1, 2, 3], [2, 3, 4]),
    ];
  }, { atol: 0, rtol: 0 });
  await compare("concat", () => {
    const a = randomTensor("ca", [4, 25, 6]);
    const b = randomTensor("cb", [4, 4, 6]);
    const c = randomTensor("cc", [4, 0, 6]);
    return [
      tf.concat([a, b, c], 1),
      tf.concat([a, a, a], 0),
      tf.concat([a, randomTensor("cd", [4, 25, 3])], -1),
      tf.concat([tf.cast(a, "int32"), tf.cast(a, "int32")], 2),
      tf.concat([tf.scalar(1).reshape([1]), tf.tensor1d([2, 3])]),
    ];
  }, { atol: 0, rtol: 0 });
  await compare("split", () => {
    const x = randomTensor("sp", [6, 10, 3]);
    return [...tf.split(x, [3, 4, 3], 1), ...tf.split(x, 2, 0), ...tf.split(x, [1, -1], 2)];
  }, { atol: 0, rtol: 0 });
  await compare("pad", () => {
    const x = randomTensor("pd", [3, 4, 5]);
    return [
      tf.pad(x, [[1, 2], [0, 0], [3, 1]]),
      tf.pad(x, [[0, 0], [2, 2], [0, 0]], 1.5),
      tf.pad(randomTensor("pe", [0, 2]), [[1, 1], [1, 0]], -2),
    ];
  }, { atol: 0, rtol: 0 });
});

test("gather and unsorted segment sum", async () => {
  await compare("gather", () => {
    const x = randomTensor("g", [7, 5, 3]);
    const idx = tf.tensor1d([6, 0, 0, 3, 2], "int32");
    const idx2 = tf.tensor2d([[1, 4], [0, 0], [2, 3]], [3, 2], "int32");
    return [
      tf.gather(x, idx),
      tf.gather(x, tf.tensor1d([4, 0, 0, 3, 2], "int32"), 1),
      tf.gather(x, tf.tensor1d([2, 1], "int32"), 2),
      tf.gather(x, idx2, 1),
      tf.gather(tf.cast(tf.mul(x, 10), "int32"), idx),
      tf.gather(x, tf.tensor1d([], "int32")),
    ];
  }, { atol: 0, rtol: 0 });
  await assert.rejects(
    compare("gather out of range", () => tf.gather(tf.ones([3, 2]), tf.tensor1d([3], "int32"))),
    /index value 3 is not in \[0, 2\]/,
  );
  await compare("unsortedSegmentSum", () => {
    const x = randomTensor("us", [9, 4, 3]);
    return [
      tf.unsortedSegmentSum(x, tf.tensor1d([0, 2, 2, 1, 0, 4, 4, 4, 1], "int32"), 6),
      tf.unsortedSegmentSum(randomTensor("u1", [5]), tf.tensor1d([1, 1, 0, 1, 0], "int32"), 2),
    ];
  });
});

test("addN sums in order", async () => {
  await compare(
    "addN",
    () =>
      tf.addN([
        randomTensor("n1", [3, 50]),
        randomTensor("n2", [3, 50]),
        randomTensor("n3", [3, 50]),
      ]),
  );
});

/** Shapes `op(a) @ op(b)` for tf.matMul with the given flags. */
function matShapes(m: number, n: number, k: number, ta: boolean, tb: boolean, batch: number[]) {
  return {
    a: [...batch, ...(ta ? [k, m] : [m, k])],
    b: [...batch, ...(tb ? [n, k] : [k, n])],
  };
}

test("matMul: every transpose flag, batched, broadcast, small and empty", async () => {
  const dims: [number, number, number][] = [
    [33, 29, 47],
    [1, 1, 1],
    [1, 17, 5],
    [64, 192, 96],
    [7, 3, 0],
    [0, 4, 5],
  ];
  // Batched small products have two implementations: check both, and the automatic choice.
  for (const mode of [undefined, 0, 1] as const) {
    setSmallGemmMode(mode);
    for (const [m, n, k] of dims) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          for (const batch of [[], [3], [2, 3]]) {
            const { a, b } = matShapes(m, n, k, ta, tb, batch);
            await compare(
              `matMul ${m}x${n}x${k} ta=${ta} tb=${tb} batch [${batch}] mode ${mode}`,
              () => tf.matMul(randomTensor(`a${a}`, a), randomTensor(`b${b}`, b), ta, tb),
              { atol: 1e-5, rtol: 1e-4 },
            );
          }
        }
      }
    }
  }
  setSmallGemmMode(undefined);
  // Broadcast batch: a batched against a plain matrix (a linear layer on rank 3), and back.
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
    await compare(`matMul broadcast ta=${ta} tb=${tb}`, () => {
      const a1 = randomTensor("ba", ta ? [4, 9, 6] : [4, 6, 9]);
      const b1 = randomTensor("bb", tb ? [5, 9] : [9, 5]);
      const a2 = randomTensor("bc", ta ? [9, 6] : [6, 9]);
      const b2 = randomTensor("bd", tb ? [4, 5, 9] : [4, 9, 5]);
      return [tf.matMul(a1, b1, ta, tb), tf.matMul(a2, b2, ta, tb)];
    }, { atol: 1e-5, rtol: 1e-4 });
  }
  // Attention-sized: many small products split over threads.
  for (const mode of [0, 1] as const) {
    setSmallGemmMode(mode);
    await compare(`matMul attention-sized, mode ${mode}`, () => {
      const q = randomTensor("q", [64, 3, 29, 64]);
      const k = randomTensor("k", [64, 3, 29, 64]);
      const p = randomTensor("p", [64, 3, 29, 29]);
      return [
        tf.matMul(q, k, false, true),
        tf.matMul(q, k, true, false),
        tf.matMul(p, q),
        tf.matMul(p, q, true, false),
      ];
    }, { atol: 1e-5, rtol: 1e-4 });
  }
  setSmallGemmMode(undefined);
  // Weight-gradient shapes, x^T @ dy over many rows: split along K, partials added in order.
  for (const [rows, m, n] of [[3000, 96, 130], [2049, 200, 64], [1100, 517, 33]]) {
    for (const [ta, tb] of [[true, false], [false, true], [true, true]]) {
      await compare(`matMul split along K ${rows} ${m}x${n} ta=${ta} tb=${tb}`, () => {
        const a = randomTensor(`ka${rows}${m}`, ta ? [rows, m] : [m, rows]);
        const b = randomTensor(`kb${rows}${n}`, tb ? [n, rows] : [rows, n]);
        return tf.matMul(a, b, ta, tb);
      }, { atol: 1e-4, rtol: 1e-4 });
    }
  }
});

test("fused matMul: bias and every activation", async () => {
  const activations = ["linear", "relu", "relu6", "elu", "sigmoid", "leakyrelu", "prelu"] as const;
  for (const activation of activations) {
    for (const [ta, tb] of [[false, false], [true, true]]) {
      await compare(`fused matMul ${activation} ta=${ta} tb=${tb}`, () => {
        const a = randomTensor("fa", ta ? [13, 11] : [11, 13], -2, 2);
        const b = randomTensor("fb", tb ? [9, 13] : [13, 9], -2, 2);
        const bias = randomTensor("fbias", [9]);
        return [
          tf.fused.matMul({
            a,
            b,
            transposeA: ta,
            transposeB: tb,
            bias,
            activation,
            preluActivationWeights: activation === "prelu" ? randomTensor("pw", [9]) : undefined,
            leakyreluAlpha: 0.3,
          }),
          tf.fused.matMul({ a, b, transposeA: ta, transposeB: tb, activation: "relu" }),
          tf.fused.matMul({
            a,
            b,
            transposeA: ta,
            transposeB: tb,
            bias: tf.scalar(0.5),
            activation,
            preluActivationWeights: activation === "prelu" ? tf.scalar(0.1) : undefined,
          }),
        ];
      }, { atol: 1e-5, rtol: 1e-4 });
    }
  }
});

test("fused matMul: a bias in every product path", async () => {
  // [a, b, bias]: batched small products, rows and columns split over the pool, a split along
  // K, an empty K, and a bias that is not one value per column.
  const cases: [number[], number[], number[]][] = [
    [[4, 5, 7], [4, 7, 6], [6]],
    [[3, 300, 64], [64, 96], [1, 96]],
    [[100, 128], [128, 1200], [1200]],
    [[64, 2048], [2048, 96], [96]],
    [[3, 0], [0, 5], [5]],
    [[11, 13], [13, 9], [11, 1]],
  ];
  for (const [aShape, bShape, biasShape] of cases) {
    await compare(`fused matMul ${aShape} @ ${bShape} + ${biasShape}`, () =>
      tf.fused.matMul({
        a: randomTensor(`ba${aShape}`, aShape),
        b: randomTensor(`bb${bShape}`, bShape),
        bias: randomTensor(`bbias${biasShape}`, biasShape),
      }), { atol: 1e-4, rtol: 1e-4 });
  }
});

test("conv2d and both of its gradients", async () => {
  const cases: {
    x: [number, number, number, number];
    f: [number, number, number, number];
    stride: number | [number, number];
    pad: "valid" | "same" | number;
    dilation?: number;
  }[] = [
    { x: [2, 84, 84, 4], f: [8, 8, 4, 8], stride: 4, pad: "valid" },
    // 17 blocks of two images: the filter gradient's 16 groups are uneven.
    { x: [34, 44, 44, 8], f: [8, 8, 8, 4], stride: 4, pad: "valid" },
    { x: [3, 9, 11, 3], f: [3, 3, 3, 5], stride: 1, pad: "same" },
    { x: [1, 10, 7, 2], f: [3, 2, 2, 4], stride: [2, 1], pad: "same" },
    { x: [2, 8, 8, 3], f: [3, 3, 3, 2], stride: 1, pad: 1 },
    { x: [2, 9, 9, 3], f: [3, 3, 3, 2], stride: 1, pad: "valid", dilation: 2 },
    { x: [4, 5, 6, 7], f: [1, 1, 7, 3], stride: 1, pad: "valid" },
    { x: [1, 1, 1, 1], f: [1, 1, 1, 1], stride: 1, pad: "same" },
  ];
  for (const c of cases) {
    const label = JSON.stringify(c);
    await compare(`conv2d ${label}`, () => {
      const x = randomTensor(`x${label}`, c.x);
      const f = randomTensor(`f${label}`, c.f);
      return tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.stride, c.pad, "NHWC", c.dilation);
    }, { atol: 1e-5, rtol: 1e-4 });
    if (c.dilation) continue; // tfjs has no conv2d gradient for dilation > 1
    await compare(`conv2d gradients ${label}`, () => {
      const x = randomTensor(`x${label}`, c.x) as tf.Tensor4D;
      const f = randomTensor(`f${label}`, c.f) as tf.Tensor4D;
      const w = randomTensor(`w${label}`, tf.conv2d(x, f, c.stride, c.pad).shape);
      const loss = (xx: tf.Tensor, ff: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, c.stride, c.pad), w));
      return tf.grads(loss)([x, f]);
    }, { atol: 1e-4, rtol: 1e-4 });
  }
});

test("a kernel given inputs it does not handle falls back to the cpu kernel", async () => {
  // Broadcasting that stays above the C kernels' rank 8 after merging dims.
  await compare("add of rank 9", () =>
    tf.add(
      randomTensor("r9a", [2, 3, 2, 3, 2, 3, 2, 3, 2]),
      randomTensor("r9b", [3, 1, 3, 1, 3, 1, 3, 1]),
    ));
  await compare("int32 arithmetic", () => {
    const a = tf.tensor1d([1, 2, 3], "int32");
    const b = tf.tensor1d([4, 5, 6], "int32");
    return [
      tf.add(a, b),
      tf.mul(a, b),
      tf.sum(a),
      tf.max(a),
      tf.neg(a),
      tf.matMul(
        tf.tensor2d([[1, 2]], [1, 2], "int32"),
        tf.tensor2d([[3], [4]], [2, 1], "int32"),
      ),
    ];
  }, { atol: 0, rtol: 0 });
  assert.deepEqual(Object.keys(nativeFallbacks()).sort(), [
    "Add",
    "BatchMatMul",
    "Max",
    "Multiply",
    "Neg",
    "Sum",
  ]);
  await compare("bool and NCHW", () => [
    tf.logicalAnd(tf.tensor1d([1, 0], "bool"), tf.tensor1d([1, 1], "bool")),
    tf.conv2d(
      randomTensor("nchw", [1, 2, 5, 5]) as tf.Tensor4D,
      randomTensor("nchwf", [3, 3, 2, 2]) as tf.Tensor4D,
      1,
      "same",
      "NCHW",
    ),
  ]);
}, ["Add", "BatchMatMul", "Conv2D", "Max", "Multiply", "Neg", "Sum"]);

test(
  "recycled output arrays never overwrite values read out or viewed by cpu kernels",
  async () => {
    await tf.setBackend(NATIVE_BACKEND);
    clearPool();
    const n = 1 << 14;
    const a = tf.exp(randomTensor("p1", [n]));
    const read = a.dataSync();
    const copy = Float32Array.from(read);
    a.dispose(); // its array was read out: must not come back from the pool
    const b = tf.exp(randomTensor("p2", [n])); // same size: would reuse a's array
    assert.deepEqual(read, copy);
    // A stock cpu kernel (StridedSlice) may return a view of its input.
    const c = tf.exp(randomTensor("p3", [n]));
    const view = tf.stridedSlice(c, [0], [n / 2], [1]);
    const viewCopy = Float32Array.from(view.dataSync());
    c.dispose();
    const d = tf.exp(randomTensor("p4", [n]));
    assert.deepEqual(view.dataSync(), viewCopy);
    // Private intermediates do come back.
    const before = poolStats().reused;
    for (let i = 0; i < 3; i++) tf.tidy(() => tf.tanh(tf.exp(randomTensor("p5", [n]))));
    assert.ok(poolStats().reused > before, JSON.stringify(poolStats()));
    tf.dispose([b, view, d]);
  },
  ["StridedSlice"],
);
