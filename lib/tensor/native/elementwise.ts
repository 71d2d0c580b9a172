/**
 * Element-wise kernels: binary ops with numpy broadcasting, comparisons into bool, and unary
 * ops, on float32 tensors (other dtypes go to the cpu kernels).
 *
 * @module
 */

import type * as tf from "@tensorflow/tfjs";
import type { NativeLibs } from "./ffi.ts";
import { alloc } from "./pool.ts";
import {
  broadcastShape,
  broadcastStrides,
  collapse,
  f32,
  MAX_RANK,
  type NativeKernel,
  sizeOf,
} from "./util.ts";

/** Binary op codes of kernels.c (`B_*`). */
export const BINARY_OPS = {
  Add: 0,
  Sub: 1,
  Multiply: 2,
  RealDiv: 3,
  Maximum: 4,
  Minimum: 5,
  SquaredDifference: 6,
  Pow: 7,
} as const;

/** Comparison op codes of kernels.c (`C_*`). */
export const COMPARE_OPS = {
  Less: 0,
  LessEqual: 1,
  Greater: 2,
  GreaterEqual: 3,
  Equal: 4,
  NotEqual: 5,
} as const;

/** Unary op codes of kernels.c (`U_*`). */
export const UNARY = {
  neg: 0,
  abs: 1,
  exp: 2,
  log: 3,
  sqrt: 4,
  rsqrt: 5,
  square: 6,
  tanh: 7,
  sigmoid: 8,
  erf: 9,
  relu: 10,
  relu6: 11,
  elu: 12,
  leakyRelu: 13,
  step: 14,
  reciprocal: 15,
  log1p: 16,
  softplus: 17,
  sign: 18,
  floor: 19,
  ceil: 20,
  cube: 21,
  pow15: 22,
  copy: 23,
  selu: 24,
  expm1: 25,
  sin: 26,
  cos: 27,
  clip: 28,
  fill: 29,
  affine: 30,
  powScalar: 31,
} as const;

/** tfjs unary kernels served by one `U_*` op (attrs read where the op takes a parameter). */
const UNARY_KERNELS: Record<string, keyof typeof UNARY> = {
  Neg: "neg",
  Abs: "abs",
  Exp: "exp",
  Log: "log",
  Sqrt: "sqrt",
  Rsqrt: "rsqrt",
  Square: "square",
  Tanh: "tanh",
  Sigmoid: "sigmoid",
  Erf: "erf",
  Relu: "relu",
  Relu6: "relu6",
  Elu: "elu",
  Selu: "selu",
  LeakyRelu: "leakyRelu",
  Step: "step",
  Reciprocal: "reciprocal",
  Log1p: "log1p",
  Expm1: "expm1",
  Softplus: "softplus",
  Sign: "sign",
  Floor: "floor",
  Ceil: "ceil",
  Sin: "sin",
  Cos: "cos",
  ClipByValue: "clip",
};

/** Runs unary op `op` over `x` into a new Float32Array (or into `out`). */
export function unaryValues(
  libs: NativeLibs,
  op: number,
  x: Float32Array,
  alpha = 0,
  beta = 0,
  out = alloc(x.length),
): Float32Array {
  if (x.length > 0) libs.k.nk_unary(op, x.length, x, out, alpha, beta);
  return out;
}

function unaryKernel(kernelName: string, op: keyof typeof UNARY): NativeKernel {
  return ({ inputs, backend, attrs }, libs) => {
    const x = inputs.x as tf.TensorInfo;
    const values = f32(backend, x);
    if (!values) return undefined;
    let alpha = 0;
    let beta = 0;
    if (kernelName === "LeakyRelu" || kernelName === "Step") alpha = Number(attrs?.alpha ?? 0);
    if (kernelName === "ClipByValue") {
      alpha = Number(attrs?.clipValueMin);
      beta = Number(attrs?.clipValueMax);
    }
    const out = unaryValues(libs, UNARY[op], values, alpha, beta);
    return backend.makeTensorInfo(x.shape.slice(), "float32", out);
  };
}

