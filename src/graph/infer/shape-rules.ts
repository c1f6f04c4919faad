/** Shape rules of the ops that move data: reshapes, transposes, slices, gathers, concatenation, control flow. */
import { attrInt, attrInts, broadcastShapes, constInts, fail, normAxis, req, rules, same, shapeInput } from './core.js';
import type { Dim, Shape } from '../types.js';
import { shapeToString } from '../types.js';
import { padSymbol, sliceSymbol } from '../symbolic.js';
import { KdError } from '../../util/errors.js';
import type { Graph } from '../graph.js';

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
rules.set('TopK', (g, n, ins) => {
  const x = req(n, ins, 0).shape;
  const k = g.constant(n.inputs[1]);
  const axis = normAxis(attrInt(n, 'axis', -1), x.length);
  const shape = x.map((d, i) => (i === axis ? (k ? Number(k.data[0]) : 'k') : d));
  return [
    { dtype: ins[0]!.dtype, shape },
    { dtype: 'int64', shape },
  ];
});
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
