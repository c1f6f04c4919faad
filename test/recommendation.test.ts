import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { configRegistry } from '../src/cli/run.js';
import { parseConfig } from '../src/config/node/index.js';
import { knownMask, timeSplit, type InteractionLog } from '../src/data/interactions.js';
import { loadMovieLens, movieLensLog } from '../src/data/node/movielens.js';
import { readRSerialized } from '../src/data/rdata.js';
import { distillationLoss, needsOf } from '../src/distill/loss.js';
import { runExperiment } from '../src/frontends/run-config.js';
import { Graph } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import { BuildContext } from '../src/nn/context.js';
import { Model } from '../src/nn/model.js';
import { zooModel } from '../src/nn/zoo/index.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { rankingMetrics } from '../src/train/ranking-metrics.js';
import { RunDir } from '../src/train/run-dir.js';

// PyTorch values from test/fixtures/make_ranking_fixtures.py (torch 1.13, float64); CI reads only the JSON.
const fx = JSON.parse(readFileSync(new URL('./fixtures/ranking.json', import.meta.url), 'utf8'));

describe('rd (ranking distillation) matches PyTorch', () => {
  for (const c of fx.cases) {
    const o = c.options;
    const title = `${o.weighting} weights (k ${o.k}, λ ${o.lambda}, μ ${o.mu}, ${o.form}, step ${c.step} of hybridAfter ${o.hybridAfter})`;
    it(title, async () => {
      const [N, I] = fx.shape;
      const g = new Graph('rd');
      const s = g.input('s', 'float32', ['N', I]),
        t = g.input('t', 'float32', ['N', I]),
        known = g.input('known', 'float32', ['N', I]),
        y = g.input('y', 'int64', ['N']);
      g.input('step', 'float32', []);
      const aux = new BuildContext(g, 'train');
      const loss = distillationLoss([{ method: 'rd', weight: 1, options: o }], {
        student: { logits: s },
        teacher: { logits: t },
        labels: y,
        known,
        aux,
      });
      const ds = gradients(loss.total, [s]).get('s')!;
      g.output(loss.total, ds);
      const sess = await createSession(toOnnx(g), { threads: 1 });
      const T = (d: number[]) => new ort.Tensor('float32', Float32Array.from(d), [N, I]);
      const r = await sess.run({
        s: T(fx.s),
        t: T(fx.t),
        known: T(fx.known),
        y: new ort.Tensor('int64', new BigInt64Array(N), [N]),
        step: new ort.Tensor('float32', Float32Array.of(c.step), []),
      });
      await sess.release();
      const value = (r[loss.total.name].data as Float32Array)[0];
      assert.ok(Math.abs(value - c.value) <= 1e-5 * Math.abs(c.value), `loss ${value} vs PyTorch ${c.value}`);
      const grad = r[ds.name].data as Float32Array;
      const scale = Math.max(...c.grad_s.map(Math.abs));
      c.grad_s.forEach((w: number, i: number) => assert.ok(Math.abs(grad[i] - w) <= 1e-5 * scale, `dL/ds[${i}]: ${grad[i]} vs ${w}`));
    });
  }

  it('asks the trainer for the known items, and refuses a loss without them', () => {
    assert.equal(needsOf([{ method: 'rd', weight: 1 }]).known, true);
    const g = new Graph('rd');
    const s = g.input('s', 'float32', ['N', 5]);
    assert.throws(
      () => distillationLoss([{ method: 'rd', weight: 1 }], { student: { logits: s }, teacher: { logits: s }, labels: s }),
      /rd needs each user's known items/,
    );
  });
});

