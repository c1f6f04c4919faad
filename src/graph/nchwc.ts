import type { Graph } from './graph.js';
import * as op from './ops.js';
import { attrInt, attrInts } from './shape-infer.js';
import { A, type Node } from './types.js';

/** The domain of ONNX Runtime's blocked-layout CPU kernels (ReorderInput, ReorderOutput, Conv over NCHWc tensors). */
export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

/**
 * Rewrites the training step's convolutions onto ONNX Runtime's NCHWc kernels, whose blocked layout runs 1.5–2×
 * faster than its NCHW im2col path on AVX2/AVX-512 (docs/performance.md). ORT applies that layout itself only to
 * convolutions with constant weights, so in a training step, where weights are inputs, it never does; here the
 * weight is reordered inside the graph each step, which costs a pass over a small tensor.
 *
 * Rewritten, with `block` the kernels' channel block (16 with AVX-512, 8 with AVX2):
 * - forward Conv (group 1, weight not an initializer) with output channels a multiple of the block, from an input
 *   whose channels are a multiple of the block or fewer than it (MLAS' direct NCHW-input kernel);
 * - the input gradient ConvTranspose of a stride-1 conv: the same correlation with the kernel flipped and
 *   in/out channels swapped, as a forward NCHWc Conv.
 * Activations stay NCHW between nodes (ReorderInput / ReorderOutput around each conv), so every other op and
 * rule sees the layout it was written for. Numbers are those of the plain Conv up to float summation order.
 */
export function lowerConvsToNchwc(g: Graph, block: number): number {
  const nodes = g.nodes.splice(0, g.nodes.length);
  let lowered = 0;
  for (const n of nodes) {
    const plan = n.domain
      ? undefined
      : n.opType === 'Conv'
        ? forwardPlan(g, n, block)
        : n.opType === 'ConvTranspose'
          ? adjointPlan(g, n, block)
          : undefined;
    if (!plan) {
      g.nodes.push(n);
      continue;
    }
    emit(g, n, plan, block);
    lowered++;
  }
  return lowered;
}

interface Plan {
  /** Input channels of the NCHWc conv and its output channels. */
  cin: number;
  cout: number;
  /** Whether the weight needs flipping and swapping (a ConvTranspose's adjoint form). */
  adjoint: boolean;
  pads: number[];
  strides: number[];
  dilations: number[];
  kernel: number[];
}

const fixed = (d: unknown): d is number => typeof d === 'number';

function forwardPlan(g: Graph, n: Node, block: number): Plan | undefined {
  if (attrInt(n, 'group', 1) !== 1 || g.constant(n.inputs[1]) || isAutoPad(n)) return undefined;
  const x = g.info.get(n.inputs[0]),
    w = g.info.get(n.inputs[1]);
  if (!x || !w || x.shape.length !== 4 || w.shape.length !== 4 || !w.shape.every(fixed)) return undefined;
  const [cout, cin, kh, kw] = w.shape as number[];
  if (cout % block || (cin % block && cin >= block)) return undefined;
  return {
    cin,
    cout,
    adjoint: false,
    kernel: [kh, kw],
    pads: [...attrInts(n, 'pads', [0, 0, 0, 0])],
    strides: [...attrInts(n, 'strides', [1, 1])],
    dilations: [...attrInts(n, 'dilations', [1, 1])],
  };
}

function adjointPlan(g: Graph, n: Node, block: number): Plan | undefined {
  if (attrInt(n, 'group', 1) !== 1 || isAutoPad(n) || n.attrs.output_shape) return undefined;
  if (attrInts(n, 'output_padding', []).some((p) => p !== 0)) return undefined;
  if (attrInts(n, 'strides', [1, 1]).some((s) => s !== 1) || attrInts(n, 'dilations', [1, 1]).some((d) => d !== 1)) return undefined;
  const w = g.info.get(n.inputs[1]);
  if (w?.shape.length !== 4 || !w.shape.every(fixed) || n.inputs[2]) return undefined;
  // ConvTranspose weights are [in, out, kh, kw]; the equivalent correlation pads by k − 1 − p.
  const [cin, cout, kh, kw] = w.shape as number[];
  if (cin % block || cout % block) return undefined;
  const p = attrInts(n, 'pads', [0, 0, 0, 0]);
  const pads = p.map((v, i) => [kh, kw][i % 2] - 1 - v);
  if (pads.some((v) => v < 0)) return undefined;
  return { cin, cout, adjoint: true, kernel: [kh, kw], pads, strides: [1, 1], dilations: [1, 1] };
}

