import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { distillationLoss, resolveTerms } from '../src/distill/loss.js';
import { methodRegistry } from '../src/distill/registry.js';
import { Graph } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { KdError } from '../src/util/errors.js';

/** Each value within 1e-4 of the largest reference magnitude (plus `atol`): gradients span orders of magnitude. */
function nearScaled(got: ArrayLike<number>, want: number[], what: string, atol: number): void {
  const scale = Math.max(...want.map(Math.abs));
  want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-4 * scale + atol, `${what}[${i}]: ${got[i]} vs PyTorch ${v}`));
}

// PyTorch values from test/fixtures/make_method_fixtures.py (Debian python3-torch); CI reads only the JSON.
const fx = JSON.parse(readFileSync(new URL('./fixtures/methods.json', import.meta.url), 'utf8'));

describe('distillation methods match PyTorch', () => {
  for (const c of fx.cases) {
    it(`ce(labelSmoothing=${c.labelSmoothing}) × ${c.weights[0]} + kd(T=${c.temperature}) × ${c.weights[1]}`, async () => {
      const g = new Graph('m');
      const s = g.input('s', 'float32', fx.shape),
        t = g.input('t', 'float32', fx.shape),
        y = g.input('y', 'int64', [fx.shape[0]]);
      const loss = distillationLoss(
        [
          { method: 'ce', weight: c.weights[0], options: { labelSmoothing: c.labelSmoothing } },
          { method: 'kd', weight: c.weights[1], options: { temperature: c.temperature } },
        ],
        { student: { logits: s }, teacher: { logits: t }, labels: y },
      );
      const ds = gradients(loss.total, [s]).get('s')!;
      g.output(loss.total, loss.terms.ce, loss.terms.kd, ds);
      const sess = await createSession(toOnnx(g), { threads: 1 });
      const r = await sess.run({
        s: new ort.Tensor('float32', Float32Array.from(fx.s), fx.shape),
        t: new ort.Tensor('float32', Float32Array.from(fx.t), fx.shape),
        y: new ort.Tensor('int64', BigInt64Array.from(fx.labels.map(BigInt)), [fx.shape[0]]),
      });
      const near = (got: number, want: number, what: string) =>
        assert.ok(Math.abs(got - want) <= 1e-5 + 1e-5 * Math.abs(want), `${what}: ${got} vs PyTorch ${want}`);
      near((r[loss.terms.ce.name].data as Float32Array)[0], c.ce, 'ce');
      near((r[loss.terms.kd.name].data as Float32Array)[0], c.kd, 'kd');
      near((r[loss.total.name].data as Float32Array)[0], c.total, 'total');
      const gd = r[ds.name].data as Float32Array;
      c.grad_s.forEach((w: number, i: number) => near(gd[i], w, `dL/ds[${i}]`));
      await sess.release();
    });
  }
});

describe('method registry', () => {
  it('lists ce and kd with their defaults', () => {
    const reg = methodRegistry();
    assert.ok(reg.has('ce') && reg.has('kd'));
    assert.deepEqual(resolveTerms([{ method: 'kd', weight: 1 }])[0].options, { temperature: 4, classes: null });
  });
  it('rejects unknown methods and bad options with the term named', () => {
    assert.throws(
      () => resolveTerms([{ method: 'kdd', weight: 1 }]),
      (e: unknown) => e instanceof KdError && /unknown distillation method 'kdd'.*known: .*kd/.test(e.message),
    );
    assert.throws(() => resolveTerms([{ method: 'kd', weight: 1, options: { temperature: -1 } }]), /loss\[0\] \(kd\): temperature/);
    assert.throws(() => resolveTerms([{ method: 'kd', weight: 1, options: { temp: 4 } }]), /loss\[0\] \(kd\)/);
    assert.throws(() => resolveTerms([]), /at least one term/);
  });
});

