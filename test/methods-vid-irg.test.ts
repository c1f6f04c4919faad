import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { distillationLoss, resolveTerms } from '../src/distill/loss.js';
import { Graph } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import { BuildContext } from '../src/nn/context.js';
import { createSession, ort } from '../src/runtime/ort.js';

/** Each value within 1e-4 of the largest reference magnitude plus 1e-7 (the scaled tolerance of test/methods.test.ts). */
function near(got: ArrayLike<number>, want: number[], what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, PyTorch has ${want.length}`);
  const scale = Math.max(...want.map(Math.abs));
  want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-4 * scale + 1e-7, `${what}[${i}]: ${got[i]} vs PyTorch ${v}`));
}
const T = (d: number[], sh: number[]) => new ort.Tensor('float32', Float32Array.from(d), sh);
const labels = (n: number) => new ort.Tensor('int64', new BigInt64Array(n), [n]);

// PyTorch values from test/fixtures/make_vid_irg_fixtures.py; CI reads only the JSON.
const fx = JSON.parse(readFileSync(new URL('./fixtures/vid_irg.json', import.meta.url), 'utf8'));

describe('vid (variational information distillation) matches PyTorch', () => {
  for (const [label, c, options] of [
    ['feature maps, mid width = teacher channels (RepDistiller default)', fx.vid_conv, {}],
    ['flat features, linear regressor, midChannels set', fx.vid_flat, { midChannels: fx.vid_flat.mid }],
  ] as const) {
    it(`${label}: value and gradients w.r.t. the student feature, regressor and log_scale`, async () => {
      const g = new Graph('m');
      const s = g.input('s', 'float32', ['N', ...c.s_shape.slice(1)]),
        t = g.input('t', 'float32', ['N', ...c.t_shape.slice(1)]),
        y = g.input('y', 'int64', ['N']);
      const aux = new BuildContext(g, 'train');
      const loss = distillationLoss([{ method: 'vid', weight: 1, options: { teacherNode: 'tn', studentNode: 'sn', ...options } }], {
        student: { sn: s },
        teacher: { tn: t },
        labels: y,
        aux,
      });
      const names = ['vid0/regressor1/weight', 'vid0/regressor2/weight', 'vid0/regressor3/weight', 'vid0/log_scale'];
      assert.deepEqual([...aux.params.keys()].sort(), [...names].sort());
      const params = names.map((n) => g.value(n));
      const grads = gradients(loss.total, [s, ...params]);
      g.output(loss.total, ...[s, ...params].map((v) => grads.get(v.name)!));
      const sess = await createSession(toOnnx(g), { threads: 1 });
      const feeds: Record<string, ort.Tensor> = {
        s: T(c.s, c.s_shape),
        t: T(c.t, c.t_shape),
        y: labels(c.s_shape[0]),
        'vid0/log_scale': T(c.log_scale, [c.log_scale.length]),
      };
      names.slice(0, 3).forEach((n, i) => (feeds[n] = T(c.w[i], c.w_shape[i])));
      const r = await sess.run(feeds);
      near(r[loss.total.name].data as Float32Array, [c.value], 'vid');
      near(r[grads.get('s')!.name].data as Float32Array, c.grad_s, 'd/ds');
      names.slice(0, 3).forEach((n, i) => near(r[grads.get(n)!.name].data as Float32Array, c.grad_w[i], `d/d${n}`));
      near(r[grads.get('vid0/log_scale')!.name].data as Float32Array, c.grad_log_scale, 'd/dlog_scale');
      await sess.release();
    });
  }

  it('starts every channel at variance 5 and refuses maps of different resolution, naming both nodes', () => {
    const g = new Graph('m');
    const aux = new BuildContext(g, 'train');
    const y = g.input('y', 'int64', ['N']);
    const s = g.input('s', 'float32', ['N', 4, 7, 7]),
      t = g.input('t', 'float32', ['N', 8, 14, 14]);
    assert.throws(
      () =>
        distillationLoss([{ method: 'vid', weight: 1, options: { teacherNode: 'block2/relu', studentNode: 'block3/relu' } }], {
          student: { 'block3/relu': s },
          teacher: { 'block2/relu': t },
          labels: y,
          aux,
        }),
      /vid: student node 'block3\/relu' is 7×7 spatially, teacher node 'block2\/relu' is 14×14/,
    );
    const init = new BuildContext(new Graph('i'), 'train');
    const t2 = init.g.input('t', 'float32', ['N', 8, 7, 7]),
      y2 = init.g.input('y', 'int64', ['N']);
    distillationLoss([{ method: 'vid', weight: 1, options: { teacherNode: 't', studentNode: 's' } }], {
      student: { s: init.g.input('s', 'float32', ['N', 4, 7, 7]) },
      teacher: { t: t2 },
      labels: y2,
      aux: init,
    });
    const spec = init.params.get('vid0/log_scale')!;
    assert.equal(spec.init.kind, 'constant');
    const v = (spec.init as { value: number }).value;
    assert.ok(Math.abs(Math.log1p(Math.exp(v)) + 1e-5 - 5) < 1e-9);
  });
});

describe('irg (instance relationship graph) matches PyTorch', () => {
  const keys = ['fm1', 'fm2', 'feat'] as const;
  const c = fx.irg;
  it('vertex + edge + transformation: value and gradients w.r.t. every student input', async () => {
    const g = new Graph('m');
    const sym = (sh: number[]) => ['N', ...sh.slice(1)];
    const s = Object.fromEntries([...keys, 'logits'].map((k) => [k, g.input(`s_${k}`, 'float32', sym(c[`shape_s_${k}`]))]));
    const t = Object.fromEntries([...keys, 'logits'].map((k) => [k, g.input(`t_${k}`, 'float32', sym(c[`shape_t_${k}`]))]));
    const y = g.input('y', 'int64', ['N']);
    const loss = distillationLoss([{ method: 'irg', weight: 1, options: { teacherNodes: [...keys], studentNodes: [...keys] } }], {
      student: s,
      teacher: t,
      labels: y,
    });
    const ins = [...keys, 'logits'].map((k) => s[k]);
    const grads = gradients(loss.total, ins);
    g.output(loss.total, ...ins.map((v) => grads.get(v.name)!));
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const feeds: Record<string, ort.Tensor> = { y: labels(c.shape_s_fm1[0]) };
    for (const k of [...keys, 'logits']) {
      feeds[`s_${k}`] = T(c[`s_${k}`], c[`shape_s_${k}`]);
      feeds[`t_${k}`] = T(c[`t_${k}`], c[`shape_t_${k}`]);
    }
    const r = await sess.run(feeds);
    near(r[loss.total.name].data as Float32Array, [c.value], 'irg');
    for (const k of [...keys, 'logits']) near(r[grads.get(`s_${k}`)!.name].data as Float32Array, c[`grad_${k}`], `d/d${k}`);
    await sess.release();
  });

  it('stays finite on a batch of one, and refuses layers that cannot form a transformation', async () => {
    assert.throws(
      () => resolveTerms([{ method: 'irg', weight: 1, options: { teacherNodes: ['a', 'b'], studentNodes: ['a'] } }]),
      /same number of layers/,
    );
    const g = new Graph('m');
    const s = {
      a: g.input('sa', 'float32', ['N', 2, 4, 4]),
      b: g.input('sb', 'float32', ['N', 4, 2, 2]),
      logits: g.input('sl', 'float32', ['N', 3]),
    };
    const t = {
      a: g.input('ta', 'float32', ['N', 2, 4, 4]),
      b: g.input('tb', 'float32', ['N', 3, 2, 2]),
      logits: g.input('tl', 'float32', ['N', 3]),
    };
    const y = g.input('y', 'int64', ['N']);
    const two = { teacherNodes: ['a', 'b'], studentNodes: ['a', 'b'] };
    assert.throws(
      () => distillationLoss([{ method: 'irg', weight: 1, options: two }], { student: s, teacher: t, labels: y }),
      /irg: teacher nodes 'a' \[N, 2, 4, 4\] → 'b' \[N, 3, 2, 2\] cannot form a transformation edge/,
    );
    assert.throws(
      () =>
        distillationLoss([{ method: 'irg', weight: 1, options: { teacherNodes: ['a'], studentNodes: ['a'] } }], {
          student: s,
          teacher: t,
          labels: y,
        }),
      /transformWeight: 0/,
    );
    const loss = distillationLoss([{ method: 'irg', weight: 1, options: { ...two, transformWeight: 0 } }], {
      student: s,
      teacher: t,
      labels: y,
    });
    const ds = gradients(loss.total, [s.a]).get('sa')!;
    g.output(loss.total, ds);
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const ones = (sh: number[]) => T(new Array(sh.reduce((a, b) => a * b)).fill(0.5), sh);
    const r = await sess.run({
      sa: ones([1, 2, 4, 4]),
      sb: ones([1, 4, 2, 2]),
      sl: ones([1, 3]),
      ta: ones([1, 2, 4, 4]),
      tb: ones([1, 3, 2, 2]),
      tl: ones([1, 3]),
      y: labels(1),
    });
    assert.ok(Number.isFinite((r[loss.total.name].data as Float32Array)[0]));
    assert.ok((r[ds.name].data as Float32Array).every(Number.isFinite));
    await sess.release();
  });
});
