import type { Graph, Value } from './graph.js';
import { A, type Attrs, type Dim, type TensorData } from './types.js';

/**
 * Typed helpers over `Graph.node` for the ONNX ops kdistill emits. Each takes its graph from the
 * first operand; `name` (optional) names the node so it can be tapped later.
 */

export function f32(data: ArrayLike<number>, shape: readonly number[] = [data.length]): TensorData {
  return { dtype: 'float32', shape, data: Float32Array.from(data) };
}
export function i64(data: ArrayLike<number>, shape: readonly number[] = [data.length]): TensorData {
  return { dtype: 'int64', shape, data: BigInt64Array.from(Array.from(data, (v) => BigInt(v))) };
}

/** A float scalar constant (shape []) in the current scope. */
export function scalar(g: Graph, v: number, name = 'const'): Value {
  return g.initializer(name, f32([v], []));
}
/** An int64 vector constant, e.g. axes or a shape. */
export function ints(g: Graph, v: readonly number[], name = 'ints'): Value {
  return g.initializer(name, i64(v));
}

const un =
  (op: string) =>
  (x: Value, name?: string, attrs: Attrs = {}): Value =>
    x.graph.node(op, [x], attrs, { name })[0];
const bin =
  (op: string) =>
  (a: Value, b: Value, name?: string): Value =>
    a.graph.node(op, [a, b], {}, { name })[0];

export const relu = un('Relu');
export const sigmoid = un('Sigmoid');
export const tanh = un('Tanh');
export const exp = un('Exp');
export const log = un('Log');
export const neg = un('Neg');
export const sqrt = un('Sqrt');
export const abs = un('Abs');
export const erf = un('Erf');
export const identity = un('Identity');
export const reciprocal = un('Reciprocal');
export const sign = un('Sign');
/** Round half to even (ONNX Round), as QuantizeLinear rounds. */
export const round = un('Round');
export const not = un('Not');

export const add = bin('Add');
export const sub = bin('Sub');
export const mul = bin('Mul');
export const div = bin('Div');
export const pow = bin('Pow');
export const max = bin('Max');
export const min = bin('Min');
export const equal = bin('Equal');
export const less = bin('Less');
export const greater = bin('Greater');
export const and = bin('And');
export const or = bin('Or');
export const matmul = bin('MatMul');

/** a * k for a float constant k. */
export function scale(a: Value, k: number, name?: string): Value {
  return mul(a, scalar(a.graph, k), name);
}
export function addScalar(a: Value, k: number, name?: string): Value {
  return add(a, scalar(a.graph, k), name);
}

export function where(c: Value, a: Value, b: Value, name?: string): Value {
  return c.graph.node('Where', [c, a, b], {}, { name })[0];
}
export function cast(x: Value, to: 'float32' | 'int64' | 'bool' | 'int32', name?: string): Value {
  const code = { float32: 1, int64: 7, bool: 9, int32: 6 }[to];
  return x.graph.node('Cast', [x], { to: A.i(code) }, { name })[0];
}
export function gemm(
  a: Value,
  b: Value,
  c?: Value,
  opts: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number; name?: string } = {},
): Value {
  const attrs: Attrs = {};
  if (opts.transA) attrs.transA = A.i(1);
  if (opts.transB) attrs.transB = A.i(1);
  if (opts.alpha !== undefined) attrs.alpha = A.f(opts.alpha);
  if (opts.beta !== undefined) attrs.beta = A.f(opts.beta);
  return a.graph.node('Gemm', c ? [a, b, c] : [a, b], attrs, { name: opts.name })[0];
}