describe('Distiller (the object API)', () => {
  it('fits a student against a teacher model and reports accuracy and agreement', async () => {
    const { Distiller } = await import('../src/frontends/distiller.js');
    const { Model } = await import('../src/nn/model.js');
    const { mlp } = await import('../src/nn/zoo/index.js');
    const { take } = await import('../src/data/index.js');
    const { loadMnist } = await import('../src/data/node/index.js');
    const { fitClassifier } = await import('../src/train/classifier.js');
    const { parseOnnx } = await import('../src/graph/onnx.js');
    const train = take(loadMnist('train'), 3000),
      test = take(loadMnist('test'), 500);
    const teacher = new Model(mlp([784, 64, 10], { inputShape: [1, 28, 28] }), 1);
    await fitClassifier(teacher, train, { epochs: 2, batchSize: 64, lr: 2e-3, threads: 1 });
    const d = new Distiller({
      teacher,
      student: new Model(mlp([784, 16, 10], { inputShape: [1, 28, 28] }), 2),
      loss: [
        { method: 'ce', weight: 0.5 },
        { method: 'kd', weight: 0.5 },
      ],
      threads: 1,
    });
    assert.deepEqual(d.loss[1].options, { temperature: 4, classes: null });
    const losses = await d.fit(train, { epochs: 2, batchSize: 64, lr: 3e-3 });
    assert.equal(losses.length, 2 * Math.ceil(3000 / 64));
    const ev = await d.evaluate(test);
    assert.ok(ev.teacherAccuracy > 0.8 && ev.accuracy > 0.7 && ev.agreement > 0.7, JSON.stringify(ev));
    assert.equal(parseOnnx(d.exportStudent()).graph!.input[0].name, 'x');
  });
  it('says which teacher file it cannot read', async () => {
    const { Distiller } = await import('../src/frontends/distiller.js');
    const { Model } = await import('../src/nn/model.js');
    const { mlp } = await import('../src/nn/zoo/index.js');
    assert.throws(
      () => new Distiller({ teacher: '/nope/teacher.onnx', student: new Model(mlp([784, 8, 10]), 0), loss: [{ method: 'kd', weight: 1 }] }),
      /cannot read teacher \/nope\/teacher.onnx: ENOENT/,
    );
  });
});

// PyTorch values from test/fixtures/make_response_fixtures.py (the official DKD / DIST formulations in torch).
const resp = JSON.parse(readFileSync(new URL('./fixtures/response.json', import.meta.url), 'utf8'));

describe('response methods match PyTorch (dkd, dist, logit_mse)', () => {
  for (const c of resp.cases) {
    it(`${c.method} ${JSON.stringify(c.options)}: value and gradient`, async () => {
      const g = new Graph('m');
      const s = g.input('s', 'float32', resp.shape),
        t = g.input('t', 'float32', resp.shape),
        y = g.input('y', 'int64', [resp.shape[0]]);
      const loss = distillationLoss([{ method: c.method, weight: 1, options: c.options }], {
        student: { logits: s },
        teacher: { logits: t },
        labels: y,
      });
      const ds = gradients(loss.total, [s]).get('s')!;
      g.output(loss.total, ds);
      const sess = await createSession(toOnnx(g), { threads: 1 });
      const r = await sess.run({
        s: new ort.Tensor('float32', Float32Array.from(resp.s), resp.shape),
        t: new ort.Tensor('float32', Float32Array.from(resp.t), resp.shape),
        y: new ort.Tensor('int64', BigInt64Array.from(resp.labels.map(BigInt)), [resp.shape[0]]),
      });
      const near = (got: number, want: number, what: string) =>
        assert.ok(Math.abs(got - want) <= 2e-5 + 1e-4 * Math.abs(want), `${what}: ${got} vs PyTorch ${want}`);
      near((r[loss.total.name].data as Float32Array)[0], c.value, c.method);
      const gd = r[ds.name].data as Float32Array;
      c.grad_s.forEach((w: number, i: number) => near(gd[i], w, `d${c.method}/ds[${i}]`));
      await sess.release();
    });
  }
});

// PyTorch values from test/fixtures/make_feature_fixtures.py (official formulations of AT, SP, PKT in torch).
const feat = JSON.parse(readFileSync(new URL('./fixtures/feature.json', import.meta.url), 'utf8'));

