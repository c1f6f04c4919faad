import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { distillationLoss, pretrainLoss, pretrainOf } from '../src/distill/loss.js';
import { Graph } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import { BuildContext } from '../src/nn/context.js';
import { createSession, ort } from '../src/runtime/ort.js';

/** Each value within 1e-4 of the largest reference magnitude (plus `atol`): gradients span orders of magnitude. */
function nearScaled(got: ArrayLike<number>, want: number[], what: string, atol = 1e-7): void {
  const scale = Math.max(...want.map(Math.abs));
  assert.equal(got.length, want.length, `${what}: length`);
  want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-4 * scale + atol, `${what}[${i}]: ${got[i]} vs PyTorch ${v}`));
}

// PyTorch values from test/fixtures/make_ab_ft_fixtures.py (RepDistiller's ABLoss/Connector and FT modules).
const fx = JSON.parse(readFileSync(new URL('./fixtures/ab_ft.json', import.meta.url), 'utf8'));

describe('ab and ft match PyTorch (adapters fed with the reference weights)', () => {
  for (const c of fx.cases) {
    it(`${c.method} ${c.phase} ${JSON.stringify(c.options)}: value and gradients`, async () => {
      const g = new Graph('m');
      const s = g.input('s', 'float32', c.s_shape),
        t = g.input('t', 'float32', c.t_shape),
        y = g.input('y', 'int64', [c.s_shape[0]]);
      const aux = new BuildContext(g, 'train');
      const terms = [{ method: c.method, weight: 1, options: { ...c.options, teacherNode: 'tn', studentNode: 'sn' } }];
      const inputs = { student: { sn: s }, teacher: { tn: t }, labels: y, aux };
      const loss = c.phase === 'pretrain' ? pretrainLoss(terms, inputs) : distillationLoss(terms, inputs);
      assert.deepEqual([...aux.params.keys()].sort(), Object.keys(c.params).sort(), 'adapter names');
      const trained = Object.keys(c.params).filter((k) => c.params[k].grad);
      const wrt = [s, ...trained.map((k) => g.value(k))];
      const grads = gradients(loss.total, wrt);
      g.output(loss.total, ...wrt.map((v) => grads.get(v.name)!));
      const sess = await createSession(toOnnx(g), { threads: 1 });
      const T = (d: number[], sh: number[]) => new ort.Tensor('float32', Float32Array.from(d), sh);
      const feeds: Record<string, ort.Tensor> = {
        s: T(c.s, c.s_shape),
        t: T(c.t, c.t_shape),
        y: new ort.Tensor('int64', new BigInt64Array(c.s_shape[0]), [c.s_shape[0]]),
      };
      for (const [k, p] of Object.entries<{ shape: number[]; data: number[] }>(c.params)) feeds[k] = T(p.data, p.shape);
      const r = await sess.run(feeds);
      nearScaled(r[loss.total.name].data as Float32Array, [c.value], 'loss');
      nearScaled(r[grads.get('s')!.name].data as Float32Array, c.grad_s, 'd/ds');
      for (const k of trained) nearScaled(r[grads.get(k)!.name].data as Float32Array, c.params[k].grad, `d/d${k}`);
      await sess.release();
    });
  }
  it('ft freezes the paraphraser in the main phase: its encoder is a buffer there, a parameter in pre-training', () => {
    const build = (phase: 'main' | 'pretrain') => {
      const g = new Graph('m');
      const aux = new BuildContext(g, 'train');
      const terms = [{ method: 'ft', weight: 1, options: { teacherNode: 'tn', studentNode: 'sn' } }];
      const inputs = {
        student: { sn: g.input('s', 'float32', ['N', 4, 5, 5]) },
        teacher: { tn: g.input('t', 'float32', ['N', 6, 5, 5]) },
        labels: g.input('y', 'int64', ['N']),
        aux,
      };
      (phase === 'main' ? distillationLoss : pretrainLoss)(terms, inputs);
      return aux.params;
    };
    assert.equal(build('main').get('ft0/paraphraser/enc1/weight')!.trainable, false);
    assert.equal(build('pretrain').get('ft0/paraphraser/enc1/weight')!.trainable, true);
    assert.ok(build('pretrain').has('ft0/paraphraser/dec3/weight') && !build('main').has('ft0/paraphraser/dec3/weight'));
  });
  it('phases: fitnets joint by default, two-stage with hintEpochs; ab an initialisation stage by default', () => {
    assert.equal(
      pretrainOf([
        { method: 'ce', weight: 1 },
        { method: 'fitnets', weight: 1, options: { teacherNode: 'a', studentNode: 'b' } },
      ]),
      undefined,
    );
    assert.deepEqual(
      pretrainOf([
        { method: 'fitnets', weight: 1, options: { teacherNode: 'a', studentNode: 'b', hintEpochs: 2 } },
        { method: 'ft', weight: 1, options: { teacherNode: 'a', studentNode: 'b', paraphraserEpochs: 3 } },
      ]),
      { epochs: 3, trains: 'student', methods: ['fitnets', 'ft'] },
    );
    assert.deepEqual(pretrainOf([{ method: 'ab', weight: 1, options: { teacherNode: 'a', studentNode: 'b' } }]), {
      epochs: 1,
      trains: 'student',
      methods: ['ab'],
    });
  });
});

