import { KdError } from '../util/errors.js';
import type { Graph } from './graph.js';
import type { Attr, Dim, DType, Node, Shape, ValueInfo } from './types.js';
import { shapeToString } from './types.js';
import { padSymbol, sliceSymbol, windowOut } from './symbolic.js';

type Infer = (g: Graph, node: Node, ins: (ValueInfo | undefined)[]) => ValueInfo[];

const rules = new Map<string, Infer>();

/** Infers the output types of `node`; every op kdistill emits has a rule, so a missing one is a bug or an unsupported op. */
export function inferShapes(g: Graph, node: Node, ins: (ValueInfo | undefined)[]): ValueInfo[] {
  const r = rules.get(node.opType);
  if (!r) throw new KdError('UNSUPPORTED_OP', `no shape inference for op '${node.opType}' (node '${node.name}')`);
  return r(g, node, ins);
}

export function attrInt(node: Node, key: string, def: number): number {
  const a = node.attrs[key];
  return a && (a.kind === 'int' || a.kind === 'float') ? a.value : def;
}
export function attrInts(node: Node, key: string, def: readonly number[]): readonly number[] {
  const a: Attr | undefined = node.attrs[key];
  return a && (a.kind === 'ints' || a.kind === 'floats') ? a.value : def;
}

function fail(node: Node, msg: string): never {
  throw new KdError('SHAPE_MISMATCH', `${node.opType} node '${node.name}': ${msg}`);
}

function req(node: Node, ins: (ValueInfo | undefined)[], i: number): ValueInfo {
  const v = ins[i];
  if (!v) fail(node, `input ${i} is required`);
  return v;
}

/** Broadcasts shapes numpy-style; symbolic dims must match by name unless one side is 1. */
export function broadcastShapes(node: Node, shapes: Shape[]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      if (k < 0) continue;
      const e = s[k];
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (d !== e) fail(node, `cannot broadcast ${shapes.map(shapeToString).join(' with ')}`);
    }
    out.push(d);
  }
  return out;
}

export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Integer content of a shape-like input: a constant, or `Shape(v)` whose dims are v's (possibly symbolic) dims. */
export function shapeInput(g: Graph, name: string): Dim[] | undefined {
  const c = g.constant(name);
  if (c) return Array.from(c.data as BigInt64Array, Number);
  const p = g.producer(name);
  if (p?.opType === 'Shape') return [...g.info.get(p.inputs[0])!.shape];
  if (p?.opType === 'Constant') {
    const t = p.attrs.value;
    if (t?.kind === 'tensor') return Array.from(t.value.data as BigInt64Array, Number);
  }
  if (p?.opType === 'Concat') {
    const parts = p.inputs.map((n) => shapeInput(g, n));
    if (parts.every((x) => x)) return parts.flat() as Dim[];
  }
  return undefined;
}

/** A constant integer input (axes, repeats...), which kdistill needs known while building. */
function constInts(g: Graph, n: Node, i: number, what: string): number[] {
  const v = shapeInput(g, n.inputs[i]);
  if (!v || v.some((d) => typeof d !== 'number')) fail(n, `${what} must be a constant`);
  return v as number[];
}

function same(i = 0): Infer {
  return (_g, n, ins) => [req(n, ins, i)];
}
function withType(dtype: DType): Infer {
  return (_g, n, ins) => [
    {
      dtype,
      shape: broadcastShapes(
        n,
        ins.filter((x): x is ValueInfo => !!x).map((x) => x.shape),
      ),
    },
  ];
}
const broadcast: Infer = (_g, n, ins) => [
  {
    dtype: req(n, ins, 0).dtype,
    shape: broadcastShapes(
      n,
      ins.map((_x, i) => req(n, ins, i).shape),
    ),
  },
];

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
  'Gelu',
  'Clip',
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

