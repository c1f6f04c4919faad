import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { distillationLoss, resolveTerms, teacherOutputsOf, type LossTerm } from '../src/distill/loss.js';
import { Graph, type Value } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import { take } from '../src/data/index.js';
import { loadMnist } from '../src/data/node/index.js';
import { cohort, peerModel } from '../src/distill/schemes/cohort.js';
import { Model } from '../src/nn/model.js';
import { cnn, mlp } from '../src/nn/zoo/index.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { evaluateClassifier, fitClassifier } from '../src/train/classifier.js';
import { KdError } from '../src/util/errors.js';

// PyTorch values from test/fixtures/make_online_fixtures.py (DML's kl_loss_compute, ONE's KLLoss, KDCL-Naive).
const fx = JSON.parse(readFileSync(new URL('./fixtures/online.json', import.meta.url), 'utf8'));
const [N, C] = fx.shape as number[];
const T = (d: ArrayLike<number>, sh: number[]) => new ort.Tensor('float32', Float32Array.from(d), sh);
const labels = () => new ort.Tensor('int64', BigInt64Array.from((fx.labels as number[]).map(BigInt)), [N]);

/** Each value within 1e-4 of the largest reference magnitude plus 1e-6 (the references' 1e-7/1e-8 guards), as methods.test.ts. */
function nearScaled(got: ArrayLike<number>, want: number[], what: string): void {
  const scale = Math.max(...want.map(Math.abs));
  assert.equal(got.length, want.length, `${what}: length`);
  want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-4 * scale + 1e-6, `${what}[${i}]: ${got[i]} vs PyTorch ${v}`));
}

/** A term's loss on K fed peer logits, as a cohort's training step would see them. */
function build(term: LossTerm, K: number) {
  const g = new Graph('m');
  const zs = Array.from({ length: K }, (_, k) => g.input(`peer${k}/logits`, 'float32', ['N', C]));
  const y = g.input('y', 'int64', ['N']);
  const student: Record<string, Value> = { logits: zs[0], ...Object.fromEntries(zs.map((z) => [z.name, z])) };
  const loss = distillationLoss([term], { student, teacher: {}, labels: y });
  return { g, zs, loss };
}
const feeds = (K: number) => ({
  y: labels(),
  ...Object.fromEntries(Array.from({ length: K }, (_, k) => [`peer${k}/logits`, T(fx.logits[k], [N, C])])),
});

describe('online methods match PyTorch (values and gradients w.r.t. every peer)', () => {
  for (const c of fx.cases) {
    it(`${c.method} K=${c.peers} ${JSON.stringify(c.options)}`, async () => {
      const { g, zs, loss } = build({ method: c.method, weight: 1, options: c.options }, c.peers);
      const grads = gradients(loss.total, zs);
      g.output(loss.total, ...zs.map((z) => grads.get(z.name)!));
      const sess = await createSession(toOnnx(g), { threads: 1 });
      const r = await sess.run(feeds(c.peers));
      nearScaled(r[loss.total.name].data as Float32Array, [c.value], 'loss');
      zs.forEach((z, k) => nearScaled(r[grads.get(z.name)!.name].data as Float32Array, c.grads[k], `d/d peer${k}`));
      await sess.release();
    });
  }

  it('need no teacher, default to every peer present, and read only `peers` when given', async () => {
    assert.deepEqual(
      teacherOutputsOf([
        { method: 'dml', weight: 1 },
        { method: 'peer_ensemble', weight: 1 },
      ]),
      [],
    );
    assert.deepEqual(resolveTerms([{ method: 'dml', weight: 1 }])[0].options, { withCe: true, temperature: 1 });
    assert.deepEqual(resolveTerms([{ method: 'peer_ensemble', weight: 1 }])[0].options, { withCe: true, temperature: 3, ensemble: 'mean' });
    // Three peers fed, two read: the value is the two-peer case's.
    const { g, loss } = build({ method: 'dml', weight: 1, options: { peers: 2 } }, 3);
    g.output(loss.total);
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const r = await sess.run(feeds(3));
    nearScaled(
      r[loss.total.name].data as Float32Array,
      [fx.cases.find((c: { method: string; peers: number }) => c.method === 'dml' && c.peers === 2).value],
      'loss',
    );
    await sess.release();
  });

  it('refuse a student that is not a cohort, or one with fewer peers than asked', () => {
    const g = new Graph('m');
    const z = g.input('logits', 'float32', ['N', C]),
      y = g.input('y', 'int64', ['N']);
    const bad = /dml reads the logits of at least 2 peers .* the student has 0; train a cohort/;
    assert.throws(
      () => distillationLoss([{ method: 'dml', weight: 1 }], { student: { logits: z }, teacher: {}, labels: y }),
      (e: unknown) => e instanceof KdError && e.code === 'BAD_LOSS' && bad.test(e.message),
    );
    assert.throws(
      () => build({ method: 'peer_ensemble', weight: 1, options: { peers: 3 } }, 2),
      /peer_ensemble reads the logits of 3 peers .* the student has 2/,
    );
  });

  for (const method of ['dml', 'peer_ensemble']) {
    it(`${method}: a peer's own KL term sends no gradient into the peers it learns from (targets detached)`, async () => {
      const { g, zs } = build({ method, weight: 1, options: { withCe: false } }, 2);
      const kl0 = g.value('kl_peer0');
      const grads = gradients(kl0, zs);
      g.output(kl0, ...zs.map((z) => grads.get(z.name)!));
      const sess = await createSession(toOnnx(g), { threads: 1 });
      const r = await sess.run(feeds(2));
      assert.ok((r[kl0.name].data as Float32Array)[0] > 1e-3, 'the KL term is not zero');
      const [d0, d1] = zs.map((z) => Array.from(r[grads.get(z.name)!.name].data as Float32Array));
      assert.ok(
        d0.some((v) => Math.abs(v) > 1e-4),
        'peer 0 learns from its KL term',
      );
      assert.ok(
        d1.every((v) => v === 0),
        `peer 1 gets no gradient from peer 0's term: ${d1}`,
      );
      await sess.release();
    });
  }
});