/** Operands broadcast to a common shape, collapsed for the C kernel. */
interface Broadcast {
  outShape: number[];
  shape: Int32Array;
  aStrides: Int32Array;
  bStrides: Int32Array;
}

/** Plans by operand shapes: a step repeats the same few hundred shape pairs. */
const plans = new Map<string, Broadcast | null>();

function broadcast(a: { shape: number[] }, b: { shape: number[] }): Broadcast | undefined {
  const key = `${a.shape}|${b.shape}`;
  let plan = plans.get(key);
  if (plan === undefined) {
    if (plans.size > 4096) plans.clear();
    plan = makePlan(a.shape, b.shape);
    plans.set(key, plan);
  }
  return plan ?? undefined;
}

function makePlan(aShape: number[], bShape: number[]): Broadcast | null {
  const outShape = broadcastShape(aShape, bShape);
  if (!outShape) return null;
  const c = collapse(outShape, [
    broadcastStrides(aShape, outShape),
    broadcastStrides(bShape, outShape),
  ]);
  if (c.shape.length > MAX_RANK) return null;
  return {
    outShape,
    shape: Int32Array.from(c.shape),
    aStrides: Int32Array.from(c.strides[0]),
    bStrides: Int32Array.from(c.strides[1]),
  };
}

/** `a op b` with broadcasting into a new Float32Array of the broadcast shape. */
export function binaryValues(
  libs: NativeLibs,
  op: number,
  a: { shape: number[]; values: Float32Array },
  b: { shape: number[]; values: Float32Array },
  out?: Float32Array,
): { shape: number[]; values: Float32Array } | undefined {
  const bc = broadcast(a, b);
  if (!bc) return undefined;
  const values = out ?? alloc(sizeOf(bc.outShape));
  if (values.length > 0) {
    libs.k.nk_binary(
      op,
      bc.shape.length,
      bc.shape,
      a.values,
      bc.aStrides,
      b.values,
      bc.bStrides,
      values,
    );
  }
  return { shape: bc.outShape.slice(), values };
}

/** A scalar exponent with a cheaper exact-enough form: x^2 = x*x, x^0.5 = sqrt(x), ... */
const POW_SPECIAL: Record<number, number> = {
  1: UNARY.copy,
  2: UNARY.square,
  3: UNARY.cube,
  0.5: UNARY.sqrt,
  1.5: UNARY.pow15,
  [-0.5]: UNARY.rsqrt,
  [-1]: UNARY.reciprocal,
};

/**
 * A kernel of two float32 inputs `a` and `b` (it declines other dtypes): `run` gets each input
 * with its values.
 */
function floatPairKernel(
  run: (
    a: tf.TensorInfo,
    av: Float32Array,
    b: tf.TensorInfo,
    bv: Float32Array,
    backend: Parameters<NativeKernel>[0]["backend"],
    libs: NativeLibs,
  ) => tf.TensorInfo | undefined,
): NativeKernel {
  return ({ inputs, backend }, libs) => {
    const a = inputs.a as tf.TensorInfo;
    const b = inputs.b as tf.TensorInfo;
    const av = f32(backend, a);
    const bv = f32(backend, b);
    return av && bv ? run(a, av, b, bv, backend, libs) : undefined;
  };
}

function binaryKernel(kernelName: keyof typeof BINARY_OPS): NativeKernel {
  const op = BINARY_OPS[kernelName];
  return floatPairKernel((a, av, b, bv, backend, libs) => {
    if (kernelName === "Pow" && bv.length === 1 && b.shape.length <= a.shape.length) {
      const special = POW_SPECIAL[bv[0]];
      const out = special === undefined
        ? unaryValues(libs, UNARY.powScalar, av, bv[0], bv[0])
        : unaryValues(libs, special, av);
      return backend.makeTensorInfo(a.shape.slice(), "float32", out);
    }
    const r = binaryValues(libs, op, { shape: a.shape, values: av }, {
      shape: b.shape,
      values: bv,
    });
    if (!r) return undefined;
    return backend.makeTensorInfo(r.shape, "float32", r.values);
  });
}

