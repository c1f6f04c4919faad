import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig, type ConfigRegistry } from '../src/config/node/index.js';
import { distillationLoss } from '../src/distill/loss.js';
import { methodRegistry } from '../src/distill/registry.js';
import { take } from '../src/data/index.js';
import { loadMnist } from '../src/data/node/index.js';
import { Graph, type Value } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import { cohort, peerModel } from '../src/distill/schemes/cohort.js';
import { codistillationCohort } from '../src/distill/schemes/stale-copies.js';
import { Model } from '../src/nn/model.js';
import { cnn, mlp, zooModel } from '../src/nn/zoo/index.js';
import { exportOnnx } from '../src/runtime/inference.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { fitClassifier } from '../src/train/classifier.js';
import { KdError } from '../src/util/errors.js';

const small = () => [cnn([4]), mlp([784, 12, 10], { inputShape: [1, 28, 28] })];
const copyOf = (m: Map<string, Float32Array>) => new Map([...m].map(([k, v]) => [k, Float32Array.from(v)]));

describe('codistillation cohort', () => {
  it(
    'stale copies hold the live values from the start ' +
      'of the latest refresh step (steps 1, N+1, …), ' +
      'BatchNorm statistics included',
    async () => {
      const N = 3,
        steps = 7;
      const m = new Model(codistillationCohort(small(), { refreshEvery: N }), 2);
      const stale = m.bufferNames().filter((n) => n.startsWith('stale/'));
      assert.ok(
        stale.includes('stale/peer0/block1/conv/weight') &&
          stale.includes('stale/peer1/fc1/weight') &&
          stale.some((n) => /running_mean/.test(n)),
        stale.join(', '),
      );
      assert.deepEqual(
        stale.map((n) => n.slice(6)).sort(),
        [...m.specs.keys()].filter((n) => !n.startsWith('stale/')).sort(),
        'one copy per live parameter and buffer',
      );
      // live[s]: every tensor after s steps (live[0]: the initial values); staleAfter[s]: the copies after s steps.
      const live = [copyOf(m.values)],
        staleAfter: Map<string, Float32Array>[] = [];
      const train = take(loadMnist('train'), 64 * steps);
      await fitClassifier(m, train, {
        epochs: 1,
        batchSize: 64,
        threads: 1,
        stepsPerRun: 1,
        loss: [{ method: 'codistill', weight: 1 }],
        onRun: (session) => {
          live.push(new Map(stale.map((n) => [n.slice(6), Float32Array.from(session.tensor(n.slice(6)))])));
          staleAfter.push(new Map(stale.map((n) => [n, Float32Array.from(session.tensor(n))])));
        },
      });
      assert.equal(staleAfter.length, steps);
      for (let s = 1; s <= steps; s++) {
        const from = Math.floor((s - 1) / N) * N; // the copies were taken at the start of step from+1
        for (const n of stale)
          assert.deepEqual(staleAfter[s - 1].get(n), live[from].get(n.slice(6)), `after step ${s}, ${n} = live after ${from} steps`);
      }
      assert.notDeepEqual(
        live[3].get('peer1/fc1/weight'),
        live[0].get('peer1/fc1/weight'),
        'the live values moved, so the comparisons above tell refreshes apart',
      );

      // The same steps as one ONNX Loop (stepsPerRun 4, 'step' computed inside the body) end identically.
      const loop = new Model(codistillationCohort(small(), { refreshEvery: N }), 2);
      await fitClassifier(loop, train, {
        epochs: 1,
        batchSize: 64,
        threads: 1,
        stepsPerRun: 4,
        loss: [{ method: 'codistill', weight: 1 }],
      });
      for (const n of stale) assert.deepEqual(loop.values.get(n), staleAfter[steps - 1].get(n), `${n} with stepsPerRun 4`);
    },
  );

  it('trains every parameter of every peer (KL term alone); exported peers and cohort hold no stale copies', async () => {
    const m = new Model(codistillationCohort(small(), { refreshEvery: 2 }), 5);
    const before = copyOf(m.values);
    const seen: Record<string, number>[] = [];
    await fitClassifier(m, take(loadMnist('train'), 256), {
      epochs: 1,
      batchSize: 64,
      threads: 1,
      loss: [{ method: 'codistill', weight: 1, options: { withCe: false } }],
      onStep: (_, o) => seen.push(o),
    });
    assert.ok(
      seen.every((o) => o.codistill > 1e-4),
      `the term is non-zero: ${seen.map((o) => o.codistill)}`,
    );
    for (const n of m.trainableNames())
      assert.ok(
        m.values.get(n)!.some((v, i) => v !== before.get(n)![i]),
        `${n} did not change`,
      );
    assert.ok(
      m.trainableNames().every((n) => !n.startsWith('stale/')),
      'copies are not trainable',
    );
    for (const k of [0, 1]) {
      const bytes = exportOnnx(peerModel(m, k));
      assert.ok(!Buffer.from(bytes).includes('stale'), `peer ${k}'s export mentions no stale copy`);
      assert.deepEqual(
        [...peerModel(m, k).specs.keys()].filter((n) => n.startsWith('stale')),
        [],
      );
    }
    assert.ok(!Buffer.from(exportOnnx(m)).includes('stale'), 'the whole cohort exports without copies');
    assert.deepEqual(Object.keys(m.build('eval').outputs), ['logits', 'peer0/logits', 'peer1/logits']);
  });

  it('refuses a bad refreshEvery', () => {
    for (const n of [0, 1.5])
      assert.throws(
        () => codistillationCohort(small(), { refreshEvery: n }),
        (e: unknown) => e instanceof KdError && /refreshEvery must be an integer ≥ 1/.test(e.message),
      );
  });
});

