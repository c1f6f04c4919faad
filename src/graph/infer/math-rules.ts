/** Shape rules of the arithmetic ops: elementwise, matrix products, convolution, pooling, normalisation, reductions. */
import {
  attrInt,
  attrInts,
  broadcast,
  broadcastShapes,
  fail,
  normAxis,
  req,
  rules,
  same,
  shapeInput,
  withType,
  type Infer,
} from './core.js';
import type { Dim, DType, Shape, ValueInfo } from '../types.js';
import { shapeToString } from '../types.js';
import { windowOut } from '../symbolic.js';

for (const op of [
  'Relu',
  'Sigmoid',
  'Tanh',
  'Exp',
  'Log',
  'Neg',
  'Sqrt',
  'Abs',
  'Erf',
  'Identity',
  'Reciprocal',
  'Softplus',
  'Floor',
  'Sign',
  'Softmax',
  'LogSoftmax',
  'LeakyRelu',
  'HardSigmoid',
  'HardSwish',
  'Elu',
  'Gelu',
  'Clip',
  'Round',
  'CumSum',
  'Sin',
  'Cos',
])
  rules.set(op, same());
for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min']) rules.set(op, broadcast);
for (const op of ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or']) rules.set(op, withType('bool'));
rules.set('Not', same());
rules.set('Where', (_g, n, ins) => [
  {
    dtype: req(n, ins, 1).dtype,
    shape: broadcastShapes(
      n,
      [0, 1, 2].map((i) => req(n, ins, i).shape),
    ),
  },
]);
rules.set('Cast', (_g, n, ins) => {
  const to = attrInt(n, 'to', 1);
  const map: Record<number, DType> = { 1: 'float32', 7: 'int64', 9: 'bool', 6: 'int32', 11: 'float64' };
  return [{ dtype: map[to] ?? fail(n, `unsupported cast target ${to}`), shape: req(n, ins, 0).shape }];
});

rules.set('MatMul', (_g, n, ins) => {
  const a = req(n, ins, 0).shape,
    b = req(n, ins, 1).shape;
  if (a.length < 2 || b.length < 2) fail(n, `MatMul needs rank ≥ 2 operands, got ${shapeToString(a)} and ${shapeToString(b)}`);
  const k1 = a[a.length - 1],
    k2 = b[b.length - 2];
  if (k1 !== k2) fail(n, `inner dimensions differ: ${shapeToString(a)} × ${shapeToString(b)}`);
  const batch = broadcastShapes(n, [a.slice(0, -2), b.slice(0, -2)]);
  return [{ dtype: ins[0]!.dtype, shape: [...batch, a[a.length - 2], b[b.length - 1]] }];
});
rules.set('Gemm', (_g, n, ins) => {
  const a = req(n, ins, 0).shape,
    b = req(n, ins, 1).shape;
  const ta = attrInt(n, 'transA', 0),
    tb = attrInt(n, 'transB', 0);
  const m = ta ? a[1] : a[0],
    k1 = ta ? a[0] : a[1],
    k2 = tb ? b[1] : b[0],
    nn = tb ? b[0] : b[1];
  if (k1 !== k2) fail(n, `inner dimensions differ: ${shapeToString(a)} × ${shapeToString(b)} (transA=${ta}, transB=${tb})`);
  return [{ dtype: ins[0]!.dtype, shape: [m, nn] }];
});

rules.set('Conv', (_g, n, ins) => {
  const x = req(n, ins, 0).shape,
    w = req(n, ins, 1).shape;
  const sp = x.length - 2;
  const group = attrInt(n, 'group', 1);
  if (typeof x[1] === 'number' && typeof w[1] === 'number' && x[1] !== (w[1] as number) * group)
    fail(n, `input has ${x[1]} channels but weight ${shapeToString(w)} with group=${group} expects ${(w[1] as number) * group}`);
  const ks = w.slice(2) as number[];
  const st = attrInts(n, 'strides', Array(sp).fill(1)),
    dl = attrInts(n, 'dilations', Array(sp).fill(1)),
    pd = attrInts(n, 'pads', Array(2 * sp).fill(0));
  const out: Dim[] = [x[0], w[0]];
  for (let i = 0; i < sp; i++) out.push(windowOut(x[2 + i], ks[i], st[i], dl[i], pd[i], pd[i + sp]));
  return [{ dtype: ins[0]!.dtype, shape: out }];
});
rules.set('ConvTranspose', (_g, n, ins) => {
  const x = req(n, ins, 0).shape,
    w = req(n, ins, 1).shape;
  const sp = x.length - 2;
  const group = attrInt(n, 'group', 1);
  const ks = w.slice(2) as number[];
  const st = attrInts(n, 'strides', Array(sp).fill(1)),
    dl = attrInts(n, 'dilations', Array(sp).fill(1)),
    pd = attrInts(n, 'pads', Array(2 * sp).fill(0));
  const op = attrInts(n, 'output_padding', Array(sp).fill(0));
  const out: Dim[] = [x[0], (w[1] as number) * group];
  for (let i = 0; i < sp; i++) {
    const xi = x[2 + i];
    out.push(
      typeof xi === 'number'
        ? st[i] * (xi - 1) + op[i] + (ks[i] - 1) * dl[i] + 1 - pd[i] - pd[i + sp]
        : `${xi}_t${ks[i]}s${st[i]}d${dl[i]}p${pd[i]}.${pd[i + sp]}o${op[i]}`,
    );
  }
  return [{ dtype: ins[0]!.dtype, shape: out }];
});
const pool: Infer = (_g, n, ins) => {
  const x = req(n, ins, 0).shape;
  const sp = x.length - 2;
  const ks = attrInts(n, 'kernel_shape', []);
  const st = attrInts(n, 'strides', Array(sp).fill(1)),
    dl = attrInts(n, 'dilations', Array(sp).fill(1)),
    pd = attrInts(n, 'pads', Array(2 * sp).fill(0));
  const ceil = attrInt(n, 'ceil_mode', 0) === 1;
  const out: Dim[] = [x[0], x[1]];
  for (let i = 0; i < sp; i++) out.push(windowOut(x[2 + i], ks[i], st[i], dl[i], pd[i], pd[i + sp], ceil));
  const res: ValueInfo[] = [{ dtype: ins[0]!.dtype, shape: out }];
  if (n.outputs.length > 1) res.push({ dtype: 'int64', shape: out });
  return res;
};
rules.set('MaxPool', pool);
rules.set('AveragePool', pool);
for (const op of ['GlobalAveragePool', 'GlobalMaxPool'])
  rules.set(op, (_g, n, ins) => {
    const x = req(n, ins, 0).shape;
    return [{ dtype: ins[0]!.dtype, shape: [x[0], x[1], ...x.slice(2).map(() => 1)] }];
  });
rules.set('BatchNormalization', (_g, n, ins) => {
  const x = req(n, ins, 0);
  const c = req(n, ins, 1);
  return n.outputs.map((_, i) => (i === 0 ? x : c));
});
rules.set('LayerNormalization', (_g, n, ins) => [req(n, ins, 0)]);

function reduceShape(x: Shape, axes: readonly number[] | undefined, keep: boolean): Dim[] {
  const ax = axes?.length ? axes.map((a) => normAxis(a, x.length)) : x.map((_, i) => i);
  const out: Dim[] = [];
  x.forEach((d, i) => {
    if (!ax.includes(i)) out.push(d);
    else if (keep) out.push(1);
  });
  return out;
}
for (const op of ['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceSumSquare', 'ReduceL2', 'ReduceLogSumExp'])
  rules.set(op, (g, n, ins) => {
    const x = req(n, ins, 0);
    const axes = n.inputs[1] ? shapeInput(g, n.inputs[1]) : undefined;
    if (n.inputs[1] && !axes) fail(n, 'axes must be a constant');
    return [{ dtype: x.dtype, shape: reduceShape(x.shape, axes as number[] | undefined, attrInt(n, 'keepdims', 1) === 1) }];
  });
for (const op of ['ArgMax', 'ArgMin'])
  rules.set(op, (_g, n, ins) => {
    const x = req(n, ins, 0);
    return [{ dtype: 'int64', shape: reduceShape(x.shape, [attrInt(n, 'axis', 0)], attrInt(n, 'keepdims', 1) === 1) }];
  });