describe('cohort models', () => {
  it('scope each peer, output logits (peer 0) and peerK/logits, and check their inputs agree', () => {
    const m = new Model(cohort([cnn([4, 8]), mlp([784, 16, 10], { inputShape: [1, 28, 28] })]), 3);
    const names = [...m.specs.keys()];
    assert.ok(names.includes('peer0/block1/conv/weight') && names.includes('peer1/fc1/weight'));
    assert.ok(
      names.every((n) => n.startsWith('peer0/') || n.startsWith('peer1/')),
      names.join(', '),
    );
    assert.deepEqual(Object.keys(m.build('eval').outputs), ['logits', 'peer0/logits', 'peer1/logits']);
    assert.equal(
      m.parameterCount(),
      new Model(cnn([4, 8])).parameterCount() + new Model(mlp([784, 16, 10], { inputShape: [1, 28, 28] })).parameterCount(),
    );
    assert.throws(
      () => cohort([cnn([4]), mlp([784, 10])]),
      (e: unknown) => e instanceof KdError && e.code === 'SHAPE_MISMATCH' && /peer 1 \('mlp-784-10'\) takes inputs/.test(e.message),
    );
    assert.throws(() => cohort([cnn([4])]), /at least two peers/);
    assert.throws(() => peerModel(new Model(cnn([4])), 0), /is not a cohort/);
    assert.throws(() => peerModel(m, 2), /has peers 0\.\.1, not 2/);
    // Same architecture, same seed: the peers still start apart (values seeded by the scoped name).
    const twins = new Model(cohort([cnn([4]), cnn([4])]), 1);
    assert.notDeepEqual(twins.values.get('peer0/fc/weight'), twins.values.get('peer1/fc/weight'));
  });

  it('a cohort of two zoo models trains with dml; DML updates every peer; each exported peer equals its cohort output', async () => {
    const train = take(loadMnist('train'), 256),
      test = take(loadMnist('test'), 200);
    const m = new Model(cohort([cnn([4, 8]), mlp([784, 16, 10], { inputShape: [1, 28, 28] })]), 5);
    const before = new Map([...m.values].map(([k, v]) => [k, Float32Array.from(v)]));
    const { losses } = await fitClassifier(m, train, { epochs: 1, batchSize: 64, threads: 1, loss: [{ method: 'dml', weight: 1 }] });
    assert.equal(losses.length, 4);
    assert.ok(losses.every(Number.isFinite));
    for (const name of m.trainableNames()) assert.notDeepEqual(m.values.get(name), before.get(name), `${name} did not change`);
    const whole = await Predictor.fromModel(m, { threads: 1 });
    const x = T(test.x.subarray(0, 32 * 784), [32, 1, 28, 28]);
    const out = await whole.run(x);
    for (const k of [0, 1]) {
      const peer = await Predictor.fromBytes(exportOnnx(peerModel(m, k)), { threads: 1 });
      const got = (await peer.run(x, ['logits'])).logits.data as Float32Array;
      nearScaled(got, Array.from(out[`peer${k}/logits`].data as Float32Array), `peer ${k} alone vs in the cohort`);
      await peer.release();
    }
    await whole.release();
    // The cohort evaluates as peer 0.
    assert.equal(
      (await evaluateClassifier(m, test, { threads: 1 })).accuracy,
      (await evaluateClassifier(peerModel(m, 0), test, { threads: 1 })).accuracy,
    );
  });

  for (const method of ['dml', 'peer_ensemble']) {
    it(`${method} without CE: each peer's KL term is non-zero and moves that peer`, async () => {
      const train = take(loadMnist('train'), 128);
      const def = mlp([784, 12, 10], { inputShape: [1, 28, 28] });
      const m = new Model(cohort([def, def]), 7);
      const before = new Map([...m.values].map(([k, v]) => [k, Float32Array.from(v)]));
      const steps: Record<string, number>[] = [];
      await fitClassifier(m, train, {
        epochs: 1,
        batchSize: 64,
        threads: 1,
        stepsPerRun: 1,
        loss: [{ method, weight: 1, options: { withCe: false } }],
        onStep: (_, o) => steps.push(o),
      });
      assert.ok(
        steps.every((s) => s[method] > 1e-4),
        `the ${method} term is non-zero: ${steps.map((s) => s[method])}`,
      );
      for (const k of [0, 1]) {
        const changed = m
          .trainableNames()
          .filter((n) => n.startsWith(`peer${k}/`))
          .every((n) => m.values.get(n)!.some((v, i) => v !== before.get(n)![i]));
        assert.ok(changed, `every parameter of peer ${k} moved under the KL alone`);
      }
    });
  }
});
