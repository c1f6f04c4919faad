import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { Graph, type Value } from '../src/graph/graph.js';
import * as op from '../src/graph/ops.js';
import { toOnnx } from '../src/graph/onnx.js';
import { A } from '../src/graph/types.js';
import { createSession, toOrt } from '../src/runtime/ort.js';
import { awayFromZero, distinct, gradCheck } from './helpers/gradcheck.js';

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  bias?: boolean;
  opts?: op.ConvOpts;
}

const convCases: ConvCase[] = [
  { name: '3x3 pad 1 stride 1', x: [2, 3, 5, 5], w: [4, 3, 3, 3], opts: { pads: [1, 1, 1, 1] } },
  { name: 'stride 2 with pad, with bias', x: [1, 2, 6, 6], w: [3, 2, 3, 3], bias: true, opts: { strides: [2, 2], pads: [1, 1, 1, 1] } },
  { name: 'dilation 2', x: [1, 2, 7, 7], w: [2, 2, 3, 3], opts: { dilations: [2, 2], pads: [2, 1, 2, 1] } },
  { name: '1x1', x: [2, 4, 3, 3], w: [3, 4, 1, 1], bias: true },
  { name: 'asymmetric pads, rectangular kernel', x: [1, 2, 5, 4], w: [3, 2, 3, 2], opts: { pads: [0, 1, 2, 0] } },
  // (8 + 1 − 2) % 3 = 1 and (7 + 1 − 3) % 2 = 1: trailing rows the forward never reads.
  { name: 'stride leaves a remainder', x: [1, 2, 8, 7], w: [2, 2, 2, 3], opts: { strides: [3, 2], pads: [1, 0, 0, 1] } },
  {
    name: 'stride 2 dilation 2 with remainder',
    x: [1, 2, 9, 8],
    w: [2, 2, 3, 2],
    opts: { strides: [2, 2], dilations: [2, 2], pads: [1, 0, 0, 1] },
  },
  { name: 'group=2', x: [2, 4, 5, 5], w: [6, 2, 3, 3], bias: true, opts: { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] } },
  { name: 'depthwise, multiplier 1', x: [2, 3, 5, 5], w: [3, 1, 3, 3], opts: { group: 3, pads: [1, 1, 1, 1] } },
  {
    name: 'depthwise, multiplier 2, stride 2',
    x: [2, 3, 6, 5],
    w: [6, 1, 3, 3],
    bias: true,
    opts: { group: 3, strides: [2, 2], pads: [1, 1, 1, 1] },
  },
  { name: '1-D, stride 2, dilation 2', x: [2, 3, 9], w: [4, 3, 3], bias: true, opts: { strides: [2], dilations: [2], pads: [1, 2] } },
  // From 8 input channels the weight gradient is one GEMM per kernel tap instead of one over concatenated taps.
  { name: '8 input channels (per-tap GEMMs), pad 1', x: [2, 8, 4, 4], w: [3, 8, 3, 3], opts: { pads: [1, 1, 1, 1] } },
  {
    name: '8 input channels, stride 2 dilation 2 with remainder, rectangular kernel',
    x: [1, 8, 8, 7],
    w: [2, 8, 3, 2],
    bias: true,
    opts: { strides: [2, 2], dilations: [2, 2], pads: [1, 0, 0, 1] },
  },
  { name: '1-D depthwise', x: [2, 2, 7], w: [4, 1, 3], opts: { group: 2, strides: [2] } },
];