export interface ConvOpts {
  strides?: number[];
  pads?: number[];
  dilations?: number[];
  group?: number;
  name?: string;
}
function convAttrs(o: ConvOpts, sp: number): Attrs {
  return {
    strides: A.ints(o.strides ?? Array(sp).fill(1)),
    pads: A.ints(o.pads ?? Array(2 * sp).fill(0)),
    dilations: A.ints(o.dilations ?? Array(sp).fill(1)),
    group: A.i(o.group ?? 1),
  };
}
export function conv(x: Value, w: Value, b?: Value, o: ConvOpts = {}): Value {
  const sp = x.rank - 2;
  const attrs = convAttrs(o, sp);
  attrs.kernel_shape = A.ints(w.shape.slice(2) as number[]);
  return x.graph.node('Conv', b ? [x, w, b] : [x, w], attrs, { name: o.name })[0];
}
export function convTranspose(x: Value, w: Value, o: ConvOpts & { outputPadding?: number[] } = {}): Value {
  const sp = x.rank - 2;
  const attrs = convAttrs(o, sp);
  attrs.kernel_shape = A.ints(w.shape.slice(2) as number[]);
  if (o.outputPadding) attrs.output_padding = A.ints(o.outputPadding);
  return x.graph.node('ConvTranspose', [x, w], attrs, { name: o.name })[0];
}

export interface PoolOpts {
  kernel: number[];
  strides?: number[];
  pads?: number[];
  name?: string;
  countIncludePad?: boolean;
}
export function maxPool(x: Value, o: PoolOpts, withIndices = false): Value[] {
  const sp = x.rank - 2;
  const attrs: Attrs = {
    kernel_shape: A.ints(o.kernel),
    strides: A.ints(o.strides ?? o.kernel),
    pads: A.ints(o.pads ?? Array(2 * sp).fill(0)),
  };
  return x.graph.node('MaxPool', [x], attrs, { name: o.name, nOut: withIndices ? 2 : 1 });
}
export function avgPool(x: Value, o: PoolOpts): Value {
  const sp = x.rank - 2;
  const attrs: Attrs = {
    kernel_shape: A.ints(o.kernel),
    strides: A.ints(o.strides ?? o.kernel),
    pads: A.ints(o.pads ?? Array(2 * sp).fill(0)),
    count_include_pad: A.i(o.countIncludePad ? 1 : 0),
  };
  return x.graph.node('AveragePool', [x], attrs, { name: o.name })[0];
}
export const globalAvgPool = un('GlobalAveragePool');

/**
 * Nearest-neighbour upsampling by integer factors, one per axis (1 for batch and channels): output
 * index i reads input ⌊i / k⌋, as PyTorch's F.interpolate(mode='nearest').
 */
export function resizeNearest(x: Value, scales: readonly number[], name?: string): Value {
  const g = x.graph;
  const attrs: Attrs = { mode: A.s('nearest'), coordinate_transformation_mode: A.s('asymmetric'), nearest_mode: A.s('floor') };
  return g.node('Resize', [x, '', g.initializer('scales', f32(scales))], attrs, { name })[0];
}

export function softmax(x: Value, axis = -1, name?: string): Value {
  return x.graph.node('Softmax', [x], { axis: A.i(axis) }, { name })[0];
}
export function logSoftmax(x: Value, axis = -1, name?: string): Value {
  return x.graph.node('LogSoftmax', [x], { axis: A.i(axis) }, { name })[0];
}

type ReduceOp = 'ReduceSum' | 'ReduceMean' | 'ReduceMax' | 'ReduceMin' | 'ReduceSumSquare';
function reduce(op: ReduceOp) {
  return (x: Value, axes?: number[], keepdims = false, name?: string): Value => {
    const ins: Value[] = [x];
    if (axes) ins.push(ints(x.graph, axes, 'axes'));
    return x.graph.node(op, ins, { keepdims: A.i(keepdims ? 1 : 0) }, { name })[0];
  };
}
export const reduceSum = reduce('ReduceSum');
export const reduceMean = reduce('ReduceMean');
export const reduceSumSquare = reduce('ReduceSumSquare');
export const reduceMax = reduce('ReduceMax');
export const reduceMin = reduce('ReduceMin');

export function argMax(x: Value, axis = -1, keepdims = false, name?: string): Value {
  return x.graph.node('ArgMax', [x], { axis: A.i(axis), keepdims: A.i(keepdims ? 1 : 0) }, { name })[0];
}