describe('ranking metrics', () => {
  it('NDCG@k and Recall@k of a hand-computed example, known items left out', () => {
    // Two users, six items. User 0 knows item 0 (its best score, so skipped); ranked: 1 (0.8), 3 (0.6), 5 (0.4), …
    // held out {3, 4}: with k = 3 the top is [1, 3, 5], a hit at position 2 → DCG 1/log2(3), IDCG 1 + 1/log2(3).
    // User 1 knows nothing; ranked [4, 2, 0]; held out {2}: a hit at position 2 → NDCG 1/log2(3), recall 1.
    const scores = Float32Array.from([0.9, 0.8, 0.1, 0.6, 0.3, 0.4, 0.5, 0.2, 0.6, 0.1, 0.9, 0.0]);
    const known = { offsets: Int32Array.from([0, 1, 1]), items: Int32Array.from([0]) };
    const rel = new Map([
      [0, [3, 4]],
      [1, [2]],
    ]);
    const m = rankingMetrics(scores, [0, 1], rel, { items: 6, known }, 3);
    const l3 = 1 / Math.log2(3);
    const want = { ndcg: (l3 / (1 + l3) + l3) / 2, recall: (1 / 2 + 1) / 2 };
    assert.ok(Math.abs(m.ndcg - want.ndcg) < 1e-12, `ndcg ${m.ndcg} vs ${want.ndcg}`);
    assert.ok(Math.abs(m.recall - want.recall) < 1e-12, `recall ${m.recall} vs ${want.recall}`);
    assert.equal(m.users, 2);
    // Ties go to the lower item index: equal scores rank items 1, 2, 3 for user 0 (item 0 is known), 0, 1, 2 for user 1,
    // so each hit is third (1/log2(4) = 0.5).
    const flat = rankingMetrics(new Float32Array(12), [0, 1], rel, { items: 6, known }, 3);
    assert.ok(Math.abs(flat.ndcg - (0.5 / (1 + l3) + 0.5) / 2) < 1e-12, `ndcg ${flat.ndcg}`);
  });

  it('the known-item mask the trainer feeds', () => {
    const inter = { users: 2, items: 4, known: { offsets: Int32Array.from([0, 2, 3]), items: Int32Array.from([1, 3, 0]) } };
    assert.deepEqual([...knownMask(inter, BigInt64Array.from([1n, 0n]), 2, new Float32Array(8))], [1, 0, 0, 0, 0, 1, 0, 1]);
  });
});

describe('interaction data', () => {
  it('splits each user by time: the latest 20% test, 10% before validation, known items per split', () => {
    // One user with ten interactions at times 9, 8, …, 0 (the log's order reversed) and one with two.
    const log: InteractionLog = {
      name: 'toy',
      users: 2,
      items: 12,
      user: Int32Array.from([...new Array(10).fill(0), 1, 1]),
      item: Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
      time: Float64Array.from([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 1]),
    };
    const s = timeSplit(log, { test: 0.2, validation: 0.1 });
    assert.deepEqual([...s.test.y], [0, 1]);
    assert.deepEqual([...s.val!.y], [2]);
    // The second user has too few interactions for three parts: training only.
    assert.deepEqual(
      [...s.train.y].sort((a, b) => a - b),
      [3, 4, 5, 6, 7, 8, 9, 10, 11],
    );
    assert.deepEqual([...s.train.ids], [0, 0, 0, 0, 0, 0, 0, 1, 1]);
    const k = s.test.interactions.known;
    assert.deepEqual([...k.items.subarray(k.offsets[0], k.offsets[1])], [2, 3, 4, 5, 6, 7, 8, 9]);
    const kt = s.train.interactions.known;
    assert.deepEqual([...kt.items.subarray(kt.offsets[0], kt.offsets[1])], [3, 4, 5, 6, 7, 8, 9]);
  });

  it('reads R data: an ALTREP compact sequence (R ≥ 3.5 writes 1:n so)', () => {
    const w: number[] = [0x58, 0x0a];
    const int = (v: number) => w.push((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
    const str = (s: string) => {
      int(9 | (1 << 12) | (4 << 12));
      int(s.length);
      for (const ch of s) w.push(ch.charCodeAt(0));
    };
    const dbl = (v: number) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, v, false);
      w.push(...b);
    };
    [2, 0x040101, 0x030500].forEach(int);
    int(238); // ALTREP: info pairlist (class, package, type), state c(n, start, step), attributes
    int(2);
    int(1);
    str('compact_intseq');
    int(2);
    int(1);
    str('base');
    int(2);
    int(13);
    int(1);
    int(13);
    int(254);
    int(14);
    int(3);
    [4, 7, 1].forEach(dbl);
    int(254);
    const v = readRSerialized(Uint8Array.from(w));
    assert.equal(v.type, 'integer');
    assert.deepEqual([...(v as { data: Int32Array }).data], [7, 8, 9, 10]);
  });

  it("loads MovieLens from R's dslabs package (Debian r-cran-dslabs): 100,004 ratings, 671 users, 9,066 movies", () => {
    const log = movieLensLog();
    assert.equal(log.user.length, 100004);
    assert.equal(log.users, 671);
    assert.equal(log.items, 9066);
    assert.equal(log.itemNames?.[0], 'Toy Story');
    const s = loadMovieLens({ minItemInteractions: 10, validation: 0.1 });
    assert.equal(s.items, 2245);
    assert.equal(s.train.n + s.val!.n + s.test.n, 81915);
    assert.deepEqual([s.train.n, s.val!.n, s.test.n], [57298, 8228, 16389]);
    assert.equal(new Set(s.test.ids).size, 671);
    // No held-out interaction is among the items the ranking leaves out for that user.
    const k = s.test.interactions.known;
    for (let i = 0; i < s.test.n; i++) {
      const u = s.test.ids[i];
      assert.ok(!k.items.subarray(k.offsets[u], k.offsets[u + 1]).includes(s.test.y[i]), `test row ${i} is known`);
    }
  });
});

