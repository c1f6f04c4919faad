import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toOnnx } from '../src/graph/onnx.js';
import { parseOnnx } from '../src/graph/onnx.js';
import { Model } from '../src/nn/model.js';
import { cnn, lenet5, mlp, resnet, textClassifier, transformerClassifier } from '../src/nn/zoo/index.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { TrainSession } from '../src/runtime/train-session.js';
import { crossEntropy } from '../src/nn/losses.js';
import { adam } from '../src/optim/adam.js';
import { Rng } from '../src/util/rng.js';
import type { ModelDef } from '../src/nn/model.js';

/** Eval-mode outputs of the unfolded graph with parameters fed as inputs, as the training runtime sees them. */
async function evalWithParamInputs(model: Model, x: ort.Tensor): Promise<Float32Array> {
  const b = model.build('eval', { kind: 'inputs' });
  const s = await createSession(toOnnx(b.graph), { threads: 1, optimization: 'disabled' });
  const feeds: Record<string, ort.Tensor> = { [Object.keys(model.def.inputs)[0]]: x };
  for (const [k, spec] of model.specs)
    if (b.graph.inputs.includes(k)) feeds[k] = new ort.Tensor('float32', model.values.get(k)!, spec.shape as number[]);
  const out = (await s.run(feeds))[b.outputs.logits.name].data as Float32Array;
  await s.release();
  return out;
}

function input(def: ModelDef, batch: number, rng: Rng): ort.Tensor {
  const [name, spec] = Object.entries(def.inputs)[0];
  const shape = spec.shape.map((d) => (typeof d === 'number' ? d : batch));
  const n = shape.reduce((a, b) => a * b, 1);
  if (spec.dtype === 'int64')
    return new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: n }, () => BigInt(rng.int(50))),
      shape,
    );
  void name;
  return new ort.Tensor(
    'float32',
    Float32Array.from({ length: n }, () => rng.next()),
    shape,
  );
}

const zoo: [string, () => ModelDef][] = [
  ['mlp', () => mlp([784, 32, 10], { dropout: 0.5 })],
  ['cnn', () => cnn([4, 8], { hidden: 16, dropout: 0.2 })],
  ['lenet5', () => lenet5()],
  ['lenet5-half', () => lenet5({ half: true })],
  ['resnet8 28×28', () => resnet({ depth: 8, inputShape: [1, 28, 28], width: 4 })],
  ['resnet8 32×32', () => resnet({ depth: 8, inputShape: [3, 32, 32], width: 4 })],
  ['text meanpool', () => textClassifier({ vocab: 50, seqLen: 12, classes: 3 })],
  ['text conv', () => textClassifier({ vocab: 50, seqLen: 12, classes: 3, kind: 'conv', channels: 8 })],
  ['transformer', () => transformerClassifier({ vocab: 50, seqLen: 12, classes: 3, dim: 16, heads: 2 })],
];

describe('model zoo: train a few steps, export, compare', () => {
  for (const [name, def] of zoo) {
    it(`${name}: exported ONNX (BN folded, dropout gone) matches the eval graph`, async () => {
      const model = new Model(def(), 11);
      const rng = new Rng(3);
      // A few training steps so BatchNorm statistics and weights are no longer at their initial values.
      const train = await TrainSession.create(
        {
          model,
          optimizer: adam(),
          extraInputs: { labels: { dtype: 'int64', shape: ['N'] } },
          loss: (o, i) => ({ total: crossEntropy(o.logits, i.labels) }),
        },
        { threads: 1 },
      );
      const classes = model.build('eval').outputs.logits.shape[1] as number;
      let first = 0,
        last = 0;
      const x = input(model.def, 8, rng);
      const labels = new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: 8 }, () => BigInt(rng.int(classes))),
        [8],
      );
      for (let s = 0; s < 8; s++) {
        const out = await train.run({ [Object.keys(model.def.inputs)[0]]: x, labels }, 1e-2);
        if (s === 0) first = out.loss;
        last = out.loss;
      }
      assert.ok(last < first, `loss should fall when fitting one batch: ${first} → ${last}`);
      train.syncToModel();
      await train.release();

      const bytes = exportOnnx(model);
      const m = parseOnnx(bytes);
      const ops = m.graph!.node.map((n) => n.opType);
      assert.ok(!ops.includes('BatchNormalization'), `BatchNorm left after folding: ${ops.join(',')}`);
      assert.equal(m.graph!.input[0].type?.value.case, 'tensorType');
      const p = await Predictor.fromBytes(bytes, { threads: 1 });
      for (const batch of [1, 5]) {
        const xb = input(model.def, batch, rng);
        const got = (await p.run(xb, ['logits'])).logits.data as Float32Array;
        const want = await evalWithParamInputs(model, xb);
        assert.equal(got.length, want.length);
        for (let i = 0; i < got.length; i++)
          assert.ok(
            Math.abs(got[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])),
            `${name} batch ${batch} logit ${i}: ${got[i]} vs ${want[i]}`,
          );
      }
      await p.release();
    });
  }
});

describe('multi-input, multi-output models', () => {
  it('a two-branch model (image + tabular input, logits + embedding outputs) trains and exports', async () => {
    const { Linear } = await import('../src/nn/layers/linear.js');
    const { Conv2d } = await import('../src/nn/layers/conv.js');
    const op = await import('../src/graph/ops.js');
    const def: ModelDef = {
      name: 'two-branch',
      inputs: { image: { dtype: 'float32', shape: ['N', 1, 8, 8] }, table: { dtype: 'float32', shape: ['N', 5] } },
      forward(ctx, { image, table }) {
        const a = op.flatten(op.globalAvgPool(op.relu(new Conv2d('conv', 1, 4, { kernel: 3, padding: 1 }).apply(ctx, image))));
        const b = op.relu(new Linear('dense', 5, 4).apply(ctx, table));
        const emb = op.concat([a, b], 1, 'embedding');
        return { logits: op.identity(new Linear('head', 8, 3).apply(ctx, emb), 'logits'), embedding: emb };
      },
    };
    const model = new Model(def, 2);
    const rng = new Rng(9);
    const N = 6;
    const image = new ort.Tensor(
      'float32',
      Float32Array.from({ length: N * 64 }, () => rng.next()),
      [N, 1, 8, 8],
    );
    const table = new ort.Tensor(
      'float32',
      Float32Array.from({ length: N * 5 }, () => rng.normal()),
      [N, 5],
    );
    const labels = new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: N }, (_, i) => BigInt(i % 3)),
      [N],
    );
    const train = await TrainSession.create(
      {
        model,
        optimizer: adam(),
        extraInputs: { labels: { dtype: 'int64', shape: ['N'] } },
        loss: (o, i) => ({ total: crossEntropy(o.logits, i.labels) }),
      },
      { threads: 1 },
    );
    const losses: number[] = [];
    for (let s = 0; s < 100; s++) losses.push((await train.run({ image, table, labels }, 2e-2)).loss);
    assert.ok(losses[99] < losses[0] / 4, `loss ${losses[0]} → ${losses[99]}`);
    train.syncToModel();
    await train.release();
    const s = await createSession(exportOnnx(model), { threads: 1 });
    assert.deepEqual([...s.inputNames].sort(), ['image', 'table']);
    assert.deepEqual([...s.outputNames].sort(), ['embedding', 'logits']);
    const r = await s.run({ image, table });
    assert.deepEqual(r.logits.dims, [N, 3]);
    assert.deepEqual(r.embedding.dims, [N, 8]);
    await s.release();
  });
});
