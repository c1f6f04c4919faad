import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { Graph } from '../src/graph/graph.js';
import * as op from '../src/graph/ops.js';
import { toOnnx } from '../src/graph/onnx.js';
import { A } from '../src/graph/types.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { gradCheck } from './helpers/gradcheck.js';

describe('gradient rules: Resize (nearest, integer scales)', () => {
  it('forward copies each element into a k×k block, as F.interpolate(mode="nearest")', async () => {
    const g = new Graph('m');
    const x = g.input('x', 'float32', ['N', 1, 2, 2]);
    const y = op.resizeNearest(x, [1, 1, 2, 3]);
    assert.deepEqual(y.shape, ['N', 1, 4, 6]);
    g.output(y);
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const r = await sess.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [1, 1, 2, 2]) });
    assert.deepEqual(Array.from(r[y.name].data as Float32Array), [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4]);
    await sess.release();
  });

  const cases: { name: string; shape: number[]; scales: number[] }[] = [
    { name: '2×2 on NCHW', shape: [2, 3, 3, 4], scales: [1, 1, 2, 2] },
    { name: 'rectangular 3×2', shape: [1, 2, 2, 3], scales: [1, 1, 3, 2] },
    { name: 'one spatial axis only', shape: [2, 2, 3, 2], scales: [1, 1, 1, 4] },
    { name: 'from a 1×1 map (pooled feature)', shape: [3, 4, 1, 1], scales: [1, 1, 4, 4] },
    { name: '1-D', shape: [2, 2, 5], scales: [1, 1, 3] },
  ];
  for (const k of cases) {
    it(`Resize nearest ${k.name}`, async () => {
      await gradCheck({ inputs: { x: { shape: k.shape } }, build: (_g, v) => op.resizeNearest(v.x, k.scales), samples: 40 });
    });
  }

  it('half_pixel + round_prefer_floor (the ONNX defaults) replicates blocks too', async () => {
    await gradCheck({
      inputs: { x: { shape: [1, 2, 3, 3] } },
      build: (g, v) => g.node('Resize', [v.x, '', g.initializer('scales', op.f32([1, 1, 3, 2]))], { mode: A.s('nearest') })[0],
    });
  });

  it('keeps a symbolic batch', () => {
    const g = new Graph('m');
    const x = g.input('x', 'float32', ['N', 2, 3, 3]);
    const dx = gradients(op.reduceSum(op.resizeNearest(x, [1, 1, 2, 2])), [x]).get('x')!;
    assert.deepEqual(dx.shape, ['N', 2, 3, 3]);
  });

  it('refuses fractional scales and other modes by name', () => {
    const grad = (scales: number[], attrs: Record<string, string>) => {
      const g = new Graph('m');
      const x = g.input('x', 'float32', [1, 1, 4, 4]);
      const y = g.node(
        'Resize',
        [x, '', g.initializer('scales', op.f32(scales))],
        Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, A.s(v)])),
        { name: 'up' },
      )[0];
      return () => gradients(op.reduceSum(y), [x]);
    };
    assert.throws(grad([1, 1, 1.5, 1.5], { mode: 'nearest' }), /Resize 'up': .*integer scale ≥ 1 per axis, got \[1, 1, 1\.5, 1\.5\]/);
    assert.throws(grad([1, 1, 0.5, 0.5], { mode: 'nearest' }), /integer scale/);
    assert.throws(grad([1, 1, 2, 2], { mode: 'linear' }), /mode 'nearest' only, got 'linear'/);
    assert.throws(grad([1, 1, 2, 2], { mode: 'nearest', coordinate_transformation_mode: 'align_corners' }), /got 'align_corners'/);
  });
});
