import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { Graph } from '../src/graph/graph.js';
import { lowerConvsToNchwc, NCHWC_DOMAIN } from '../src/graph/nchwc.js';
import * as op from '../src/graph/ops.js';
import { toOnnx } from '../src/graph/onnx.js';
import { crossEntropy } from '../src/nn/losses.js';
import { Model } from '../src/nn/model.js';
import { cnn, resnet } from '../src/nn/zoo/index.js';
import { adam } from '../src/optim/adam.js';
import { probeNchwcBlock } from '../src/runtime/nchwc-probe.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { TrainSession } from '../src/runtime/train-session.js';
import { Rng } from '../src/util/rng.js';

// The NCHWc lowering must change speed only: each case runs a conv, its input and weight gradients with and
// without it and compares. Skipped where ONNX Runtime has no NCHWc kernels (no AVX2, or the browser's wasm).
const block = await probeNchwcBlock('cpu');
const skip = block ? false : 'ONNX Runtime has no NCHWc kernels on this CPU';

interface Case {
  name: string;
  x: number[];
  w: number[];
  bias?: boolean;
  opts?: op.ConvOpts;
  /** Nodes the lowering is expected to rewrite: the forward conv, and the input gradient where its stride is 1. */
  lowered: number;
}

const B = block || 16;
const cases: Case[] = [
  { name: 'blocked input, 3×3 pad 1', x: [3, B, 6, 6], w: [2 * B, B, 3, 3], opts: { pads: [1, 1, 1, 1] }, lowered: 2 },
  { name: 'NCHW input (3 channels), with bias', x: [2, 3, 7, 5], w: [B, 3, 3, 3], bias: true, opts: { pads: [1, 1, 1, 1] }, lowered: 1 },
  { name: '5×5, asymmetric pads', x: [2, 2 * B, 6, 7], w: [B, 2 * B, 5, 5], opts: { pads: [2, 1, 2, 3] }, lowered: 2 },
  // The input gradient of a strided conv needs output_padding-free zero insertion, which stays a ConvTranspose.
  { name: 'stride 2', x: [2, B, 8, 8], w: [B, B, 3, 3], opts: { strides: [2, 2], pads: [1, 1, 1, 1] }, lowered: 1 },
  { name: '1×1', x: [2, B, 4, 4], w: [2 * B, B, 1, 1], bias: true, lowered: 2 },
];

async function runCase(c: Case, lower: boolean) {
  const rng = new Rng(7);
  const g = new Graph('conv');
  const x = g.input('x', 'float32', c.x),
    w = g.input('w', 'float32', c.w);
  const b = c.bias ? g.input('b', 'float32', [c.w[0]]) : undefined;
  const y = op.conv(x, w, b, c.opts);
  const r = g.input('r', 'float32', y.shape);
  const grads = gradients(op.reduceSum(op.mul(y, r), undefined, false), [x, w]);
  const ys = op.identity(y, 'y_out');
  g.output(ys, op.identity(grads.get('x')!, 'dx'), op.identity(grads.get('w')!, 'dw'));
  const n = lower ? lowerConvsToNchwc(g, block) : 0;
  const s = await createSession(toOnnx(g), { threads: 1 });
  const t = (shape: readonly (number | string)[]) =>
    new ort.Tensor(
      'float32',
      Float32Array.from({ length: (shape as number[]).reduce((p, q) => p * q, 1) }, () => rng.normal()),
      shape as number[],
    );
  const feeds: Record<string, ort.Tensor> = { x: t(c.x), w: t(c.w), r: t(y.shape) };
  if (b) feeds.b = t([c.w[0]]);
  const out = await s.run(feeds);
  await s.release();
  return { n, out };
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let scale = 0,
    err = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    err = Math.max(err, Math.abs(a[i] - b[i]));
  }
  return err / scale;
}

describe('NCHWc lowering of training convolutions', { skip }, () => {
  for (const c of cases)
    it(`${c.name}: outputs and gradients match the NCHW graph`, async () => {
      const ref = await runCase(c, false);
      const low = await runCase(c, true);
      assert.equal(low.n, c.lowered, 'lowered node count');
      for (const k of ['y_out', 'dx', 'dw']) {
        const e = maxRelErr(low.out[k].data as Float32Array, ref.out[k].data as Float32Array);
        assert.ok(e < 1e-5, `${k}: relative error ${e}`);
      }
    });

  it('leaves grouped convs, constant weights and channel counts off the block alone', () => {
    const g = new Graph('skip');
    const x = g.input('x', 'float32', [1, 2 * B, 5, 5]);
    op.conv(x, g.input('wg', 'float32', [2 * B, 2, 3, 3]), undefined, { group: B });
    op.conv(x, g.initializer('wc', { dtype: 'float32', shape: [B, 2 * B, 3, 3], data: new Float32Array(2 * B * B * 9) }));
    op.conv(x, g.input('wo', 'float32', [B + 4, 2 * B, 3, 3]));
    assert.equal(lowerConvsToNchwc(g, block), 0);
    assert.ok(g.nodes.every((n) => n.domain !== NCHWC_DOMAIN));
  });

  for (const [name, def, shape] of [
    ['cnn-16-32', () => cnn([B, 2 * B], { inputShape: [1, 12, 12] }), [1, 12, 12]],
    ['resnet8', () => resnet({ depth: 8, inputShape: [3, 8, 8], width: B }), [3, 8, 8]],
  ] as const)
    it(`${name}: three Adam steps end at the same parameters with and without it`, async () => {
      const rng = new Rng(3);
      const x = Float32Array.from({ length: 8 * (shape as readonly number[]).reduce((a, b) => a * b, 1) }, () => rng.normal());
      const labels = BigInt64Array.from({ length: 8 }, (_, i) => BigInt(i % 10));
      const params = async (nchwc: boolean) => {
        const model = new Model(def(), 5);
        const s = await TrainSession.create(
          {
            model,
            optimizer: adam(),
            extraInputs: { labels: { dtype: 'int64', shape: ['N'] } },
            loss: (o, i) => ({ total: crossEntropy(o.logits, i.labels) }),
          },
          { threads: 1, nchwc },
        );
        const losses: number[] = [];
        for (let k = 0; k < 3; k++)
          losses.push(
            (
              await s.run(
                {
                  x: { dtype: 'float32', shape: [8, ...shape], data: x },
                  labels: { dtype: 'int64', shape: [8], data: labels },
                },
                1e-2,
              )
            ).loss,
          );
        s.syncToModel();
        await s.release();
        return { losses, values: model.values };
      };
      const a = await params(true),
        b = await params(false);
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(a.losses[k] - b.losses[k]) < 1e-4, `step ${k}: loss ${a.losses[k]} vs ${b.losses[k]}`);
      for (const [n, v] of b.values) assert.ok(maxRelErr(a.values.get(n)!, v) < 1e-3, `parameter ${n}`);
    });
});