function isAutoPad(n: Node): boolean {
  const a = n.attrs.auto_pad;
  return a?.kind === 'string' && a.value !== 'NOTSET';
}

/** Emits ReorderInput → NCHWc Conv (weight reordered in-graph) → ReorderOutput, the last writing `n`'s output. */
function emit(g: Graph, n: Node, p: Plan, block: number): void {
  const scope = n.name.replace(/\//g, '.');
  g.scoped(`${scope}.nchwc`, () => {
    const w = weightBlocks(g, n.inputs[1], p, block);
    const blockedIn = p.cin % block === 0;
    const x = blockedIn ? raw(g, 'ReorderInput', [n.inputs[0]], {}, `${n.name}/nchwc_in`) : n.inputs[0];
    const y = raw(
      g,
      'Conv',
      [x, w, ...(p.adjoint ? [] : n.inputs.slice(2))],
      {
        kernel_shape: A.ints(p.kernel),
        pads: A.ints(p.pads),
        strides: A.ints(p.strides),
        dilations: A.ints(p.dilations),
      },
      `${n.name}/nchwc`,
    );
    g.nodes.push({
      name: `${n.name}/nchwc_out`,
      opType: 'ReorderOutput',
      inputs: [y],
      outputs: [n.outputs[0]],
      attrs: { channels: A.i(p.cout) },
      domain: NCHWC_DOMAIN,
    });
  });
}

/** A node of the NCHWc domain, pushed as is: shape inference does not know these ops, and nothing downstream reads their shapes. */
function raw(g: Graph, opType: string, inputs: string[], attrs: Node['attrs'], name: string): string {
  const out = g.uniqueName(name, true);
  g.nodes.push({ name: out, opType, inputs, outputs: [out], attrs, domain: NCHWC_DOMAIN });
  return out;
}

/**
 * The weight in MLAS' filter layout: OIHWBiBo ([O/B, I/B, kh, kw, Bi, Bo]) for a blocked input, OIHWBo for the direct
 * NCHW-input kernel; an adjoint weight [I, O, kh, kw] is flipped and read with in and out swapped on the way.
 */
function weightBlocks(g: Graph, name: string, p: Plan, block: number): string {
  let w = g.value(name);
  const [kh, kw] = p.kernel;
  const B = block;
  if (p.adjoint) {
    w = op.slice(w, [-1, -1], [-(2 ** 31), -(2 ** 31)], [2, 3], [-1, -1]);
    // [I/B, Bi, O/B, Bo, kh, kw] → [O/B, I/B, kh, kw, Bi, Bo]
    const t = op.transpose(op.reshape(w, [p.cin / B, B, p.cout / B, B, kh, kw]), [2, 0, 4, 5, 1, 3]);
    return op.reshape(t, [p.cout, p.cin, kh, kw]).name;
  }
  if (p.cin % B === 0) {
    // [O/B, Bo, I/B, Bi, kh, kw] → [O/B, I/B, kh, kw, Bi, Bo]
    const t = op.transpose(op.reshape(w, [p.cout / B, B, p.cin / B, B, kh, kw]), [0, 2, 4, 5, 3, 1]);
    return op.reshape(t, [p.cout, p.cin, kh, kw]).name;
  }
  // [O/B, Bo, I, kh, kw] → [O/B, I, kh, kw, Bo]
  const t = op.transpose(op.reshape(w, [p.cout / B, B, p.cin, kh, kw]), [0, 2, 3, 4, 1]);
  return op.reshape(t, [p.cout, p.cin, kh, kw]).name;
}