describe('gradient rules: conv', () => {
  for (const k of convCases) {
    it(`Conv ${k.name}`, async () => {
      await gradCheck({
        inputs: { x: { shape: k.x }, w: { shape: k.w }, ...(k.bias ? { b: { shape: [k.w[0]] } } : {}) },
        build: (_g, v) => op.conv(v.x, v.w, v.b, k.opts),
      });
    });
  }

  it('ConvTranspose stride 2 with output_padding and bias', async () => {
    await gradCheck({
      inputs: { x: { shape: [2, 3, 3, 3] }, w: { shape: [3, 2, 3, 3] }, b: { shape: [2] } },
      build: (g, v) =>
        g.node('ConvTranspose', [v.x, v.w, v.b], {
          strides: A.ints([2, 2]),
          pads: A.ints([1, 0, 1, 1]),
          output_padding: A.ints([1, 0]),
          kernel_shape: A.ints([3, 3]),
        })[0],
    });
  });
  it('ConvTranspose with dilation and groups', async () => {
    await gradCheck({
      inputs: { x: { shape: [1, 4, 3, 4] }, w: { shape: [4, 1, 2, 3] } },
      build: (_g, v) => op.convTranspose(v.x, v.w, { strides: [1, 2], dilations: [2, 1], pads: [0, 1, 1, 0], group: 2 }),
    });
  });

  // Differentiating a gradient runs the rules on what Conv's rule emitted: ConvTranspose for dX and
  // a Conv with strides and dilations swapped for dW.
  for (const wrt of ['x', 'w'] as const) {
    it(`second order through Conv's d${wrt.toUpperCase()}`, async () => {
      await gradCheck({
        inputs: { x: { shape: [2, 2, 6, 5] }, w: { shape: [4, 1, 3, 3] } },
        build: (_g, v) => {
          const y = op.conv(v.x, v.w, undefined, { strides: [2, 2], pads: [1, 0, 0, 1], group: 2 });
          const inner = op.reduceSum(op.tanh(y));
          return gradients(inner, [v[wrt]]).get(v[wrt].name)!;
        },
      });
    });
  }
});

describe('gradient rules: pooling', () => {
  it('MaxPool 2x2 stride 2 (tiling fast path)', async () => {
    await gradCheck({
      inputs: { x: { shape: [2, 3, 4, 6], data: distinct(144) } },
      build: (_g, v) => op.maxPool(v.x, { kernel: [2, 2] })[0],
    });
  });
  it('MaxPool 3x3 stride 2 pad 1 (overlapping windows)', async () => {
    await gradCheck({
      inputs: { x: { shape: [2, 2, 7, 6], data: distinct(168) } },
      build: (_g, v) => op.maxPool(v.x, { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })[0],
      samples: 40,
    });
  });
  it('MaxPool 2x2 stride 2 on an odd size, reusing the Indices output', async () => {
    await gradCheck({
      inputs: { x: { shape: [1, 2, 5, 5], data: distinct(50) } },
      build: (_g, v) => op.maxPool(v.x, { kernel: [2, 2] }, true)[0],
    });
  });
  it('MaxPool 1-D', async () => {
    await gradCheck({
      inputs: { x: { shape: [2, 2, 9], data: distinct(36) } },
      build: (_g, v) => op.maxPool(v.x, { kernel: [3], strides: [2] })[0],
    });
  });
  it('MaxPool ties share the gradient in the tiling path', async () => {
    const g = new Graph('ties');
    const x = g.input('x', 'float32', ['N', 1, 2, 4]);
    const loss = op.reduceSum(op.maxPool(x, { kernel: [2, 2] })[0]);
    const dx = gradients(loss, [x]).get('x')!;
    g.output(dx);
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const out = await sess.run({ x: toOrt(op.f32([1, 1, 0, 2, 1, 1, 0, 0], [1, 1, 2, 4])) });
    assert.deepEqual(Array.from(out[dx.name].data as Float32Array), [0.25, 0.25, 0, 1, 0.25, 0.25, 0, 0]);
    await sess.release();
  });

  it('AveragePool 2x2 stride 2 (tiling fast path)', async () => {
    await gradCheck({ inputs: { x: { shape: [2, 3, 4, 6] } }, build: (_g, v) => op.avgPool(v.x, { kernel: [2, 2] }) });
  });
  for (const countIncludePad of [false, true]) {
    it(`AveragePool 3x3 stride 2 pad 1, count_include_pad=${countIncludePad ? 1 : 0}`, async () => {
      await gradCheck({
        inputs: { x: { shape: [1, 2, 7, 6] } },
        build: (_g, v) => op.avgPool(v.x, { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad }),
        samples: 40,
      });
    });
    // H: (6 − 3) / 2 rounds up, so the last row window overhangs the input.
    it(`AveragePool ceil_mode with asymmetric pads, count_include_pad=${countIncludePad ? 1 : 0}`, async () => {
      await gradCheck({
        inputs: { x: { shape: [1, 2, 6, 5] } },
        build: (g, v) =>
          g.node('AveragePool', [v.x], {
            kernel_shape: A.ints([3, 2]),
            strides: A.ints([2, 2]),
            pads: A.ints([0, 1, 0, 0]),
            ceil_mode: A.i(1),
            count_include_pad: A.i(countIncludePad ? 1 : 0),
          })[0],
      });
    });
  }
  it('GlobalAveragePool', async () => {
    await gradCheck({ inputs: { x: { shape: [2, 3, 3, 4] } }, build: (_g, v) => op.globalAvgPool(v.x) });
  });
  it('GlobalMaxPool', async () => {
    await gradCheck({ inputs: { x: { shape: [2, 3, 3, 4], data: distinct(72) } }, build: (g, v) => g.node('GlobalMaxPool', [v.x])[0] });
  });
});