describe('codistill term', () => {
  const Nb = 4,
    C = 5,
    K = 3;
  const rnd = (i: number) => Math.sin(i * 12.9898) * 3;
  const data = (base: number) => Float32Array.from({ length: Nb * C }, (_, i) => rnd(base + i));
  const labels = [0, 3, 1, 4];

  it('equals Σ_k [CE_k + 1/(K−1)·Σ_{l≠k} T²·KL(p_l^stale ‖ p_k)] computed directly', async () => {
    const T = 2;
    const g = new Graph('m');
    const y = g.input('y', 'int64', ['N']);
    const student: Record<string, Value> = {};
    for (let k = 0; k < K; k++)
      for (const p of ['', 'stale/']) student[`${p}peer${k}/logits`] = g.input(`${p}peer${k}/logits`, 'float32', ['N', C]);
    student.logits = student['peer0/logits'];
    const loss = distillationLoss([{ method: 'codistill', weight: 1, options: { temperature: T } }], { student, teacher: {}, labels: y });
    g.output(loss.total);
    const feeds: Record<string, ort.Tensor> = { y: new ort.Tensor('int64', BigInt64Array.from(labels.map(BigInt)), [Nb]) };
    const vals: Record<string, Float32Array> = {};
    Object.keys(student)
      .filter((n) => n !== 'logits')
      .forEach((n, j) => {
        vals[n] = data(100 * j);
        feeds[n] = new ort.Tensor('float32', vals[n], [Nb, C]);
      });
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const got = ((await sess.run(feeds))[loss.total.name].data as Float32Array)[0];
    await sess.release();

    const logSoftmax = (z: Float32Array, n: number, t: number) => {
      const row = Array.from(z.subarray(n * C, n * C + C), (v) => v / t),
        mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0));
      return row.map((v) => v - lse);
    };
    let want = 0;
    for (let k = 0; k < K; k++)
      for (let n = 0; n < Nb; n++) {
        want -= logSoftmax(vals[`peer${k}/logits`], n, 1)[labels[n]] / Nb;
        const lk = logSoftmax(vals[`peer${k}/logits`], n, T);
        for (let l = 0; l < K; l++)
          if (l !== k) {
            const ll = logSoftmax(vals[`stale/peer${l}/logits`], n, T);
            want += (((T * T) / (K - 1)) * ll.reduce((a, v, c) => a + Math.exp(v) * (v - lk[c]), 0)) / Nb;
          }
      }
    assert.ok(Math.abs(got - want) <= 1e-5 * Math.abs(want), `${got} vs ${want}`);
  });

  it('refuses a student without stale predictions (a plain cohort)', () => {
    const g = new Graph('m');
    const student = Object.fromEntries([0, 1].map((k) => [`peer${k}/logits`, g.input(`peer${k}/logits`, 'float32', ['N', C])]));
    assert.throws(
      () =>
        distillationLoss([{ method: 'codistill', weight: 1 }], {
          student: { logits: student['peer0/logits'], ...student },
          teacher: {},
          labels: g.input('y', 'int64', ['N']),
        }),
      (e: unknown) =>
        e instanceof KdError &&
        e.code === 'BAD_LOSS' &&
        /codistill reads the peers' stale predictions .* train a codistillation cohort/.test(e.message),
    );
    // And a plain cohort has no stale outputs in training either.
    assert.ok(!Object.keys(new Model(cohort(small())).build('train').outputs).some((n) => n.startsWith('stale/')));
  });
});

describe('codistillation in a config', () => {
  const registry: ConfigRegistry = {
    methods: methodRegistry(),
    models: (n) => {
      try {
        zooModel(n);
        return true;
      } catch {
        return false;
      }
    },
    modelExamples: ['cnn-4-8'],
  };
  const cfg = (stage: string) =>
    parseConfig(
      ['dataset: { name: mnist }', 'epochs: 1', 'stages:', `  - ${stage}`].join('\n'),
      path.join(import.meta.dirname, 'x.yaml'),
      registry,
      { checkFiles: false },
    );
  it('a cohort stage takes refreshEvery; a single-model stage refuses it', () => {
    assert.equal(
      cfg('{ name: c, cohort: [cnn-4-8, cnn-4-8], refreshEvery: 50, loss: [{ method: codistill }] }').stages[0].refreshEvery,
      50,
    );
    assert.equal(cfg('{ name: c, cohort: [cnn-4-8, cnn-4-8], loss: [{ method: dml }] }').stages[0].refreshEvery, null);
    assert.throws(() => cfg('{ name: c, model: cnn-4-8, refreshEvery: 5 }'), /refreshEvery.*this stage has no 'cohort'/);
    assert.throws(() => cfg('{ name: c, cohort: [cnn-4-8, cnn-4-8], refreshEvery: 0 }'), /refreshEvery/);
  });
});
