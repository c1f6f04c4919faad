import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { distillationLoss, needsOf, resolveTerms } from '../src/distill/loss.js';
import { Graph } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import { BuildContext } from '../src/nn/context.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { KdError } from '../src/util/errors.js';

/** Each value within 1e-4 of the largest reference magnitude (plus `atol`), as in methods.test.ts. */
function nearScaled(got: ArrayLike<number>, want: number[], what: string, atol: number): void {
  const scale = Math.max(...want.map(Math.abs));
  assert.equal(got.length, want.length, `${what}: length`);
  want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-4 * scale + atol, `${what}[${i}]: ${got[i]} vs PyTorch ${v}`));
}

// PyTorch values from test/fixtures/make_crd_fixtures.py (RepDistiller's CRDLoss, ContrastMemory, ContrastLoss).
const fx = JSON.parse(readFileSync(new URL('./fixtures/crd.json', import.meta.url), 'utf8'));
const term = {
  method: 'crd',
  weight: 1,
  options: { teacherNode: 'tn', studentNode: 'sn', featDim: fx.D, negatives: fx.K, temperature: fx.T, momentum: fx.momentum },
};

/** The crd loss on fed features, sample indices and (through the buffer and noise names) banks, Z and negatives. */
function build() {
  const g = new Graph('m');
  const s = g.input('s', 'float32', ['N', fx.Ds]),
    t = g.input('t', 'float32', ['N', fx.Dt]),
    y = g.input('y', 'int64', ['N']);
  const sampleIndex = g.input('sample_index', 'int64', ['N']);
  const aux = new BuildContext(g, 'train');
  const loss = distillationLoss([term], { student: { sn: s }, teacher: { tn: t }, labels: y, aux, sampleIndex, numSamples: fx.M });
  return { g, s, aux, loss };
}

describe('crd (contrastive representation distillation) matches PyTorch', () => {
  it('declares trainable embeddings, non-trainable banks and Z, and one noise input', () => {
    const { aux } = build();
    const kinds = [...aux.params.values()].map((p) => `${p.name}:${p.trainable ? 'param' : 'buffer'}:${p.shape.join('x')}`).sort();
    assert.deepEqual(kinds, [
      'crd0/embed_s/bias:param:5',
      'crd0/embed_s/weight:param:6x5',
      'crd0/embed_t/bias:param:5',
      'crd0/embed_t/weight:param:9x5',
      'crd0/memory_s:buffer:20x5',
      'crd0/memory_t:buffer:20x5',
      'crd0/z_s:buffer:1',
      'crd0/z_t:buffer:1',
    ]);
    assert.deepEqual([...aux.bufferUpdates.keys()].sort(), ['crd0/memory_s', 'crd0/memory_t', 'crd0/z_s', 'crd0/z_t']);
    assert.deepEqual(aux.noise, [{ name: 'crd0/negatives', shape: ['N', fx.K] }]);
    assert.ok(needsOf([term]).sampleIndex);
    assert.deepEqual(resolveTerms([{ method: 'crd', weight: 1, options: { teacherNode: 'a', studentNode: 'b' } }])[0].options, {
      teacherNode: 'a',
      studentNode: 'b',
      featDim: 128,
      negatives: 16384,
      temperature: 0.07,
      momentum: 0.5,
    });
  });

  it('two steps: value, gradients (student feature, both embeddings), updated banks and Z', async () => {
    const { g, s, aux, loss } = build();
    const ws = g.value('crd0/embed_s/weight'),
      wt = g.value('crd0/embed_t/weight');
    // ScatterND (the bank update) has no gradient rule, so differentiating succeeds only if the update
    // path stays off the loss; the banks are buffers, never gradient targets.
    const grads = gradients(loss.total, [s, ws, wt]);
    const upd = (n: string) => aux.bufferUpdates.get(`crd0/${n}`)!;
    g.output(loss.total, ...[s, ws, wt].map((v) => grads.get(v.name)!), ...['memory_s', 'memory_t', 'z_s', 'z_t'].map(upd));
    assert.ok(
      !g.nodes.some((n) => n.name.startsWith('grad') && n.inputs.some((i) => i === upd('memory_s').name || i === upd('memory_t').name)),
    );
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const T = (d: ArrayLike<number>, sh: number[]) => new ort.Tensor('float32', Float32Array.from(d), sh);
    const I = (d: number[]) => new ort.Tensor('int64', BigInt64Array.from(d.map(BigInt)), [d.length]);
    const { N, M, K, D } = fx;
    let state: Record<string, ort.Tensor> = {
      'crd0/memory_s': T(fx.memory_s, [M, D]),
      'crd0/memory_t': T(fx.memory_t, [M, D]),
      'crd0/z_s': T([-1], [1]),
      'crd0/z_t': T([-1], [1]),
    };
    for (const [k, st] of (fx.steps as Record<string, number[] & number>[]).entries()) {
      // u = (j + 0.5)/M so that floor(u·M) = j: the fixture's negatives.
      const u = (st.negatives as unknown as number[][]).flat().map((j) => (j + 0.5) / M);
      const r = await sess.run({
        ...state,
        s: T(st.s, [N, fx.Ds]),
        t: T(st.t, [N, fx.Dt]),
        y: I(new Array(N).fill(0)),
        sample_index: I(st.index),
        'crd0/negatives': T(u, [N, K]),
        'crd0/embed_s/weight': T(fx.ws, [fx.Ds, D]),
        'crd0/embed_t/weight': T(fx.wt, [fx.Dt, D]),
        'crd0/embed_s/bias': T(fx.bs, [D]),
        'crd0/embed_t/bias': T(fx.bt, [D]),
      });
      const at = (v: { name: string }) => r[v.name].data as Float32Array;
      const near = (got: ArrayLike<number>, want: number[], what: string) => nearScaled(got, want, `step ${k + 1} ${what}`, 1e-7);
      near(at(loss.total), [st.value], 'loss');
      near(at(grads.get('s')!), st.grad_s, 'd/ds');
      near(at(grads.get(ws.name)!), st.grad_ws, 'd/dWs');
      near(at(grads.get(wt.name)!), st.grad_wt, 'd/dWt');
      near(at(upd('memory_s')), st.memory_s, 'memory_s');
      near(at(upd('memory_t')), st.memory_t, 'memory_t');
      near(at(upd('z_s')), [st.z_s], 'Z_s');
      near(at(upd('z_t')), [st.z_t], 'Z_t');
      // The next step reads this step's banks and Z (Z set on step 1, kept on step 2).
      state = Object.fromEntries(['memory_s', 'memory_t', 'z_s', 'z_t'].map((n) => [`crd0/${n}`, r[upd(n).name]]));
    }
    await sess.release();
  });

  it('refuses to run without sample indices or the training-set size', () => {
    const g = new Graph('m');
    const s = g.input('s', 'float32', ['N', 4]),
      t = g.input('t', 'float32', ['N', 4]),
      y = g.input('y', 'int64', ['N']);
    const aux = new BuildContext(g, 'train');
    const noIndex = /crd keeps a memory-bank row per training sample: it needs the batch's dataset indices/;
    assert.throws(
      () => distillationLoss([term], { student: { sn: s }, teacher: { tn: t }, labels: y, aux }),
      (e: unknown) => e instanceof KdError && e.code === 'NO_SAMPLE_INDEX' && noIndex.test(e.message),
    );
    assert.throws(() => distillationLoss([term], { student: { sn: s }, teacher: { tn: t }, labels: y, aux, sampleIndex: y }), noIndex);
    assert.throws(
      () => distillationLoss([term], { student: { sn: s }, teacher: { tn: t }, labels: y, sampleIndex: y, numSamples: 10 }),
      /crd trains embeddings/,
    );
  });
});