describe('gradient rules: normalisation', () => {
  const bn = (x: Value, s: Value, b: Value, m: Value, v: Value) =>
    x.graph.node('BatchNormalization', [x, s, b, m, v], { epsilon: A.f(1e-3) })[0];
  it('BatchNormalization (inference form) wrt x, scale, B, mean, var', async () => {
    await gradCheck({
      inputs: {
        x: { shape: [2, 3, 2, 3] },
        s: { shape: [3] },
        b: { shape: [3] },
        m: { shape: [3] },
        v: { shape: [3], data: [0.5, 1.2, 2] },
      },
      build: (_g, i) => bn(i.x, i.s, i.b, i.m, i.v),
    });
  });
  it('BatchNormalization on [N, C] wrt x', async () => {
    await gradCheck({
      inputs: { x: { shape: [4, 3] }, s: { shape: [3] }, b: { shape: [3] }, m: { shape: [3] }, v: { shape: [3], data: [0.5, 1.2, 2] } },
      wrt: ['x', 's'],
      build: (_g, i) => bn(i.x, i.s, i.b, i.m, i.v),
    });
  });
  const ln = (x: Value, s: Value, b: Value | undefined, axis: number) =>
    x.graph.node('LayerNormalization', b ? [x, s, b] : [x, s], { axis: A.i(axis), epsilon: A.f(1e-4) })[0];
  it('LayerNormalization over the last axis, with bias', async () => {
    await gradCheck({ inputs: { x: { shape: [2, 3, 5] }, s: { shape: [5] }, b: { shape: [5] } }, build: (_g, v) => ln(v.x, v.s, v.b, -1) });
  });
  it('LayerNormalization over the last two axes, without bias', async () => {
    await gradCheck({ inputs: { x: { shape: [2, 3, 4] }, s: { shape: [3, 4] } }, build: (_g, v) => ln(v.x, v.s, undefined, 1) });
  });
  it('LayerNormalization with a broadcast scale', async () => {
    await gradCheck({
      inputs: { x: { shape: [3, 2, 4], data: awayFromZero(24) }, s: { shape: [1, 4] }, b: { shape: [4] } },
      build: (_g, v) => ln(v.x, v.s, v.b, -2),
    });
  });
});

