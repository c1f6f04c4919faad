import * as op from '../../graph/ops.js';
import { attrInt, attrInts, normAxis, shapeInput } from '../../graph/shape-infer.js';
import { KdError } from '../../util/errors.js';
import type { Value } from '../../graph/graph.js';
import { registerGrad, unbroadcast } from '../rule.js';
import { noGrad } from './conv.js';

// Pure re-layouts: the gradient is the incoming one, laid out like the input.
for (const kind of ['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']) registerGrad(kind, (c, [dy]) => [op.reshapeLike(dy!, c.x(0))]);

registerGrad('Transpose', (c, [dy]) => {
  const perm = attrInts(
    c.node,
    'perm',
    c.x(0).shape.map((_, i, a) => a.length - 1 - i),
  );
  const inv = perm.map((_, i) => perm.indexOf(i));
  return [op.transpose(dy!, inv)];
});

registerGrad('Expand', (c, [dy]) => [unbroadcast(dy!, c.x(0))]);

registerGrad('Concat', (c, [dy]) => {
  const xs = c.node.inputs.map((_, i) => c.x(i));
  const axis = normAxis(attrInt(c.node, 'axis', 0), xs[0].rank);
  let start = 0;
  return xs.map((x, i) => {
    const len = x.shape[axis];
    if (typeof len !== 'number')
      throw new KdError('NO_GRADIENT', `Concat '${c.node.name}': gradient needs a fixed size on axis ${axis}, input ${i} has '${len}'`);
    const part = c.needs[i] ? op.slice(dy!, [start], [start + len], [axis]) : undefined;
    start += len;
    return part;
  });
});

registerGrad('Split', (c, dys) => {
  const x = c.x(0);
  const axis = normAxis(attrInt(c.node, 'axis', 0), x.rank);
  const parts = dys.map((d, i) => d ?? op.zerosLike(c.y(i)));
  const dx = op.concat(parts, axis);
  // Split in halves of a symbolic axis gives parts 'N/2', whose concat infers as '0+N/2+N/2': restore
  // the input's own shape so the gradient adds to other gradients of the input.
  return [typeof x.shape[axis] === 'number' ? dx : op.reshapeLike(dx, x)];
});

registerGrad('Slice', (c, [dy]) => {
  const x = c.x(0);
  const starts = shapeInput(c.g, c.node.inputs[1]) as number[];
  const ends = shapeInput(c.g, c.node.inputs[2]) as number[];
  const axes = (c.node.inputs[3] ? shapeInput(c.g, c.node.inputs[3]) : starts.map((_, i) => i)) as number[];
  const steps = (c.node.inputs[4] ? shapeInput(c.g, c.node.inputs[4]) : starts.map(() => 1)) as number[];
  if (steps.some((s) => s !== 1)) throw new KdError('NO_GRADIENT', `Slice '${c.node.name}': gradient supports step 1 only`);
  // Pad the slice's gradient with zeros back to the input extent.
  const pads = new Array(2 * x.rank).fill(0);
  axes.forEach((a0, i) => {
    const a = normAxis(a0, x.rank);
    const d = x.shape[a],
      o = c.y(0).shape[a];
    if (typeof d !== 'number' || typeof o !== 'number') {
      // A symbolic axis (the batch) is fine when the slice drops fixed counts at its ends: [k:] or [k:-m].
      const st = starts[i],
        en = ends[i];
      if (st < 0 || !(en >= 2 ** 62 || en < 0))
        throw new KdError(
          'NO_GRADIENT',
          `Slice '${c.node.name}': gradient needs fixed sizes on sliced axis ${a}, or a slice [k:] / [k:-m] of it`,
        );
      pads[a] = st;
      pads[a + x.rank] = en < 0 ? -en : 0;
      return;
    }
    const s = Math.min(Math.max(starts[i] < 0 ? starts[i] + d : starts[i], 0), d);
    pads[a] = s;
    pads[a + x.rank] = d - s - o;
  });
  return [c.g.node('Pad', [dy!, op.ints(c.g, pads, 'pads')], {})[0]];
});

// Pad with a constant (PyTorch's F.pad, and AveragePool exports that pad first): the gradient is dy without the
// padding, a Slice of the interior; reflect/edge padding and negative pads (crops) are refused by name.
registerGrad('Pad', (c, [dy]) => {
  const x = c.x(0);
  const mode = c.node.attrs.mode?.kind === 'string' ? c.node.attrs.mode.value : 'constant';
  if (mode !== 'constant') noGrad(c.node, `gradient is implemented for mode 'constant' only, got '${mode}'`);
  if (c.node.inputs[3]) noGrad(c.node, "gradient needs pads for every axis (no 'axes' input)");
  const given = shapeInput(c.g, c.node.inputs[1]);
  if (!given?.every((p) => typeof p === 'number')) noGrad(c.node, 'gradient needs constant pads');
  const pads = given as number[];
  if (pads.length !== 2 * x.rank || pads.some((p) => p < 0))
    noGrad(c.node, `gradient needs ${2 * x.rank} non-negative pads, got [${pads.join(', ')}]`);
  const axes = Array.from({ length: x.rank }, (_, i) => i).filter((i) => pads[i] || pads[i + x.rank]);
  if (!axes.length) return [dy];
  const ends = axes.map((i) => (pads[i + x.rank] ? -pads[i + x.rank] : 2 ** 62));
  return [
    op.slice(
      dy!,
      axes.map((i) => pads[i]),
      ends,
      axes,
    ),
  ];
});

registerGrad('Gather', (c, [dy]) => {
  const data = c.x(0),
    idx = c.x(1);
  if (!c.needs[0]) return [undefined, undefined];
  const axis = normAxis(attrInt(c.node, 'axis', 0), data.rank);
  // Rows gathered several times receive the sum of their gradients (ScatterND with add).
  const idx64: Value = idx.dtype === 'int64' ? idx : op.cast(idx, 'int64');
  if (axis === 0) return [op.scatterNDAdd(op.zerosLike(data), op.unsqueeze(idx64, [-1]), dy!), undefined];
  // Another axis: move it to the front (and the index dims of dy with it), scatter there, move it back.
  const r = idx.rank,
    rest = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + i);
  const perm = [axis, ...rest(axis, 0), ...rest(data.rank - axis - 1, axis + 1)];
  const dyPerm = [...rest(r, axis), ...rest(axis, 0), ...rest(data.rank - axis - 1, axis + r)];
  const front = op.scatterNDAdd(op.zerosLike(op.transpose(data, perm)), op.unsqueeze(idx64, [-1]), op.transpose(dy!, dyPerm));
  return [
    op.transpose(
      front,
      perm.map((_, i) => perm.indexOf(i)),
    ),
    undefined,
  ];
});

registerGrad('GatherElements', (c, [dy]) => {
  if (!c.needs[0]) return [undefined, undefined];
  const data = c.x(0),
    idx = c.x(1);
  // An element picked several times (indices drawn with replacement) receives the sum of its gradients.
  return [op.scatterElementsAdd(op.zerosLike(data), idx, dy!, normAxis(attrInt(c.node, 'axis', 0), data.rank)), undefined];
});
