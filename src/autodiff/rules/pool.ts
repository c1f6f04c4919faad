import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { attrInt, attrInts } from '../../graph/shape-infer.js';
import { A, type Attrs, type Node } from '../../graph/types.js';
import { registerGrad } from '../rule.js';
import { adjointWindow, noGrad, range, spatial, staticSpatial, windowOf, type Window } from './conv.js';

/*
 * Ties in max pooling: where windows tile the input (kernel = stride, no padding) and in the global
 * pools, positions that tie for the maximum share the gradient equally, as the ReduceMax rule does.
 * Otherwise the gradient goes to the single position ORT's Indices output names (the first maximum in
 * the window's scan order, as in PyTorch).
 */

function poolWindow(node: Node): Window {
  const w = windowOf(node, attrInts(node, 'kernel_shape', []));
  if (w.kernel.length === 0) noGrad(node, 'kernel_shape is required');
  return w;
}

/**
 * The block count per axis when windows tile the input (kernel = stride, no padding). With floor
 * rounding the trailing rows that fit no window are simply never read.
 */
function tiling(node: Node, w: Window, S: number[] | undefined): number[] | undefined {
  if (!S || attrInt(node, 'ceil_mode', 0) !== 0) return undefined;
  const ok = S.every(
    (d, i) => w.kernel[i] === w.strides[i] && w.dilations[i] === 1 && w.pads[i] === 0 && w.pads[i + S.length] === 0 && d >= w.kernel[i],
  );
  return ok ? S.map((d, i) => Math.floor(d / w.kernel[i])) : undefined;
}

/** Reshape target [N, C, o1, b1, o2, b2, …] that splits each spatial axis into (block, offset in block). */
const blocked = (o: number[], inner: number[]) => [0, 0, ...o.flatMap((d, i) => [d, inner[i]])];

registerGrad('MaxPool', (c, [dy]) => {
  if (!dy) return [undefined];
  const x = c.x(0),
    node = c.node;
  const w = poolWindow(node);
  const S = staticSpatial(x);
  const o = tiling(node, w, S);
  if (S && o) {
    // Windows tile the input: upsample the pooled max and compare, so argmax positions are found in a
    // few streaming passes (MaxPool's Indices output is an order of magnitude slower in ORT).
    const up = (v: Value) =>
      c.g.node('Resize', [v, '', c.g.initializer('scales', op.f32([1, 1, ...w.kernel]))], {
        mode: A.s('nearest'),
        coordinate_transformation_mode: A.s('asymmetric'),
        nearest_mode: A.s('floor'),
      })[0];
    // Rows past the last whole window get no gradient: work on the covered part, then pad with zeros.
    const covered = o.map((n, i) => n * w.kernel[i]);
    const cropped = covered.some((d, i) => d !== S[i]);
    const xs = cropped
      ? op.slice(
          x,
          covered.map(() => 0),
          covered,
          covered.map((_, i) => i + 2),
        )
      : x;
    const mask = op.cast(op.equal(xs, up(c.y(0))), 'float32');
    const ties = c.g.node('AveragePool', [mask], { kernel_shape: A.ints(w.kernel), strides: A.ints(w.kernel) })[0];
    const share = op.div(
      dy,
      op.scale(
        ties,
        w.kernel.reduce((a, b) => a * b, 1),
      ),
    );
    // A Mul by the 0/1 mask, not a Where: ORT's Where is twice as slow per element as its Mul.
    const dx = op.mul(mask, up(share));
    if (!cropped) return [dx];
    const pads = [0, 0, ...covered.map(() => 0), 0, 0, ...covered.map((d, i) => S[i] - d)];
    return [c.g.node('Pad', [dx, op.ints(c.g, pads, 'pads')], {})[0]];
  }
  // Indices are flat offsets into the whole [N, C, …] input (the first maximum of each window, as in PyTorch).
  const attrs: Attrs = { ...node.attrs };
  delete attrs.storage_order;
  const idx = node.outputs.length > 1 && attrInt(node, 'storage_order', 0) === 0 ? c.y(1) : c.g.node('MaxPool', [x], attrs, { nOut: 2 })[1];
  // Overlapping windows may pick the same position twice, so their gradients must add (ScatterElements).
  // Flatten(axis 0) keeps a symbolic batch inferable.
  const flatX = op.flatten(x, 0);
  const dx = op.scatterElementsAdd(op.zerosLike(flatX), op.flatten(idx, 0), op.flatten(dy, 0), 1);
  return [op.reshapeLike(dx, x)];
});