describe('feature and relation methods match PyTorch (at, nst, sp, pkt, rkd)', () => {
  for (const c of feat.cases) {
    it(`${c.method} ${JSON.stringify(c.options)}: value and gradient w.r.t. the student feature`, async () => {
      const g = new Graph('m');
      const s = g.input('s', 'float32', feat.student_shape),
        t = g.input('t', 'float32', feat.teacher_shape),
        y = g.input('y', 'int64', [feat.student_shape[0]]);
      const loss = distillationLoss(
        [{ method: c.method, weight: 1, options: { ...c.options, teacherNode: 'block/t', studentNode: 'block/s' } }],
        { student: { 'block/s': s }, teacher: { 'block/t': t }, labels: y },
      );
      const ds = gradients(loss.total, [s]).get('s')!;
      g.output(loss.total, ds);
      const sess = await createSession(toOnnx(g), { threads: 1 });
      const r = await sess.run({
        s: new ort.Tensor('float32', Float32Array.from(feat.s), feat.student_shape),
        t: new ort.Tensor('float32', Float32Array.from(feat.t), feat.teacher_shape),
        y: new ort.Tensor('int64', new BigInt64Array(feat.student_shape[0]), [feat.student_shape[0]]),
      });
      const scale = Math.max(...c.grad_s.map(Math.abs));
      const near = (got: number, want: number, what: string, tol: number) =>
        assert.ok(Math.abs(got - want) <= tol, `${what}: ${got} vs PyTorch ${want}`);
      near((r[loss.total.name].data as Float32Array)[0], c.value, c.method, 1e-6 + 1e-4 * Math.abs(c.value));
      const gd = r[ds.name].data as Float32Array;
      c.grad_s.forEach((w: number, i: number) => near(gd[i], w, `d${c.method}/ds[${i}]`, 1e-4 * scale + 1e-9));
      await sess.release();
    });
  }
  it('at refuses feature maps of different resolution, naming both nodes', async () => {
    const g = new Graph('m');
    const s = g.input('s', 'float32', ['N', 3, 7, 7]),
      t = g.input('t', 'float32', ['N', 6, 14, 14]),
      y = g.input('y', 'int64', ['N']);
    assert.throws(
      () =>
        distillationLoss([{ method: 'at', weight: 1, options: { teacherNode: 'block2/relu', studentNode: 'block3/relu' } }], {
          student: { 'block3/relu': s },
          teacher: { 'block2/relu': t },
          labels: y,
        }),
      /student node 'block3\/relu' is 7×7 spatially, teacher node 'block2\/relu' is 14×14/,
    );
  });
});

// PyTorch value from test/fixtures/make_fitnets_fixtures.py (RepDistiller's ConvReg + MSE).
const fit = JSON.parse(readFileSync(new URL('./fixtures/fitnets.json', import.meta.url), 'utf8'));

describe('fitnets (hint regression through a trainable regressor) matches PyTorch', () => {
  it('value and gradients w.r.t. the student feature and the regressor', async () => {
    const { BuildContext } = await import('../src/nn/context.js');
    const g = new Graph('m');
    const s = g.input('s', 'float32', fit.s_shape),
      t = g.input('t', 'float32', fit.t_shape),
      y = g.input('y', 'int64', [fit.s_shape[0]]);
    const aux = new BuildContext(g, 'train');
    const loss = distillationLoss([{ method: 'fitnets', weight: 1, options: { teacherNode: 'tn', studentNode: 'sn' } }], {
      student: { sn: s },
      teacher: { tn: t },
      labels: y,
      aux,
    });
    const names = [...aux.params.keys()];
    assert.deepEqual(names.sort(), [
      'fitnets0/regressor/weight',
      'fitnets0/regressor_bn/bias',
      'fitnets0/regressor_bn/running_mean',
      'fitnets0/regressor_bn/running_var',
      'fitnets0/regressor_bn/weight',
    ]);
    const w = g.value('fitnets0/regressor/weight'),
      gamma = g.value('fitnets0/regressor_bn/weight'),
      beta = g.value('fitnets0/regressor_bn/bias');
    const grads = gradients(loss.total, [s, w, gamma, beta]);
    g.output(loss.total, ...[s, w, gamma, beta].map((v) => grads.get(v.name)!));
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const T = (d: number[], sh: number[]) => new ort.Tensor('float32', Float32Array.from(d), sh);
    const r = await sess.run({
      s: T(fit.s, fit.s_shape),
      t: T(fit.t, fit.t_shape),
      y: new ort.Tensor('int64', new BigInt64Array(fit.s_shape[0]), [fit.s_shape[0]]),
      'fitnets0/regressor/weight': T(fit.w, fit.w_shape),
      'fitnets0/regressor_bn/weight': T(new Array(6).fill(1), [6]),
      'fitnets0/regressor_bn/bias': T(new Array(6).fill(0), [6]),
      'fitnets0/regressor_bn/running_mean': T(new Array(6).fill(0), [6]),
      'fitnets0/regressor_bn/running_var': T(new Array(6).fill(1), [6]),
    });
    const near = (got: ArrayLike<number>, want: number[], what: string) => nearScaled(got, want, what, 1e-7);
    near(r[loss.total.name].data as Float32Array, [fit.value], 'loss');
    near(r[grads.get('s')!.name].data as Float32Array, fit.grad_s, 'd/ds');
    near(r[grads.get(w.name)!.name].data as Float32Array, fit.grad_w, 'd/dW');
    near(r[grads.get(gamma.name)!.name].data as Float32Array, fit.grad_gamma, 'd/dgamma');
    near(r[grads.get(beta.name)!.name].data as Float32Array, fit.grad_beta, 'd/dbeta');
    await sess.release();
  });
});