describe('gradient rules: symbolic batch', () => {
  it('conv/pool/norm gradients build with batch N and run at two batch sizes', async () => {
    const g = new Graph('symbolic');
    const x = g.input('x', 'float32', ['N', 4, 8, 7]);
    const w = g.input('w', 'float32', [6, 2, 3, 3]);
    const p = (name: string, shape: number[], v: number[]) =>
      g.initializer(name, op.f32(v.length === 1 ? Array(shape[0]).fill(v[0]) : v, shape));
    let h = op.conv(x, w, undefined, { strides: [2, 2], pads: [1, 1, 1, 1], group: 2 });
    h = g.node('BatchNormalization', [h, p('s', [6], [1.5]), p('b', [6], [0.1]), p('m', [6], [0.2]), p('v', [6], [2])], {})[0];
    h = op.maxPool(h, { kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] })[0];
    h = op.add(op.maxPool(h, { kernel: [2, 2] })[0], op.avgPool(h, { kernel: [2, 2] }));
    h = op.avgPool(h, { kernel: [2, 2], strides: [1, 1], pads: [0, 0, 1, 1] });
    h = g.node('LayerNormalization', [h, p('ls', [2], [1, 2])], { axis: A.i(-1) })[0];
    h = op.add(op.globalAvgPool(h), g.node('GlobalMaxPool', [h])[0]);
    const loss = op.reduceSum(op.mul(h, h));
    const grads = gradients(loss, [x, w]);
    const dx = grads.get('x')!,
      dw = grads.get('w')!;
    assert.deepEqual(dx.shape, x.shape);
    assert.deepEqual(dw.shape, w.shape);
    g.output(dx, dw);
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const data = distinct(3 * 4 * 8 * 7, 5, 0.01);
    const wData = awayFromZero(6 * 2 * 3 * 3);
    const run = async (n: number) => {
      const out = await sess.run({ x: toOrt(op.f32(data.slice(0, n * 224), [n, 4, 8, 7])), w: toOrt(op.f32(wData, [6, 2, 3, 3])) });
      return out[dx.name].data as Float32Array;
    };
    const one = await run(1),
      three = await run(3);
    assert.equal(three.length, 3 * 224);
    // Samples do not interact, so sample 0's input gradient is the same in both batches.
    one.forEach((v, i) => assert.ok(Math.abs(v - three[i]) <= 1e-5 + 1e-4 * Math.abs(v), `dx[${i}]: ${v} vs ${three[i]}`));
    await sess.release();
  });
});

describe('hand-written gradients (custom-gradient composites)', () => {
  it('train-mode BatchNorm (closed-form backward) matches finite differences', async () => {
    const { BuildContext } = await import('../src/nn/context.js');
    const { BatchNorm } = await import('../src/nn/layers/norm.js');
    await gradCheck({
      inputs: {
        x: { shape: [3, 2, 2, 3] },
        'bn/weight': { shape: [2], data: [1.3, 0.7] },
        'bn/bias': { shape: [2], data: [0.2, -0.4] },
        'bn/running_mean': { shape: [2], data: [0, 0] },
        'bn/running_var': { shape: [2], data: [1, 1] },
      },
      wrt: ['x', 'bn/weight', 'bn/bias'],
      build: (g, v) => op.tanh(new BatchNorm('bn', 2).apply(new BuildContext(g, 'train'), v.x)),
    });
  });
});

describe('pool gradients over sizes the windows do not cover exactly', () => {
  it('MaxPool 2×2 on 5×7 (floor drops the last row and column)', async () => {
    await gradCheck({
      inputs: { x: { shape: [2, 2, 5, 7], data: distinct(140, 21) } },
      build: (_g, v) => op.maxPool(v.x, { kernel: [2, 2] })[0],
    });
  });
  it('AveragePool 2×2 on 5×7', async () => {
    await gradCheck({ inputs: { x: { shape: [1, 2, 5, 7] } }, build: (_g, v) => op.avgPool(v.x, { kernel: [2, 2] }) });
  });
});
