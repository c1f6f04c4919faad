/** The shape-inference registry and the helpers its rules share. */
import { KdError } from '../../util/errors.js';
import type { Graph } from '../graph.js';
import type { Attr, Dim, DType, Node, Shape, ValueInfo } from '../types.js';
import { shapeToString } from '../types.js';
/** Infers a node's output types from its inputs' (absent: an omitted optional input). */
export type Infer = (g: Graph, node: Node, ins: (ValueInfo | undefined)[]) => ValueInfo[];

/** Shape rules by op type, filled by the rule files (math-rules.ts, shape-rules.ts). */
export const rules = new Map<string, Infer>();

export function attrInt(node: Node, key: string, def: number): number {
  const a = node.attrs[key];
  return a && (a.kind === 'int' || a.kind === 'float') ? a.value : def;
}
export function attrInts(node: Node, key: string, def: readonly number[]): readonly number[] {
  const a: Attr | undefined = node.attrs[key];
  return a && (a.kind === 'ints' || a.kind === 'floats') ? a.value : def;
}

export function fail(node: Node, msg: string): never {
  throw new KdError('SHAPE_MISMATCH', `${node.opType} node '${node.name}': ${msg}`);
}

export function req(node: Node, ins: (ValueInfo | undefined)[], i: number): ValueInfo {
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
  // The integer arithmetic exporters write around a Shape (PyTorch's x.view(x.size(0), -1): Shape → Gather →
  // Unsqueeze → Concat), followed so the target is known while building; a scalar is held as one element.
  if (p && ['Unsqueeze', 'Squeeze', 'Identity', 'Cast'].includes(p.opType)) return shapeInput(g, p.inputs[0]);
  if (p?.opType === 'Gather') {
    const from = shapeInput(g, p.inputs[0]),
      at = shapeInput(g, p.inputs[1]);
    if (from && at?.every((i) => typeof i === 'number')) return (at as number[]).map((i) => from[i < 0 ? i + from.length : i]);
  }
  if (p?.opType === 'Slice' && p.inputs.length <= 4) {
    const from = shapeInput(g, p.inputs[0]),
      [start, end] = [shapeInput(g, p.inputs[1]), shapeInput(g, p.inputs[2])];
    const axes = p.inputs[3] ? shapeInput(g, p.inputs[3]) : [0];
    if (from && typeof start?.[0] === 'number' && typeof end?.[0] === 'number' && axes?.[0] === 0) {
      const at = (v: number) => Math.max(0, Math.min(from.length, v < 0 ? v + from.length : v));
      return from.slice(at(start[0]), at(end[0]));
    }
  }
  return undefined;
}

/** A constant integer input (axes, repeats...), which kdistill needs known while building. */
export function constInts(g: Graph, n: Node, i: number, what: string): number[] {
  const v = shapeInput(g, n.inputs[i]);
  if (!v || v.some((d) => typeof d !== 'number')) fail(n, `${what} must be a constant`);
  return v as number[];
}

export function same(i = 0): Infer {
  return (_g, n, ins) => [req(n, ins, i)];
}
export function withType(dtype: DType): Infer {
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
/** Numpy-style broadcasting of every input, keeping the first input's type. */
export const broadcast: Infer = (_g, n, ins) => [
  {
    dtype: req(n, ins, 0).dtype,
    shape: broadcastShapes(
      n,
      ins.map((_x, i) => req(n, ins, i).shape),
    ),
  },
];
