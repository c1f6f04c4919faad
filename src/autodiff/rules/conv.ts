import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { attrInt, attrInts } from '../../graph/shape-infer.js';
import type { Node } from '../../graph/types.js';
import { KdError } from '../../util/errors.js';
import { registerGrad } from '../rule.js';

/** Sliding-window geometry of a conv or pool node, per spatial axis; `pads` is begins then ends, as in ONNX. */
export interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
}

export function noGrad(node: Node, msg: string): never {
  throw new KdError('NO_GRADIENT', `${node.opType} '${node.name}': ${msg}`);
}

export const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/**
 * Reads a node's window attributes. auto_pad SAME_* is refused: shape inference ignores it too, so such a graph's
 * shapes are already wrong.
 */
export function windowOf(node: Node, kernel: readonly number[]): Window {
  const sp = kernel.length;
  const ap = node.attrs.auto_pad;
  const mode = ap?.kind === 'string' ? ap.value : 'NOTSET';
  if (mode !== 'NOTSET' && mode !== 'VALID') noGrad(node, `gradient needs explicit pads, not auto_pad=${mode}`);
  return {
    kernel: [...kernel],
    strides: [...attrInts(node, 'strides', Array(sp).fill(1))],
    dilations: [...attrInts(node, 'dilations', Array(sp).fill(1))],
    pads: mode === 'VALID' ? Array(2 * sp).fill(0) : [...attrInts(node, 'pads', Array(2 * sp).fill(0))],
  };
}

/** Spatial sizes of `v` when all are fixed. */
export function staticSpatial(v: Value): number[] | undefined {
  const s = v.shape.slice(2);
  return s.every((d): d is number => typeof d === 'number') ? s : undefined;
}

/** Spatial sizes of `v`, which the gradient of `node` needs fixed. */
export function spatial(node: Node, v: Value): number[] {
  return staticSpatial(v) ?? noGrad(node, `gradient needs fixed spatial sizes, got ${v.toString()}`);
}

export function sameShape(a: Value, b: Value): boolean {
  return a.rank === b.rank && a.shape.every((d, i) => d === b.shape[i]);
}

/**
 * Pads and output_padding for the ConvTranspose that is the adjoint of window `w` mapping spatial
 * sizes `inSize` to `outSize`: output_padding restores the trailing rows a floor-mode window never
 * reaches (they get zero gradient), extra end padding crops the overhang of a ceil-mode window.
 */
export function adjointWindow(
  w: Window,
  inSize: readonly number[],
  outSize: readonly number[],
): { pads: number[]; outputPadding?: number[] } {
  const sp = inSize.length;
  const pads = [...w.pads],
    outputPadding: number[] = Array(sp).fill(0);
  for (let i = 0; i < sp; i++) {
    const reach = w.strides[i] * (outSize[i] - 1) + w.dilations[i] * (w.kernel[i] - 1) + 1 - w.pads[i] - w.pads[i + sp];
    if (reach <= inSize[i]) outputPadding[i] = inSize[i] - reach;
    else pads[i + sp] += reach - inSize[i];
  }
  return { pads, outputPadding: outputPadding.some((p) => p > 0) ? outputPadding : undefined };
}

/** dX of Conv: ConvTranspose with the same weight is its adjoint. */
function inputGrad(node: Node, dy: Value, w: Value, x: Value, win: Window, group: number): Value {
  // With unit strides every input row is reached, so no output_padding (and no static size) is needed.
  const adj = win.strides.every((s) => s === 1) ? { pads: win.pads } : adjointWindow(win, spatial(node, x), spatial(node, dy));
  const dx = op.convTranspose(dy, w, { strides: win.strides, dilations: win.dilations, group, ...adj });
  // Symbolic spatial sizes come back renamed; pin them to x's.
  return sameShape(dx, x) ? dx : op.reshapeLike(dx, x);
}

/**
 * dW of a Conv(inp, W) whose output gradient is `gout`, as one forward Conv that slides inp under
 * gout (MLAS' fast path). Swapping batch and channel axes turns the batch into the conv's reduced
 * channel axis; the gradient's taps lie `stride` apart in inp and successive kernel taps `dilation`
 * apart, so the two swap roles.
 */
export function weightGrad(node: Node, inp: Value, gout: Value, win: Window, group: number): Value {
  const S = spatial(node, inp),
    So = spatial(node, gout),
    sp = S.length;
  const sAx = range(2, 2 + sp);
  const C = inp.shape[1];
  if (typeof C !== 'number') noGrad(node, `gradient needs a fixed channel count, got ${inp.toString()}`);
  if (group === 1) return weightGradIm2col(inp, gout, win, S, So, C);
  const cg = C / group;
  // A grouped conv splits channels into contiguous blocks, so the merged axis must be group-major:
  // [N, g, Cg, S] → [g, N, Cg, S] → [g·N, Cg, S] → [Cg, g·N, S]. Flatten merges g and N even when N is
  // symbolic, where a Reshape with -1 could not be shape-inferred.
  const byGroup = op.transpose(op.reshape(inp, [0, group, cg, ...S]), [1, 0, ...range(2, 3 + sp)]);
  const xt = op.transpose(op.reshape(op.flatten(byGroup, 2), [0, cg, ...S]), [1, 0, ...sAx]);
  const wt = op.transpose(gout, [1, 0, ...sAx]);
  let dw = op.conv(xt, wt, undefined, { strides: win.dilations, dilations: win.strides, pads: win.pads, group });
  // Taps beyond the kernel pair gout with input rows the forward conv never read.
  if ((dw.shape.slice(2) as number[]).some((d, i) => d > win.kernel[i])) dw = op.slice(dw, Array(sp).fill(0), win.kernel, sAx);
  return op.transpose(dw, [1, 0, ...sAx]);
}

