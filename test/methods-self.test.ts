import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { take, type Dataset } from '../src/data/index.js';
import { classPairs } from '../src/distill/samplers/class-pairs.js';
import { distillationLoss, needsOf, teacherOutputsOf } from '../src/distill/loss.js';
import { Graph } from '../src/graph/graph.js';
import { parseOnnx, toOnnx } from '../src/graph/onnx.js';
import { BuildContext } from '../src/nn/context.js';
import { createSession, ort } from '../src/runtime/ort.js';

/** Each value within 1e-4 of the largest reference magnitude (plus `atol`): gradients span orders of magnitude. */
function nearScaled(got: ArrayLike<number>, want: number[], what: string, atol = 1e-7): void {
  const scale = Math.max(...want.map(Math.abs));
  assert.equal(got.length, want.length, `${what}: length`);
  want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-4 * scale + atol, `${what}[${i}]: ${got[i]} vs PyTorch ${v}`));
}

interface Tensor {
  shape: number[];
  data: number[];
  grad?: number[];
}
// PyTorch values from test/fixtures/make_self_fixtures.py (each method's reference code).
const fx = JSON.parse(readFileSync(new URL('./fixtures/self.json', import.meta.url), 'utf8')) as {
  cases: {
    method: string;
    options: Record<string, unknown>;
    value: number;
    labels: number[];
    inputs: Record<string, Tensor>;
    params: Record<string, Tensor>;
  }[];
};

describe('self-distillation losses match their reference code (PyTorch)', () => {
  for (const c of fx.cases) {
    it(`${c.method} ${JSON.stringify(c.options)}: value and gradients`, async () => {
      const g = new Graph('m');
      const student = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, g.input(k, 'float32', v.shape)]));
      const y = g.input('y', 'int64', [c.labels.length]);
      const aux = new BuildContext(g, 'train');
      const loss = distillationLoss([{ method: c.method, weight: 1, options: c.options }], { student, teacher: {}, labels: y, aux });
      assert.deepEqual([...aux.params.keys()].sort(), Object.keys(c.params).sort(), 'adapter names');
      const trained = Object.keys(c.params).filter((k) => c.params[k].grad);
      const wrt = [...Object.values(student), ...trained.map((k) => g.value(k))];
      const grads = gradients(loss.total, wrt);
      g.output(loss.total, ...wrt.map((v) => grads.get(v.name)!));
      const sess = await createSession(toOnnx(g), { threads: 1 });
      const T = (t: Tensor) => new ort.Tensor('float32', Float32Array.from(t.data), t.shape);
      const feeds: Record<string, ort.Tensor> = { y: new ort.Tensor('int64', BigInt64Array.from(c.labels.map(BigInt)), [c.labels.length]) };
      for (const [k, t] of Object.entries({ ...c.inputs, ...c.params })) feeds[k] = T(t);
      const r = await sess.run(feeds);
      nearScaled(r[loss.total.name].data as Float32Array, [c.value], 'loss');
      // Detached inputs (the partner half, the deep logits and feature) must get exactly no gradient.
      for (const [k, t] of Object.entries(c.inputs)) nearScaled(r[grads.get(k)!.name].data as Float32Array, t.grad!, `d/d${k}`, 1e-9);
      // A conv bias before train-mode BN has exactly zero gradient (BN removes constants), so its float32 value is
      // rounding noise; such a tensor is held to the scale of the case's gradients, not to its own zero.
      const caseScale = Math.max(...trained.flatMap((k) => c.params[k].grad!.map(Math.abs)));
      for (const k of trained) nearScaled(r[grads.get(k)!.name].data as Float32Array, c.params[k].grad!, `d/d${k}`, 1e-5 * caseScale);
      await sess.release();
    });
  }
  it('none needs a teacher; only cskd asks for paired batches', () => {
    const byot = { method: 'byot', weight: 1, options: { nodes: ['a'], deepNode: 'b' } };
    assert.deepEqual(teacherOutputsOf([{ method: 'tfkd', weight: 1 }, { method: 'cskd', weight: 1 }, byot]), []);
    assert.equal(needsOf([{ method: 'ce', weight: 1 }, byot, { method: 'tfkd', weight: 1 }]).partners, undefined);
    const cskd = needsOf([
      { method: 'ce', weight: 1 },
      { method: 'cskd', weight: 1 },
    ]);
    assert.equal(cskd.partners, classPairs);
  });
});