function compareKernel(kernelName: keyof typeof COMPARE_OPS): NativeKernel {
  const op = COMPARE_OPS[kernelName];
  return floatPairKernel((a, av, b, bv, backend, libs) => {
    const bc = broadcast(a, b);
    if (!bc) return undefined;
    const out = new Uint8Array(sizeOf(bc.outShape));
    if (out.length > 0) {
      libs.k.nk_compare(op, bc.shape.length, bc.shape, av, bc.aStrides, bv, bc.bStrides, out);
    }
    return backend.makeTensorInfo(bc.outShape.slice(), "bool", out);
  });
}

/** AddN: a running sum in place, in input order (float32, equal shapes). */
const addN: NativeKernel = ({ inputs, backend }, libs) => {
  const list = Object.values(inputs) as tf.TensorInfo[];
  if (list.length === 0) return undefined;
  const shape = list[0].shape;
  const arrays: Float32Array[] = [];
  for (const t of list) {
    const v = f32(backend, t);
    if (!v || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      return undefined;
    }
    arrays.push(v);
  }
  const out = alloc(arrays[0].length);
  out.set(arrays[0]);
  const flat = Int32Array.of(out.length);
  const one = Int32Array.of(1);
  for (let i = 1; i < arrays.length && out.length > 0; i++) {
    libs.k.nk_binary(BINARY_OPS.Add, 1, flat, out, one, arrays[i], one, out);
  }
  return backend.makeTensorInfo(shape.slice(), "float32", out);
};

/**
 * Cast between float32, int32 and bool, always into fresh storage of the target type: the cpu
 * kernel shares the bool / int32 storage when casting up to float32, which every later float
 * kernel would then have to convert again. Conversions follow the cpu kernel's: typed-array
 * conversion to int32 (truncation, NaN to 0), `!= 0` to bool.
 */
const cast: NativeKernel = ({ inputs, backend, attrs }) => {
  const x = inputs.x as tf.TensorInfo;
  const dtype = attrs?.dtype as tf.DataType;
  if (dtype === x.dtype) {
    // A no-op cast (tfjs' ops cast to float32 defensively): share the data, as cpu does.
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype };
  }
  const values = backend.data.get(x.dataId).values;
  if (
    !(values instanceof Float32Array || values instanceof Int32Array ||
      values instanceof Uint8Array) || !["float32", "int32", "bool"].includes(x.dtype)
  ) {
    return undefined;
  }
  let out: Float32Array | Int32Array | Uint8Array;
  if (dtype === "float32") (out = alloc(values.length)).set(values);
  else if (dtype === "int32") out = new Int32Array(values);
  else if (dtype === "bool") {
    out = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = values[i] !== 0 ? 1 : 0;
  } else return undefined;
  return backend.makeTensorInfo(x.shape.slice(), dtype, out);
};

/** Every element-wise kernel, by tfjs kernel name. */
export const ELEMENTWISE_KERNELS: Record<string, NativeKernel> = {
  ...Object.fromEntries(
    Object.keys(BINARY_OPS).map((k) => [k, binaryKernel(k as keyof typeof BINARY_OPS)]),
  ),
  ...Object.fromEntries(
    Object.keys(COMPARE_OPS).map((k) => [k, compareKernel(k as keyof typeof COMPARE_OPS)]),
  ),
  ...Object.fromEntries(
    Object.entries(UNARY_KERNELS).map(([k, op]) => [k, unaryKernel(k, op)]),
  ),
  AddN: addN,
  Cast: cast,
};

/** A fused matmul's activation, applied in place; false for one this module lacks (prelu). */
export function applyActivationInPlace(
  libs: NativeLibs,
  values: Float32Array,
  activation: string,
  alpha: number,
): boolean {
  const op = activation === "relu"
    ? UNARY.relu
    : activation === "relu6"
    ? UNARY.relu6
    : activation === "elu"
    ? UNARY.elu
    : activation === "sigmoid"
    ? UNARY.sigmoid
    : activation === "leakyrelu"
    ? UNARY.leakyRelu
    : activation === "linear"
    ? -1
    : undefined;
  if (op === undefined) return false;
  if (op >= 0 && values.length > 0) libs.k.nk_unary(op, values.length, values, values, alpha, 0);
  return true;
}
