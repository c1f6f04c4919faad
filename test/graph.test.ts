import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Graph } from '../src/graph/graph.js';
import * as op from '../src/graph/ops.js';
import { parseOnnx, toOnnx } from '../src/graph/onnx.js';
import { createSession, toOrt } from '../src/runtime/ort.js';
import { KdError } from '../src/util/errors.js';

describe('graph builder', () => {
  it('infers shapes with a symbolic batch and names every node', () => {
    const g = new Graph('m');
    const x = g.input('x', 'float32', ['N', 1, 28, 28]);
    const w = g.initializer('w', op.f32(new Array(8 * 9).fill(0.1), [8, 1, 3, 3]), true);
    const y = g.scoped('block1', () => op.conv(x, w, undefined, { pads: [1, 1, 1, 1], name: 'conv' }));
    assert.deepEqual(y.shape, ['N', 8, 28, 28]);
    assert.equal(y.name, 'block1/conv');
    const p = op.maxPool(y, { kernel: [2, 2] })[0];
    assert.deepEqual(p.shape, ['N', 8, 14, 14]);
    const f = op.reshape(p, [0, -1]);
    assert.deepEqual(f.shape, ['N', 8 * 14 * 14]);
    assert.ok(g.nodes.every((n) => n.name.length > 0));
    assert.equal(new Set(g.nodes.map((n) => n.name)).size, g.nodes.length);
  });

  it('reports shape mismatches with both shapes', () => {
    const g = new Graph('m');
    const a = g.input('a', 'float32', ['N', 3]);
    const b = g.input('b', 'float32', [4, 2]);
    assert.throws(
      () => op.matmul(a, b),
      (e: unknown) => e instanceof KdError && /\[N, 3\].*\[4, 2\]/.test(e.message),
    );
  });

  it('serialises to ONNX that onnxruntime runs, and parses back', async () => {
    const g = new Graph('m');
    const x = g.input('x', 'float32', ['N', 3]);
    const w = g.initializer('w', op.f32([1, 2, 3, 4, 5, 6], [3, 2]), true);
    const y = op.relu(op.matmul(x, w), 'out');
    g.output(y);
    const bytes = toOnnx(g);
    const m = parseOnnx(bytes);
    assert.equal(m.graph!.node.length, 2);
    assert.equal(m.opsetImport[0].version, 18n);
    const s = await createSession(bytes, { threads: 1 });
    const r = await s.run({ x: toOrt(op.f32([1, 0, -1, 0, 0, 2], [2, 3])) });
    assert.deepEqual(Array.from(r.out.data as Float32Array), [0, 0, 10, 12]);
    await s.release();
  });

  it('rejects bytes that are not ONNX', () => {
    assert.throws(() => parseOnnx(new Uint8Array([0xff, 0xff, 0xff, 0x01]), 'bad.onnx'), /bad.onnx is not a valid ONNX file/);
  });
});

describe('graph builder catches mistakes while building', () => {
  it('reshape with a different element count', () => {
    const g = new Graph('m');
    const x = g.input('x', 'float32', [2, 6]);
    assert.throws(() => op.reshape(x, [4, 4]), /cannot reshape \[2, 6\] \(12 elements\) to \[4, 4\] \(16 elements\)/);
    assert.throws(() => op.reshape(x, [5, -1]), /do not divide/);
  });
  it('different windows over a symbolic size give different symbols', () => {
    const g = new Graph('m');
    const x = g.input('x', 'float32', ['N', 1, 'H', 'W']);
    const w3 = g.initializer('w3', op.f32(new Array(9).fill(0), [1, 1, 3, 3]), true);
    const w5 = g.initializer('w5', op.f32(new Array(25).fill(0), [1, 1, 5, 5]), true);
    const a = op.conv(x, w3),
      b = op.conv(x, w5);
    assert.notDeepEqual(a.shape, b.shape);
    assert.throws(() => op.add(a, b), /cannot broadcast/);
  });
});

describe('training step guards', () => {
  it('names reserved inputs, duplicate terms and unknown frozen parameters', async () => {
    const { Model } = await import('../src/nn/model.js');
    const { mlp } = await import('../src/nn/zoo/index.js');
    const { adam } = await import('../src/optim/adam.js');
    const { crossEntropy } = await import('../src/nn/losses.js');
    const { buildTrainGraph } = await import('../src/runtime/train-graph.js');
    const model = new Model(mlp([4, 3, 2]), 0);
    const base = { model, optimizer: adam(), extraInputs: { labels: { dtype: 'int64' as const, shape: ['N'] } } };
    assert.throws(
      () => buildTrainGraph({ ...base, extraInputs: { lr: { dtype: 'float32', shape: ['N'] } }, loss: (o) => ({ total: o.logits }) }),
      /input name 'lr' is reserved/,
    );
    assert.throws(
      () =>
        buildTrainGraph({
          ...base,
          loss: (o, i) => {
            const ce = crossEntropy(o.logits, i.labels);
            return { total: ce, terms: { loss: ce } };
          },
        }),
      /'loss' is defined twice \(or uses the reserved name 'loss'\)/,
    );
    assert.throws(
      () => buildTrainGraph({ ...base, frozen: ['fc1/wieght'], loss: (o, i) => ({ total: crossEntropy(o.logits, i.labels) }) }),
      /cannot freeze 'fc1\/wieght'.*fc1\/weight/,
    );
  });

  it('dropout after a reshape that folds the batch gets noise of the right size', async () => {
    const { Model } = await import('../src/nn/model.js');
    const { Dropout } = await import('../src/nn/layers/dropout.js');
    const { Linear } = await import('../src/nn/layers/linear.js');
    const { adam } = await import('../src/optim/adam.js');
    const { crossEntropy } = await import('../src/nn/losses.js');
    const { TrainSession } = await import('../src/runtime/train-session.js');
    const { ort } = await import('../src/runtime/ort.js');
    const model = new Model(
      {
        name: 'fold',
        inputs: { x: { dtype: 'float32', shape: ['N', 3, 4] } },
        forward(ctx, { x }) {
          const h = new Dropout('drop', 0.5).apply(ctx, op.reshape(x, [-1, 4])); // [N*3, 4]
          return { logits: op.identity(new Linear('fc', 12, 2).apply(ctx, op.reshape(h, [-1, 12])), 'logits') };
        },
      },
      0,
    );
    const s = await TrainSession.create(
      {
        model,
        optimizer: adam(),
        extraInputs: { labels: { dtype: 'int64', shape: ['N'] } },
        loss: (o, i) => ({ total: crossEntropy(o.logits, i.labels) }),
      },
      { threads: 1 },
    );
    const out = await s.run(
      {
        x: new ort.Tensor('float32', new Float32Array(24).fill(1), [2, 3, 4]),
        labels: new ort.Tensor('int64', BigInt64Array.of(0n, 1n), [2]),
      },
      1e-3,
    );
    assert.ok(Number.isFinite(out.loss));
    await s.release();
  });
});