describe('crd in a training run', () => {
  it('trains over a dataset: sample indices fed, banks sized by the training set, Z set, visited rows renormalised', async () => {
    const { Model } = await import('../src/nn/model.js');
    const { cnn } = await import('../src/nn/zoo/index.js');
    const { take } = await import('../src/data/index.js');
    const { loadMnist } = await import('../src/data/node/index.js');
    const { fitClassifier } = await import('../src/train/classifier.js');
    const { exportOnnx, Predictor } = await import('../src/runtime/inference.js');
    const { prepareTeacher } = await import('../src/distill/teachers/prepare.js');
    const train = take(loadMnist('train'), 192);
    const loss = [
      { method: 'ce', weight: 1 },
      { method: 'crd', weight: 0.8, options: { teacherNode: 'flatten', studentNode: 'flatten', featDim: 16, negatives: 32 } },
    ];
    const prep = await prepareTeacher(exportOnnx(new Model(cnn([8, 16]), 1)), loss, 't', [1, 28, 28], 10);
    const teacher = await Predictor.fromBytes(prep.bytes, { threads: 1 });
    const student = new Model(cnn([4, 8]), 2);
    const { losses, session } = await fitClassifier(student, train, {
      epochs: 1,
      batchSize: 64,
      threads: 1,
      loss,
      teacher,
      teacherShapes: prep.shapes,
      keepSession: true,
    });
    await teacher.release();
    try {
      assert.equal(losses.length, 3);
      assert.ok(losses.every(Number.isFinite));
      const name = (local: string) => session!.tg.state.find((s) => s.name.endsWith(`crd1/${local}`))!.name;
      for (const z of ['z_s', 'z_t']) assert.ok(session!.tensor(name(z))[0] > 0, `${z} set on the first step`);
      for (const bank of ['memory_s', 'memory_t']) {
        const b = session!.tensor(name(bank));
        assert.equal(b.length, 192 * 16);
        // One epoch visits every sample once: every row is a renormalised momentum update.
        for (let r = 0; r < 192; r++) assert.ok(Math.abs(Math.hypot(...b.subarray(r * 16, r * 16 + 16)) - 1) < 1e-5, `${bank} row ${r}`);
      }
      assert.equal(student.parameterCount(), new Model(cnn([4, 8]), 2).parameterCount(), 'embeddings stay out of the student');
    } finally {
      await session!.release();
    }
  });
});