/**
 * dW of an ungrouped conv as GEMMs: dW[co, ci, tap] = Σ_(n, o) dy[co, (n, o)] · cols_tap[ci, (n, o)], where cols_tap
 * holds the input rows that tap met (a strided Slice of the padded input). The conv-of-transposes form reduces over
 * N·H·W inside a conv whose output is only kernel-sized, which MLAS runs an order of magnitude below GEMM speed on
 * large layers. From 8 input channels on, one GEMM per tap beats one GEMM over the concatenated taps: the Concat is
 * another pass over 9× the activation (ResNet-20's 16→16 at 32²: 39 → 18 ms at batch 128); below that a per-tap
 * GEMM is too thin and the Concat is cheap (3→16 at 32²: 6.2 ms concatenated, 11.5 per tap).
 */
function weightGradIm2col(inp: Value, gout: Value, win: Window, S: number[], So: number[], C: number): Value {
  const sp = S.length,
    sAx = range(2, 2 + sp);
  const Co = gout.shape[1] as number;
  let xt = op.transpose(inp, [1, 0, ...sAx]); // [C, N, S]
  if (win.pads.some((p) => p > 0))
    xt = xt.graph.node('Pad', [xt, op.ints(xt.graph, [0, 0, ...win.pads.slice(0, sp), 0, 0, ...win.pads.slice(sp)])], {})[0];
  const taps: number[][] = [[]];
  for (const k of win.kernel) taps.splice(0, taps.length, ...taps.flatMap((t) => range(0, k).map((i) => [...t, i])));
  const cols = taps.map((t) => {
    const starts = t.map((i, a) => i * win.dilations[a]);
    const ends = starts.map((st, a) => st + win.strides[a] * (So[a] - 1) + 1);
    return op.slice(xt, starts, ends, sAx, win.strides); // [C, N, So]
  });
  const dyMat = op.reshape(op.transpose(gout, [1, 0, ...sAx]), [Co, -1]);
  if (C >= 8 && cols.length > 1) {
    const perTap = cols.map((col) => op.unsqueeze(op.gemm(dyMat, op.reshape(col, [C, -1]), undefined, { transB: true }), [2]));
    return op.reshape(op.concat(perTap, 2), [Co, C, ...win.kernel]);
  }
  const colMat = op.reshape(
    cols.length === 1
      ? cols[0]
      : op.concat(
          cols.map((col) => op.unsqueeze(col, [1])),
          1,
        ),
    [C * taps.length, -1],
  );
  return op.reshape(op.gemm(dyMat, colMat, undefined, { transB: true }), [Co, C, ...win.kernel]);
}

function biasGrad(dy: Value): Value {
  return op.reduceSum(dy, [0, ...range(2, dy.rank)], false);
}

registerGrad('Conv', (c, [dy]) => {
  const x = c.x(0),
    w = c.x(1),
    node = c.node;
  const group = attrInt(node, 'group', 1);
  const win = windowOf(node, spatial(node, w));
  return [
    c.needs[0] ? inputGrad(node, dy!, w, x, win, group) : undefined,
    c.needs[1] ? weightGrad(node, x, dy!, win, group) : undefined,
    c.node.inputs[2] && c.needs[2] ? biasGrad(dy!) : undefined,
  ];
});

// ConvTranspose(x, W) is the adjoint of Conv(·, W) with the same attributes, so its gradients are
// Conv's with the roles of input and output swapped.
registerGrad('ConvTranspose', (c, [dy]) => {
  const x = c.x(0),
    w = c.x(1),
    node = c.node;
  if (node.attrs.output_shape) noGrad(node, 'gradient needs explicit pads and output_padding, not output_shape');
  const group = attrInt(node, 'group', 1);
  const win = windowOf(node, spatial(node, w));
  const opad = attrInts(node, 'output_padding', []);
  // Larger output_padding adds rows no input reaches and would make the adjoint Conv overshoot x.
  if (opad.some((p, i) => p >= win.strides[i])) noGrad(node, `output_padding [${opad}] must be below the strides [${win.strides}]`);
  let dx: Value | undefined;
  if (c.needs[0]) {
    dx = op.conv(dy!, w, undefined, { strides: win.strides, dilations: win.dilations, pads: win.pads, group });
    if (!sameShape(dx, x)) dx = op.reshapeLike(dx, x);
  }
  return [dx, c.needs[1] ? weightGrad(node, dy!, x, win, group) : undefined, c.node.inputs[2] && c.needs[2] ? biasGrad(dy!) : undefined];
});
