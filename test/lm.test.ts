import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { distillationLoss } from '../src/distill/loss.js';
import { Graph, type Value } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import { Model } from '../src/nn/model.js';
import { causalLm, convLm } from '../src/nn/zoo/lm.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { createSession, ort } from '../src/runtime/ort.js';

// PyTorch's values from test/fixtures/make_lm_fixtures.py.
const fx = JSON.parse(readFileSync(new URL('./fixtures/lm.json', import.meta.url), 'utf8'));
const [N, L, V] = fx.shape as number[];
const f32 = (d: ArrayLike<number>, sh: number[]) => new ort.Tensor('float32', Float32Array.from(d), sh);
const i64 = (d: ArrayLike<number>, sh: number[]) => new ort.Tensor('int64', BigInt64Array.from(Array.from(d, (v) => BigInt(v))), sh);

/** Value and d/d(student logits) of one loss term on the fixture's logits; `teacher` builds the teacher inputs. */
async function term(
  method: string,
  options: Record<string, unknown>,
  feeds: Record<string, ort.Tensor> = {},
  teacher?: (g: Graph) => Record<string, Value>,
) {
  const g = new Graph('lm-loss');
  const s = g.input('s', 'float32', [N, L, V]);
  const y = g.input('y', 'int64', [N, L]);
  const t = teacher ? teacher(g) : { logits: g.input('t', 'float32', [N, L, V]) };
  const loss = distillationLoss([{ method, weight: 1, options }], { student: { logits: s }, teacher: t, labels: y });
  const ds = gradients(loss.total, [s]).get('s')!;
  g.output(loss.total, ds);
  const sess = await createSession(toOnnx(g), { threads: 1 });
  const r = await sess.run({ s: f32(fx.s, [N, L, V]), y: i64(fx.y, [N, L]), ...(teacher ? {} : { t: f32(fx.t, [N, L, V]) }), ...feeds });
  await sess.release();
  return { value: (r[loss.total.name].data as Float32Array)[0], grad: r[ds.name].data as Float32Array };
}

function near(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 2e-5) {
  for (let i = 0; i < want.length; i++)
    assert.ok(Math.abs(got[i] - want[i]) <= tol * Math.max(1, Math.abs(want[i])), `${what}[${i}]: ${got[i]} vs PyTorch ${want[i]}`);
}

describe('language-model losses match PyTorch (padding masked)', () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ['token_ce', 'token_ce', {}],
    ['token_kl', 'token_kl', { temperature: 2 }],
    ['reverse_kl', 'reverse_kl', {}],
    ['gkd', 'gkd', { beta: 0.5, temperature: 1.5 }],
    ['gkd_beta0', 'gkd', { beta: 0 }],
    ['gkd_beta1', 'gkd', { beta: 1 }],
    ['token_kl_top3', 'token_kl', { temperature: 2, topk: 3 }],
  ];
  for (const [key, method, options] of cases)
    it(`${key}: value and gradient`, async () => {
      const r = await term(method, options);
      near([r.value], [fx[key].value], 'value');
      near(r.grad, fx[key].grad, 'd/ds');
    });

  it('unscored positions (label −1) get no gradient, whatever the logits there', async () => {
    const r = await term('gkd', { beta: 0.3 });
    for (let n = 0; n < N; n++)
      for (let l = 0; l < L; l++) if (fx.y[n * L + l] < 0) for (let v = 0; v < V; v++) assert.equal(r.grad[(n * L + l) * V + v], 0);
  });

  it("distilling from cached top-k (values and token ids) equals the live teacher's top-k", async () => {
    const k = 3;
    // What a cache stores: the teacher's k largest logits per position and their ids.
    const vals: number[] = [],
      idx: number[] = [];
    for (let p = 0; p < N * L; p++) {
      const row = fx.t.slice(p * V, (p + 1) * V) as number[];
      const order = row.map((_, i) => i).sort((a, b) => row[b] - row[a]);
      for (const i of order.slice(0, k)) {
        vals.push(row[i]);
        idx.push(i);
      }
    }
    const live = await term('token_kl', { temperature: 2, topk: k });
    const cached = await term('token_kl', { temperature: 2, topk: k }, { tv: f32(vals, [N, L, k]), ti: i64(idx, [N, L, k]) }, (g) => ({
      'topk/values': g.input('tv', 'float32', [N, L, k]),
      'topk/indices': g.input('ti', 'int64', [N, L, k]),
    }));
    assert.equal(cached.value, live.value);
    assert.deepEqual(Array.from(cached.grad), Array.from(live.grad));
  });

  it('a per-token loss on classifier logits is refused with what to use instead', () => {
    const g = new Graph('x');
    assert.throws(
      () =>
        distillationLoss([{ method: 'token_kl', weight: 1 }], {
          student: { logits: g.input('s', 'float32', ['N', 10]) },
          teacher: { logits: g.input('t', 'float32', ['N', 10]) },
          labels: g.input('y', 'int64', ['N']),
        }),
      /token_kl is a per-token loss for language models: it needs logits \[N, L, vocab\].*for classifiers use kd/,
    );
  });
});

/** Logits of `ids` [1, n] through an exported model. */
async function logitsOf(p: Predictor, ids: number[]): Promise<Float32Array> {
  return (await p.run(i64(ids, [1, ids.length]), ['logits'])).logits.data as Float32Array;
}

describe('causal language models', () => {
  for (const def of [causalLm({ vocab: 20, dim: 16, layers: 2, heads: 2, maxLen: 32 }), convLm({ vocab: 20, dim: 16, layers: 3 })])
    it(`${def.name}: no position sees a later one, at any length`, async () => {
      const p = await Predictor.fromBytes(exportOnnx(new Model(def, 1)), { threads: 1 });
      const ids = [1, 5, 7, 3, 2, 9, 4, 4, 6, 8];
      const a = await logitsOf(p, ids);
      for (const at of [3, 9]) {
        const changed = ids.map((v, i) => (i === at ? (v + 7) % 20 : v));
        const b = await logitsOf(p, changed);
        for (let i = 0; i < at * 20; i++) assert.equal(b[i], a[i], `position ${Math.floor(i / 20)} changed when token ${at} did`);
        assert.ok(
          b.slice(at * 20).some((v, i) => v !== a[at * 20 + i]),
          'the changed position itself sees its token',
        );
      }
      // A prefix gives the same logits as the same positions of the longer sequence (right padding is harmless).
      const short = await logitsOf(p, ids.slice(0, 4));
      for (let i = 0; i < short.length; i++) assert.ok(Math.abs(short[i] - a[i]) < 1e-5);
      await p.release();
    });
});