describe('teacher preparation and edge cases', () => {
  it('a teacher with another class count is refused before training', async () => {
    const { prepareTeacher } = await import('../src/distill/teachers/prepare.js');
    const { Model } = await import('../src/nn/model.js');
    const { mlp } = await import('../src/nn/zoo/index.js');
    const { exportOnnx } = await import('../src/runtime/inference.js');
    const bytes = exportOnnx(new Model(mlp([784, 8, 12], { inputShape: [1, 28, 28] }), 0));
    await assert.rejects(
      prepareTeacher(bytes, [{ method: 'kd', weight: 1 }], 't12.onnx', [1, 28, 28], 10),
      /t12.onnx predicts 12 classes .* the student and data have 10/,
    );
    await assert.rejects(
      prepareTeacher(bytes, [{ method: 'kd', weight: 1 }], 't12.onnx', [3, 32, 32], 12),
      /t12.onnx does not run on one sample of shape \[1, 3, 32, 32\]/,
    );
  });
  it('rkd stays finite on a batch of one (no pairs)', async () => {
    const g = new Graph('m');
    const s = g.input('s', 'float32', ['N', 4]),
      t = g.input('t', 'float32', ['N', 6]),
      y = g.input('y', 'int64', ['N']);
    const loss = distillationLoss([{ method: 'rkd', weight: 1, options: { teacherNode: 't', studentNode: 's' } }], {
      student: { s },
      teacher: { t },
      labels: y,
    });
    const ds = gradients(loss.total, [s]).get('s')!;
    g.output(loss.total, ds);
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const r = await sess.run({
      s: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [1, 4]),
      t: new ort.Tensor('float32', new Float32Array(6).fill(1), [1, 6]),
      y: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
    });
    assert.ok(Number.isFinite((r[loss.total.name].data as Float32Array)[0]));
    assert.ok((r[ds.name].data as Float32Array).every(Number.isFinite));
    await sess.release();
  });
});

// PyTorch value from test/fixtures/make_fsp_fixtures.py (RepDistiller's FSP).
const fspFx = JSON.parse(readFileSync(new URL('./fixtures/fsp.json', import.meta.url), 'utf8'));

describe('fsp (flow between two layers) matches PyTorch', () => {
  it('value and gradients w.r.t. both student maps (lower map pooled to the upper size)', async () => {
    const g = new Graph('m');
    const [sh1, sh2] = fspFx.shapes;
    const s1 = g.input('s1', 'float32', sh1),
      s2 = g.input('s2', 'float32', sh2),
      t1 = g.input('t1', 'float32', sh1),
      t2 = g.input('t2', 'float32', sh2),
      y = g.input('y', 'int64', [sh1[0]]);
    const loss = distillationLoss([{ method: 'fsp', weight: 1, options: { teacherNodes: ['a', 'b'], studentNodes: ['a', 'b'] } }], {
      student: { a: s1, b: s2 },
      teacher: { a: t1, b: t2 },
      labels: y,
    });
    const grads = gradients(loss.total, [s1, s2]);
    g.output(loss.total, grads.get('s1')!, grads.get('s2')!);
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const T = (d: number[], s: number[]) => new ort.Tensor('float32', Float32Array.from(d), s);
    const r = await sess.run({
      s1: T(fspFx.s1, sh1),
      s2: T(fspFx.s2, sh2),
      t1: T(fspFx.t1, sh1),
      t2: T(fspFx.t2, sh2),
      y: new ort.Tensor('int64', new BigInt64Array(sh1[0]), [sh1[0]]),
    });
    const near = (got: ArrayLike<number>, want: number[], what: string) => nearScaled(got, want, what, 1e-8);
    near(r[loss.total.name].data as Float32Array, [fspFx.value], 'fsp');
    near(r[grads.get('s1')!.name].data as Float32Array, fspFx.grad_s1, 'd/ds1');
    near(r[grads.get('s2')!.name].data as Float32Array, fspFx.grad_s2, 'd/ds2');
    await sess.release();
  });
});