rules.set('Reshape', (g, n, ins) => {
  const x = req(n, ins, 0).shape;
  const t = shapeInput(g, n.inputs[1]);
  if (!t) fail(n, 'target shape must be a constant or come from a Shape op');
  const out: Dim[] = t.map((d, i) => (d === 0 ? x[i] : d));
  const neg = out.indexOf(-1);
  const total = (ds: readonly Dim[]) => (ds.every((d) => typeof d === 'number') ? (ds as number[]).reduce((a, b) => a * b, 1) : undefined);
  if (neg < 0) {
    const a = total(x),
      b = total(out);
    if (a !== undefined && b !== undefined && a !== b)
      fail(n, `cannot reshape ${shapeToString(x)} (${a} elements) to ${shapeToString(out)} (${b} elements)`);
  } else {
    const known = out.filter((_d, i) => i !== neg);
    if (x.every((d) => typeof d === 'number') && known.every((d) => typeof d === 'number')) {
      const q = total(x)! / total(known)!;
      if (!Number.isInteger(q))
        fail(n, `cannot reshape ${shapeToString(x)} to ${shapeToString(t)}: ${total(x)} elements do not divide into ${total(known)}`);
      out[neg] = q;
    } else {
      // Divide symbolically: drop the symbolic dims that appear on both sides, the rest must be numbers.
      // Products such as 'N*3' count as their factors, so [N*3, 4] → [-1, 12] resolves to N.
      const factors = (ds: readonly Dim[]): Dim[] =>
        ds.flatMap((d) => (typeof d === 'string' ? d.split('*').map((f) => (/^\d+$/.test(f) ? Number(f) : f)) : [d]));
      const xs = factors(x),
        ks = factors(known);
      for (let i = ks.length - 1; i >= 0; i--) {
        if (typeof ks[i] === 'string') {
          const j = xs.indexOf(ks[i]);
          if (j < 0) fail(n, `cannot resolve -1 in ${shapeToString(t)} for input ${shapeToString(x)}`);
          xs.splice(j, 1);
          ks.splice(i, 1);
        }
      }
      if (!ks.every((d) => typeof d === 'number')) fail(n, `cannot resolve -1 in ${shapeToString(t)} for input ${shapeToString(x)}`);
      const num =
        (xs.filter((d) => typeof d === 'number') as number[]).reduce((a, b) => a * b, 1) / (ks as number[]).reduce((a, b) => a * b, 1);
      const sym = xs.filter((d) => typeof d === 'string');
      if (!Number.isInteger(num)) fail(n, `cannot resolve -1 in ${shapeToString(t)} for input ${shapeToString(x)}`);
      // A dim left symbolic (e.g. 'N*12' when folding batch and sequence) stays a named product.
      out[neg] = sym.length === 0 ? num : [...sym, ...(num === 1 ? [] : [num])].join('*');
    }
  }
  return [{ dtype: ins[0]!.dtype, shape: out }];
});
rules.set('Flatten', (_g, n, ins) => {
  const x = req(n, ins, 0).shape;
  const axis = normAxis(attrInt(n, 'axis', 1), x.length);
  const prod = (ds: Shape): Dim =>
    ds.every((d) => typeof d === 'number') ? (ds as number[]).reduce((a, b) => a * b, 1) : ds.length === 1 ? ds[0] : ds.join('*');
  return [{ dtype: ins[0]!.dtype, shape: [prod(x.slice(0, axis)), prod(x.slice(axis))] }];
});
rules.set('Transpose', (_g, n, ins) => {
  const x = req(n, ins, 0).shape;
  const perm = attrInts(
    n,
    'perm',
    x.map((_, i) => x.length - 1 - i),
  );
  return [{ dtype: ins[0]!.dtype, shape: perm.map((p) => x[p]) }];
});
rules.set('Concat', (_g, n, ins) => {
  const xs = ins.map((_, i) => req(n, ins, i).shape);
  const axis = normAxis(attrInt(n, 'axis', 0), xs[0].length);
  const out = [...xs[0]];
  let tot: Dim = 0;
  for (const s of xs) {
    if (s.length !== out.length) fail(n, `ranks differ: ${xs.map(shapeToString).join(', ')}`);
    s.forEach((d, i) => {
      if (i !== axis && d !== out[i]) fail(n, `shapes differ outside axis ${axis}: ${xs.map(shapeToString).join(', ')}`);
    });
    tot = typeof tot === 'number' && typeof s[axis] === 'number' ? tot + (s[axis] as number) : `${tot}+${s[axis]}`;
  }
  out[axis] = tot;
  return [{ dtype: ins[0]!.dtype, shape: out }];
});
rules.set('Split', (g, n, ins) => {
  const x = req(n, ins, 0).shape;
  const axis = normAxis(attrInt(n, 'axis', 0), x.length);
  const sizes = n.inputs[1] ? shapeInput(g, n.inputs[1]) : undefined;
  return n.outputs.map((_, i) => {
    const s = [...x];
    s[axis] = sizes ? sizes[i] : typeof x[axis] === 'number' ? (x[axis] as number) / n.outputs.length : `${x[axis]}/${n.outputs.length}`;
    return { dtype: ins[0]!.dtype, shape: s };
  });
});
rules.set('Slice', (g, n, ins) => {
  const x = req(n, ins, 0).shape;
  const starts = shapeInput(g, n.inputs[1]) as number[] | undefined,
    ends = shapeInput(g, n.inputs[2]) as number[] | undefined;
  if (!starts || !ends) fail(n, 'starts/ends must be constants');
  const axes = n.inputs[3] ? constInts(g, n, 3, 'axes') : starts.map((_, i) => i);
  const steps = n.inputs[4] ? constInts(g, n, 4, 'steps') : starts.map(() => 1);
  const out = [...x];
  axes.forEach((a0, i) => {
    const a = normAxis(a0, x.length);
    const d = x[a];
    if (typeof d !== 'number') {
      out[a] = sliceSymbol(d, starts[i], ends[i], steps[i]);
      return;
    }
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    const st = steps[i];
    let s = starts[i] < 0 ? starts[i] + d : starts[i];
    let e = ends[i] < 0 ? ends[i] + d : ends[i];
    if (st > 0) {
      s = clamp(s, 0, d);
      e = clamp(e, 0, d);
      out[a] = Math.max(0, Math.ceil((e - s) / st));
    } else {
      s = clamp(s, -1, d - 1);
      e = clamp(e, -1, d - 1);
      out[a] = Math.max(0, Math.ceil((e - s) / st));
    }
  });
  return [{ dtype: ins[0]!.dtype, shape: out }];
});
rules.set('Unsqueeze', (g, n, ins) => {
  const x = req(n, ins, 0).shape;
  const axes = constInts(g, n, 1, 'axes');
  const r = x.length + axes.length;
  const ax = axes.map((a) => normAxis(a, r));
  const out: Dim[] = [];
  let k = 0;
  for (let i = 0; i < r; i++) out.push(ax.includes(i) ? 1 : x[k++]);
  return [{ dtype: ins[0]!.dtype, shape: out }];
});
rules.set('Squeeze', (g, n, ins) => {
  const x = req(n, ins, 0).shape;
  const axes = n.inputs[1]
    ? constInts(g, n, 1, 'axes').map((a) => normAxis(a, x.length))
    : x.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
  return [{ dtype: ins[0]!.dtype, shape: x.filter((_, i) => !axes.includes(i)) }];
});
rules.set('Expand', (g, n, ins) => {
  const x = req(n, ins, 0).shape;
  const t = shapeInput(g, n.inputs[1]);
  if (!t) fail(n, 'target shape must be a constant or come from a Shape op');
  return [{ dtype: ins[0]!.dtype, shape: broadcastShapes(n, [x, t]) }];
});
rules.set('Tile', (g, n, ins) => {
  const x = req(n, ins, 0).shape;
  const reps = constInts(g, n, 1, 'repeats');
  return [{ dtype: ins[0]!.dtype, shape: x.map((d, i) => (reps[i] === 1 ? d : typeof d === 'number' ? d * reps[i] : `${d}*${reps[i]}`)) }];
});
rules.set('Shape', (_g, n, ins) => [{ dtype: 'int64', shape: [req(n, ins, 0).shape.length] }]);
rules.set('Size', () => [{ dtype: 'int64', shape: [] }]);
rules.set('ConstantOfShape', (g, n) => {
  const t = shapeInput(g, n.inputs[0]);
  if (!t) throw new KdError('SHAPE_MISMATCH', `ConstantOfShape '${n.name}': shape must be known`);
  const v = n.attrs.value;
  return [{ dtype: v?.kind === 'tensor' ? v.value.dtype : 'float32', shape: t }];
});
rules.set('Resize', (g, n, ins) => {
  const x = req(n, ins, 0).shape;
  const sc = n.inputs[2] ? g.constant(n.inputs[2]) : undefined;
  if (!sc) fail(n, 'only constant scales are supported');
  return [
    {
      dtype: ins[0]!.dtype,
      shape: x.map((d, i) =>
        typeof d === 'number'
          ? Math.floor(d * (sc.data as Float32Array)[i])
          : (sc.data as Float32Array)[i] === 1
            ? d
            : `${d}_r${(sc.data as Float32Array)[i]}`,
      ),
    },
  ];
});
rules.set('Constant', (_g, n) => {
  const v = n.attrs.value;
  if (v?.kind !== 'tensor') fail(n, 'Constant needs a tensor value');
  return [{ dtype: v.value.dtype, shape: v.value.shape }];
});
rules.set('Gather', (_g, n, ins) => {
  const x = req(n, ins, 0).shape,
    idx = req(n, ins, 1).shape;
  const axis = normAxis(attrInt(n, 'axis', 0), x.length);
  return [{ dtype: ins[0]!.dtype, shape: [...x.slice(0, axis), ...idx, ...x.slice(axis + 1)] }];
});
rules.set('GatherElements', (_g, n, ins) => [{ dtype: req(n, ins, 0).dtype, shape: req(n, ins, 1).shape }]);
rules.set('ScatterElements', same());
rules.set('ScatterND', same());
rules.set('OneHot', (g, n, ins) => {
  const idx = req(n, ins, 0).shape;
  const depth = g.constant(n.inputs[1]);
  const d = depth ? Number(depth.data[0]) : 'depth';
  const axis = attrInt(n, 'axis', -1);
  const out: Dim[] = [...idx];
  out.splice(axis < 0 ? idx.length + 1 + axis : axis, 0, d);
  return [{ dtype: req(n, ins, 2).dtype, shape: out }];
});
rules.set('Pad', (g, n, ins) => {
  const x = req(n, ins, 0).shape;
  const pads = shapeInput(g, n.inputs[1]) as number[] | undefined;
  if (!pads) fail(n, 'pads must be a constant');
  const r = x.length;
  return [
    {
      dtype: ins[0]!.dtype,
      shape: x.map((d, i) =>
        pads[i] === 0 && pads[i + r] === 0 ? d : typeof d === 'number' ? d + pads[i] + pads[i + r] : padSymbol(d, pads[i] + pads[i + r]),
      ),
    },
  ];
});
rules.set('MaxUnpool', (g, n, ins) => {
  const t = n.inputs[2] ? shapeInput(g, n.inputs[2]) : undefined;
  if (!t) fail(n, 'MaxUnpool needs its output_shape input');
  return [{ dtype: req(n, ins, 0).dtype, shape: t }];
});
// Loop(M, cond, v_initial...) → (v_final..., scan outputs stacked on a new leading axis of length M).
rules.set('Loop', (g, n, ins) => {
  const body = n.attrs.body;
  if (body?.kind !== 'graph') fail(n, 'Loop needs a body graph');
  const b = body.value.graph as Graph;
  const carried = ins.slice(2).map((v, i) => v ?? fail(n, `loop-carried input ${i} is required`));
  const bodyOuts = b.outputs.slice(1 + carried.length).map((o) => b.info.get(o)!);
  const trips = g.constant(n.inputs[0]);
  const M: Dim = trips ? Number(trips.data[0]) : 'M';
  return [...carried, ...bodyOuts.map((o) => ({ dtype: o.dtype, shape: [M, ...o.shape] }))];
});
rules.set('EyeLike', same());