describe('pre-training phases run before the main training', () => {
  const setup = async () => {
    const { Model } = await import('../src/nn/model.js');
    const { cnn } = await import('../src/nn/zoo/index.js');
    const { take } = await import('../src/data/index.js');
    const { loadMnist } = await import('../src/data/node/index.js');
    const { fitClassifier } = await import('../src/train/classifier.js');
    const { exportOnnx, Predictor } = await import('../src/runtime/inference.js');
    const { prepareTeacher } = await import('../src/distill/teachers/prepare.js');
    const train = take(loadMnist('train'), 512);
    const tm = new Model(cnn([8, 16]), 1);
    await fitClassifier(tm, train, { epochs: 1, batchSize: 64, threads: 1 });
    return { Model, cnn, train, fitClassifier, exportOnnx, Predictor, prepareTeacher, tbytes: exportOnnx(tm) };
  };
  it('fitnets two-stage: hint stage trains only the layers up to the hint (and the regressor), then KD trains all', async () => {
    const { Model, cnn, train, fitClassifier, Predictor, prepareTeacher, tbytes } = await setup();
    const loss = [
      { method: 'ce', weight: 1 },
      { method: 'kd', weight: 1 },
      { method: 'fitnets', weight: 1, options: { teacherNode: 'block1/relu', studentNode: 'block1/relu', hintEpochs: 1 } },
    ];
    const prep = await prepareTeacher(tbytes, loss, 't', [1, 28, 28], 10);
    const teacher = await Predictor.fromBytes(prep.bytes, { threads: 1 });
    const student = new Model(cnn([4, 8]), 2);
    const before = new Map([...student.values].map(([k, v]) => [k, Float32Array.from(v)]));
    const pre: Record<string, number>[] = [];
    const changed: string[] = [];
    let checked = false;
    await fitClassifier(student, train, {
      epochs: 1,
      maxSteps: 4,
      batchSize: 64,
      threads: 1,
      loss,
      teacher,
      teacherShapes: prep.shapes,
      onPretrainStep: (_s, out) => pre.push(out),
      onStep: () => {
        if (checked) return;
        checked = true;
        // First main step: the model holds what the hint stage left.
        for (const [k, v] of student.values) if (v.some((x, i) => x !== before.get(k)![i])) changed.push(k);
      },
    });
    await teacher.release();
    assert.equal(pre.length, 4);
    assert.ok('fitnets_pre' in pre[0] && !('ce' in pre[0]), Object.keys(pre[0]).join());
    assert.ok(changed.includes('block1/conv/weight'), changed.join());
    assert.ok(
      !changed.some((k) => (k.startsWith('block2/') && !k.includes('running')) || k.startsWith('fc/')),
      `layers after the hint changed in the hint stage: ${changed.join()}`,
    );
    assert.ok(
      student.values.get('fc/weight')!.some((x, i) => x !== before.get('fc/weight')![i]),
      'main phase trains the classifier',
    );
  });
  const ftTitle =
    'ft: the paraphraser pre-trains on teacher features (reconstruction falls), then stays frozen while the translator trains';
  it(ftTitle, async () => {
    const { Model, cnn, train, fitClassifier, Predictor, prepareTeacher, tbytes } = await setup();
    const loss = [
      { method: 'ce', weight: 1 },
      { method: 'ft', weight: 10, options: { teacherNode: 'block2/relu', studentNode: 'block2/relu', paraphraserEpochs: 2 } },
    ];
    const prep = await prepareTeacher(tbytes, loss, 't', [1, 28, 28], 10);
    const teacher = await Predictor.fromBytes(prep.bytes, { threads: 1 });
    const student = new Model(cnn([4, 8]), 2);
    const before = new Map([...student.values].map(([k, v]) => [k, Float32Array.from(v)]));
    const rec: number[] = [];
    const r = await fitClassifier(student, train, {
      epochs: 1,
      maxSteps: 6,
      batchSize: 32,
      lr: 3e-3,
      threads: 1,
      loss,
      teacher,
      teacherShapes: prep.shapes,
      keepSession: true,
      onPretrainStep: (_s, out) => rec.push(out.ft_pre),
    });
    await teacher.release();
    const session = r.session!;
    try {
      assert.equal(rec.length, 6);
      assert.ok(rec[5] < rec[0], `reconstruction ${rec[0]} → ${rec[5]}`);
      const enc = 'aux/ft1/paraphraser/enc1/weight';
      assert.ok(session.tg.constants.includes(enc), 'paraphraser encoder is a constant of the main step');
      assert.ok(session.tg.state.some((s) => s.name === 'aux/ft1/translator/enc1/weight' && s.kind === 'param'));
      assert.ok(!session.tg.aux.some((a) => a.name.includes('dec1')), 'the decoder is not part of the main step');
      // The frozen encoder holds the pre-trained values, not a fresh initialisation.
      const { initialize } = await import('../src/nn/init.js');
      const spec = session.tg.aux.find((a) => a.name === enc)!;
      const fresh = initialize(spec.init, session.tensor(enc).length, 0, enc);
      assert.ok(session.tensor(enc).some((x, i) => x !== fresh[i]));
      // The hint stage of ft trains only adapters: the student's first layer is only moved by the main phase (6 steps).
      assert.ok(student.values.get('block1/conv/weight')!.some((x, i) => x !== before.get('block1/conv/weight')![i]));
    } finally {
      await session.release();
    }
  });
});