describe('teacher without logits', () => {
  it('is refused with the outputs it does have', async () => {
    const { prepareTeacher } = await import('../src/distill/teachers/prepare.js');
    const { Model } = await import('../src/nn/model.js');
    const { mlp } = await import('../src/nn/zoo/index.js');
    const { exportOnnx } = await import('../src/runtime/inference.js');
    const { identity } = await import('../src/graph/ops.js');
    const m = new Model(
      { ...mlp([784, 8, 10]), forward: (ctx, i) => ({ scores: identity(mlp([784, 8, 10]).forward(ctx, i).logits, 'scores') }) },
      0,
    );
    await assert.rejects(
      prepareTeacher(exportOnnx(m), [{ method: 'kd', weight: 1 }], 'scores.onnx'),
      /scores.onnx has no output named 'logits' \(its outputs: scores\)/,
    );
  });
});

// PyTorch value from test/fixtures/make_cc_fixtures.py (RepDistiller's Correlation with Embed layers).
const ccFx = JSON.parse(readFileSync(new URL('./fixtures/cc.json', import.meta.url), 'utf8'));

describe('cc (correlation congruence with trainable embeddings) matches PyTorch', () => {
  it('value and gradients w.r.t. the student feature and both embeddings', async () => {
    const { BuildContext } = await import('../src/nn/context.js');
    const g = new Graph('m');
    const s = g.input('s', 'float32', ['N', ccFx.Ds]),
      t = g.input('t', 'float32', ['N', ccFx.Dt]),
      y = g.input('y', 'int64', ['N']);
    const aux = new BuildContext(g, 'train');
    const loss = distillationLoss([{ method: 'cc', weight: 1, options: { teacherNode: 'tn', studentNode: 'sn', embedDim: ccFx.E } }], {
      student: { sn: s },
      teacher: { tn: t },
      labels: y,
      aux,
    });
    const ws = g.value('cc0/embed_s/weight'),
      wt = g.value('cc0/embed_t/weight');
    const grads = gradients(loss.total, [s, ws, wt]);
    g.output(loss.total, ...[s, ws, wt].map((v) => grads.get(v.name)!));
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const T = (d: number[], sh: number[]) => new ort.Tensor('float32', Float32Array.from(d), sh);
    const r = await sess.run({
      s: T(ccFx.s, [ccFx.N, ccFx.Ds]),
      t: T(ccFx.t, [ccFx.N, ccFx.Dt]),
      y: new ort.Tensor('int64', new BigInt64Array(ccFx.N), [ccFx.N]),
      'cc0/embed_s/weight': T(ccFx.ws, [ccFx.Ds, ccFx.E]),
      'cc0/embed_t/weight': T(ccFx.wt, [ccFx.Dt, ccFx.E]),
      'cc0/embed_s/bias': T(ccFx.bs, [ccFx.E]),
      'cc0/embed_t/bias': T(ccFx.bt, [ccFx.E]),
    });
    const near = (got: ArrayLike<number>, want: number[], what: string) => nearScaled(got, want, what, 1e-8);
    near(r[loss.total.name].data as Float32Array, [ccFx.value], 'cc');
    near(r[grads.get('s')!.name].data as Float32Array, ccFx.grad_s, 'd/ds');
    near(r[grads.get(ws.name)!.name].data as Float32Array, ccFx.grad_ws, 'd/dWs');
    near(r[grads.get(wt.name)!.name].data as Float32Array, ccFx.grad_wt, 'd/dWt');
    await sess.release();
  });
});