/** Reshape to a constant target (0 copies the input dim, -1 is inferred), so a symbolic batch passes through. */
export function reshape(x: Value, shape: readonly number[], name?: string): Value {
  return x.graph.node('Reshape', [x, ints(x.graph, shape, 'shape')], {}, { name })[0];
}
/** Reshape `x` to the run-time shape of `like`. */
export function reshapeLike(x: Value, like: Value, name?: string): Value {
  return x.graph.node('Reshape', [x, shapeOf(like)], {}, { name })[0];
}
export function shapeOf(x: Value, name?: string): Value {
  return x.graph.node('Shape', [x], {}, { name })[0];
}
export function flatten(x: Value, axis = 1, name?: string): Value {
  return x.graph.node('Flatten', [x], { axis: A.i(axis) }, { name })[0];
}
export function transpose(x: Value, perm: number[], name?: string): Value {
  return x.graph.node('Transpose', [x], { perm: A.ints(perm) }, { name })[0];
}
export function concat(xs: Value[], axis: number, name?: string): Value {
  return xs[0].graph.node('Concat', xs, { axis: A.i(axis) }, { name })[0];
}
export function slice(x: Value, starts: number[], ends: number[], axes: number[], steps?: number[], name?: string): Value {
  const g = x.graph;
  const ins = [x, ints(g, starts, 'starts'), ints(g, ends, 'ends'), ints(g, axes, 'axes')];
  if (steps) ins.push(ints(g, steps, 'steps'));
  return g.node('Slice', ins, {}, { name })[0];
}
export function unsqueeze(x: Value, axes: number[], name?: string): Value {
  return x.graph.node('Unsqueeze', [x, ints(x.graph, axes, 'axes')], {}, { name })[0];
}
export function squeeze(x: Value, axes: number[], name?: string): Value {
  return x.graph.node('Squeeze', [x, ints(x.graph, axes, 'axes')], {}, { name })[0];
}
export function expand(x: Value, shape: Value | readonly number[], name?: string): Value {
  const s = Array.isArray(shape) ? ints(x.graph, shape as number[], 'shape') : (shape as Value);
  return x.graph.node('Expand', [x, s], {}, { name })[0];
}
/** Broadcasts `x` to the run-time shape of `like`. */
export function expandLike(x: Value, like: Value, name?: string): Value {
  return expand(x, shapeOf(like), name);
}
/** The `k` largest values along the last axis and their indices (ONNX TopK, sorted, largest first). */
export function topK(x: Value, k: number, name?: string): [Value, Value] {
  const [v, i] = x.graph.node('TopK', [x, ints(x.graph, [k], 'k')], { axis: A.i(-1), largest: A.i(1), sorted: A.i(1) }, { name, nOut: 2 });
  return [v, i];
}
export function gatherElements(x: Value, idx: Value, axis: number, name?: string): Value {
  return x.graph.node('GatherElements', [x, idx], { axis: A.i(axis) }, { name })[0];
}
export function gather(x: Value, idx: Value, axis = 0, name?: string): Value {
  return x.graph.node('Gather', [x, idx], { axis: A.i(axis) }, { name })[0];
}
/** Zeros shaped like `like` (at run time). */
export function zerosLike(like: Value, name?: string): Value {
  return like.graph.node('ConstantOfShape', [shapeOf(like)], { value: A.t(f32([0], [1])) }, { name })[0];
}
export function scatterNDAdd(data: Value, idx: Value, upd: Value, name?: string): Value {
  return data.graph.node('ScatterND', [data, idx, upd], { reduction: A.s('add') }, { name })[0];
}
export function scatterElementsAdd(data: Value, idx: Value, upd: Value, axis = 0, name?: string): Value {
  return data.graph.node('ScatterElements', [data, idx, upd], { axis: A.i(axis), reduction: A.s('add') }, { name })[0];
}
export function oneHot(idx: Value, depth: number, name?: string): Value {
  const g = idx.graph;
  return g.node('OneHot', [idx, ints(g, [depth], 'depth'), g.initializer('onoff', f32([0, 1]))], { axis: A.i(-1) }, { name })[0];
}

export type { Dim };

/**
 * The value of `x` with no gradient flowing back through it (PyTorch's `.detach()`): the target side of
 * a KL between peers, an ensemble teacher built from the students themselves.
 */
export function stopGradient(x: Value, name?: string): Value {
  return x.graph.customGradient(
    [x],
    () => identity(x, name),
    () => [undefined],
  );
}