describe('recommenders', () => {
  it('mf-<d> scores every item for a user id; a deeper tower is an MLP on the user embedding', async () => {
    const def = zooModel('mf-4-8-3', [1], 7, 5);
    const m = new Model(def, 0);
    assert.equal(m.parameterCount(), 5 * 4 + (4 * 8 + 8) + (8 * 3 + 3) + (3 * 7 + 7));
    const p = await Predictor.fromBytes(exportOnnx(m));
    const out = await p.run(new ort.Tensor('int64', BigInt64Array.from([0n, 4n]), [2, 1]), ['logits']);
    assert.deepEqual(out.logits.dims, [2, 7]);
    await p.release();
    assert.throws(() => zooModel('mf-16', [1, 28, 28], 10), /scores items for a user id/);
  });
});

describe('a recommendation config, end to end', () => {
  it('trains the teacher, the student alone and with rd; rows carry NDCG@10 and Recall@10', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-rec-'));
    const yaml = [
      'name: rec-tiny',
      `outDir: ${join(dir, 'run')}`,
      'dataset: { name: movielens, options: { minItemInteractions: 150 } }',
      'teacher: { model: mf-16 }',
      'student: { model: mf-4 }',
      'loss:',
      '  - { method: ce, weight: 1 }',
      '  - { method: rd, weight: 1, options: { k: 5 } }',
      'optimizer: { name: adam, lr: 0.01 }',
      'epochs: 1',
      'batchSize: 512',
      'baseline: true',
    ].join('\n');
    const cfg = parseConfig(yaml, join(dir, 'rec.yaml'), configRegistry());
    const s = await runExperiment(cfg, { runDir: new RunDir(cfg.outDir) });
    assert.deepEqual(
      s.rows.map((r) => r.role),
      ['teacher', 'baseline', 'distilled'],
    );
    for (const r of s.rows) {
      assert.ok(r.ranking, `${r.role} has ranking metrics`);
      assert.equal(r.ranking.k, 10);
      assert.ok(r.ranking.ndcg > 0 && r.ranking.ndcg <= 1 && r.ranking.recall > 0 && r.ranking.recall <= 1, JSON.stringify(r.ranking));
    }
    assert.equal(s.rows[0].ranking!.users, 620);
  });
});