registerGrad('AveragePool', (c, [dy]) => {
  const x = c.x(0),
    node = c.node,
    g = c.g;
  const w = poolWindow(node);
  const S = spatial(node, x),
    So = spatial(node, c.y(0));
  const t = tiling(node, w, S);
  // The Expand fast path needs windows that cover the input exactly.
  const o = t?.every((n, i) => n * w.kernel[i] === S[i]) ? t : undefined;
  const kn = w.kernel.reduce((a, b) => a * b, 1);
  if (o) {
    const spread = op.expand(
      op.reshape(
        op.scale(dy!, 1 / kn),
        blocked(
          o,
          o.map(() => 1),
        ),
      ),
      [1, 1, ...o.flatMap((d, i) => [d, w.kernel[i]])],
    );
    return [op.reshape(spread, [0, 0, ...S])];
  }
  const C = x.shape[1];
  if (typeof C !== 'number') noGrad(node, `gradient needs a fixed channel count, got ${x.toString()}`);
  // Each output's divisor is read off ORT's own pool of ones (= valid taps / divisor), so the
  // gradient follows its count_include_pad and ceil_mode conventions exactly.
  const ones = (shape: number[]) => g.initializer('ones', op.f32(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape));
  const pooledOnes = g.node('AveragePool', [ones([1, 1, ...S])], node.attrs)[0];
  const perOut = op.div(pooledOnes, g.initializer('valid_taps', op.f32(validTaps(w, S, So), [1, 1, ...So])));
  // The adjoint of a window sum is a depthwise ConvTranspose with an all-ones kernel.
  const adj = adjointWindow(w, S, So);
  const dx = op.convTranspose(op.mul(dy!, perOut), ones([C, 1, ...w.kernel]), {
    strides: w.strides,
    dilations: w.dilations,
    group: C,
    ...adj,
  });
  return [dx];
});

/** Taps of each window that fall inside the unpadded input (at least 1, so an all-padding window divides 0 by 1). */
function validTaps(w: Window, S: number[], So: number[]): Float32Array {
  const perAxis = S.map((size, a) =>
    range(0, So[a]).map(
      (i) =>
        range(0, w.kernel[a]).filter((t) => {
          const p = i * w.strides[a] - w.pads[a] + t * w.dilations[a];
          return p >= 0 && p < size;
        }).length,
    ),
  );
  let counts = [1];
  for (const axis of perAxis) counts = counts.flatMap((n) => axis.map((m) => n * m));
  return Float32Array.from(counts, (n) => Math.max(n, 1));
}

registerGrad('GlobalAveragePool', (c, [dy]) => {
  const x = c.x(0),
    S = staticSpatial(x);
  const n = S
    ? op.scalar(
        c.g,
        S.reduce((a, b) => a * b, 1),
      )
    : op.div(op.cast(c.g.node('Size', [x])[0], 'float32'), op.cast(c.g.node('Size', [c.y(0)])[0], 'float32'));
  return [op.expandLike(op.div(dy!, n), x)];
});

registerGrad('GlobalMaxPool', (c, [dy]) => {
  const x = c.x(0);
  const mask = op.cast(op.equal(x, c.y(0)), 'float32');
  return [op.mul(mask, op.div(dy!, op.reduceSum(mask, range(2, x.rank), true)))];
});