describe('self-distillation trains through fitClassifier without a teacher', () => {
  const load = async () => {
    const { Model } = await import('../src/nn/model.js');
    const { cnn } = await import('../src/nn/zoo/index.js');
    const { loadMnist } = await import('../src/data/node/index.js');
    const { fitClassifier } = await import('../src/train/classifier.js');
    return { Model, cnn, fitClassifier, train: take(loadMnist('train'), 256) };
  };
  it('tfkd', async () => {
    const { Model, cnn, fitClassifier, train } = await load();
    const outs: Record<string, number>[] = [];
    const r = await fitClassifier(new Model(cnn([4, 8]), 1), train, {
      epochs: 1,
      maxSteps: 4,
      batchSize: 32,
      threads: 1,
      loss: [{ method: 'tfkd', weight: 1 }],
      onStep: (_s, o) => outs.push(o),
    });
    assert.equal(r.losses.length, 4);
    assert.ok(
      outs.every((o) => Number.isFinite(o.tfkd) && !('agree' in o)),
      JSON.stringify(outs[0]),
    );
  });
  it('byot: exits train with the student and are not in the exported model', async () => {
    const { Model, cnn, fitClassifier, train } = await load();
    const { exportOnnx } = await import('../src/runtime/inference.js');
    const student = new Model(cnn([4, 8]), 1);
    const loss = [
      { method: 'ce', weight: 0.9 },
      { method: 'byot', weight: 1, options: { nodes: ['block1/relu', 'block1/pool'], deepNode: 'block2/pool' } },
    ];
    const r = await fitClassifier(student, train, { epochs: 1, maxSteps: 4, batchSize: 32, threads: 1, loss, keepSession: true });
    const s = r.session!;
    try {
      assert.equal(r.losses.length, 4);
      const fc = 'aux/byot1/exit2/fc/weight';
      assert.ok(
        s.tg.state.some((x) => x.name === fc && x.kind === 'param'),
        'exit classifier is trained state',
      );
      const init = s.tg.aux.find((a) => a.name === fc)!;
      const { initialize } = await import('../src/nn/init.js');
      assert.ok(
        s.tensor(fc).some((v, i) => v !== initialize(init.init, s.tensor(fc).length, 0, fc)[i]),
        'exit classifier moved',
      );
    } finally {
      await s.release();
    }
    const m = parseOnnx(exportOnnx(student));
    const names = [...m.graph!.initializer.map((t) => t.name), ...m.graph!.node.flatMap((n) => [n.name, ...n.output])];
    assert.ok(names.length > 0 && !names.some((n) => /byot|exit/.test(n)), names.filter((n) => /byot|exit/.test(n)).join());
    assert.ok(![...student.values.keys()].some((k) => /byot|exit/.test(k)));
  });
  it('cskd: batches pair same-class samples (identical images per class give a zero KL)', async () => {
    const { Model, cnn, fitClassifier } = await load();
    // Every sample of a class is the same image: a same-class partner gives the anchor's own logits.
    const n = 96,
      classes = 4,
      S = 28 * 28;
    const y = Int32Array.from({ length: n }, (_, i) => (i * 7) % classes);
    const x = new Uint8Array(n * S);
    for (let i = 0; i < n; i++) for (let j = 0; j < S; j++) x[i * S + j] = (y[i] * 53 + j * (y[i] + 3) * 17) % 256;
    const ds: Dataset = { name: 'per-class-constant', x, y, n, sampleShape: [1, 28, 28], numClasses: classes };
    const outs: Record<string, number>[] = [];
    const loss = [
      { method: 'ce', weight: 1 },
      { method: 'cskd', weight: 1 },
    ];
    const r = await fitClassifier(new Model(cnn([4, 8]), 1), ds, {
      epochs: 2,
      batchSize: 16,
      lr: 1e-2,
      threads: 1,
      loss,
      onStep: (_s, o) => outs.push(o),
    });
    // 96 anchors in batches of 16: 6 steps an epoch, each of 32 samples.
    assert.equal(r.losses.length, 12);
    assert.ok(
      outs.every((o) => Math.abs(o.cskd) < 1e-5),
      outs.map((o) => o.cskd).join(),
    );
    assert.ok(outs.some((o) => o.ce > 0.01));
  });
});
