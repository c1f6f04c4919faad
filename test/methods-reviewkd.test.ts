import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { distillationLoss, studentNodesOf, teacherOutputsOf } from '../src/distill/loss.js';
import { getMethod } from '../src/distill/registry.js';
import { Graph, type Value } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import type { Shape } from '../src/graph/types.js';
import { BuildContext } from '../src/nn/context.js';
import { createSession, ort } from '../src/runtime/ort.js';

/** Each value within 1e-4 of the largest reference magnitude (plus `atol`), as in methods.test.ts. */
function nearScaled(got: ArrayLike<number>, want: number[], what: string, atol: number): void {
  const scale = Math.max(...want.map(Math.abs));
  want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-4 * scale + atol, `${what}[${i}]: ${got[i]} vs PyTorch ${v}`));
}

// PyTorch values from test/fixtures/make_reviewkd_fixtures.py (ABF + hcl_loss after the official code).
const fx = JSON.parse(readFileSync(new URL('./fixtures/reviewkd.json', import.meta.url), 'utf8'));
const T = (d: number[], sh: number[]) => new ort.Tensor('float32', Float32Array.from(d), sh);

/** A graph with student nodes s0…, teacher nodes t0… of the given shapes, and the reviewkd term over them. */
function build(sShapes: Shape[], tShapes: Shape[], options: Record<string, unknown> = {}, withAux = true) {
  const g = new Graph('m');
  const student: Record<string, Value> = {},
    teacher: Record<string, Value> = {};
  sShapes.forEach((s, i) => (student[`s${i}`] = g.input(`s${i}`, 'float32', s)));
  tShapes.forEach((t, i) => (teacher[`t${i}`] = g.input(`t${i}`, 'float32', t)));
  const aux = withAux ? new BuildContext(g, 'train') : undefined;
  const opts = { studentNodes: Object.keys(student), teacherNodes: Object.keys(teacher), ...options };
  const loss = () =>
    distillationLoss([{ method: 'reviewkd', weight: 1, options: opts }], { student, teacher, labels: g.input('y', 'int64', ['N']), aux });
  return { g, student, aux, loss };
}

describe('reviewkd (knowledge review: ABF fusion + HCL) matches PyTorch', () => {
  it('value and gradients w.r.t. the student features and every ABF parameter', async () => {
    const {
      g,
      student,
      aux,
      loss: emit,
    } = build(
      fx.students.map((s: { shape: number[] }) => s.shape),
      fx.teachers.map((t: { shape: number[] }) => t.shape),
    );
    const loss = emit();
    const trainable = [...aux!.params.values()].filter((p) => p.trainable).map((p) => p.name);
    assert.deepEqual(trainable.sort(), Object.keys(fx.params).sort());
    // The deepest stage has nothing to fuse: no attention conv, as in the code.
    assert.ok(!aux!.params.has('reviewkd0/abf2/att/weight'));
    const wrt = [...Object.values(student), ...trainable.map((n) => g.value(n))];
    const grads = gradients(loss.total, wrt);
    g.output(loss.total, ...wrt.map((v) => grads.get(v.name)!));
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const feeds: Record<string, ort.Tensor> = { y: new ort.Tensor('int64', new BigInt64Array(4), [4]) };
    fx.students.forEach((s: { shape: number[]; data: number[] }, i: number) => (feeds[`s${i}`] = T(s.data, s.shape)));
    fx.teachers.forEach((t: { shape: number[]; data: number[] }, i: number) => (feeds[`t${i}`] = T(t.data, t.shape)));
    for (const [name, p] of Object.entries(fx.params) as [string, { shape: number[]; data: number[] }][]) feeds[name] = T(p.data, p.shape);
    // Running statistics do not enter a train-mode forward; they are fed only because they are graph inputs.
    for (const p of aux!.params.values())
      if (!p.trainable) feeds[p.name] = T(new Array(p.shape[0]).fill(p.name.endsWith('var') ? 1 : 0), [...p.shape]);
    const r = await sess.run(feeds);
    const near = (got: ArrayLike<number>, want: number[], what: string) => nearScaled(got, want, what, 1e-7);
    near(r[loss.total.name].data as Float32Array, [fx.value], 'loss');
    fx.students.forEach((s: { grad: number[] }, i: number) => near(r[grads.get(`s${i}`)!.name].data as Float32Array, s.grad, `d/ds${i}`));
    for (const n of trainable) near(r[grads.get(n)!.name].data as Float32Array, fx.params[n].grad, `d/d${n}`);
    await sess.release();
  });
});

describe('reviewkd options and shape checks', () => {
  it("is a feature method reading the listed nodes, with the code's defaults", () => {
    const m = getMethod('reviewkd');
    assert.equal(m.kind, 'feature');
    const o = m.options.parse({ studentNodes: ['a', 'b'], teacherNodes: ['c', 'd'] }) as Record<string, unknown>;
    assert.deepEqual(o.hclLevels, [4, 2, 1]);
    const terms = [{ method: 'reviewkd', weight: 1, options: { studentNodes: ['a', 'b'], teacherNodes: ['c', 'd'] } }];
    assert.deepEqual(studentNodesOf(terms), ['a', 'b']);
    assert.deepEqual(teacherOutputsOf(terms), ['c', 'd']);
  });
  it('mid channels default to min(512, deepest student channels)', () => {
    const { aux, loss } = build(
      [
        ['N', 2, 4, 4],
        ['N', 3, 2, 2],
      ],
      [
        ['N', 2, 4, 4],
        ['N', 2, 2, 2],
      ],
    );
    loss();
    assert.deepEqual(aux!.params.get('reviewkd0/abf1/conv1/weight')!.shape, [3, 3, 1, 1]);
    assert.deepEqual(aux!.params.get('reviewkd0/abf0/att/weight')!.shape, [2, 6, 1, 1]);
  });
  it('refuses stage lists of different lengths, naming the nodes', () => {
    assert.throws(
      () =>
        build(
          [
            ['N', 2, 4, 4],
            ['N', 3, 2, 2],
          ],
          [['N', 2, 4, 4]],
        ).loss(),
      /2 student nodes \[s0, s1\] but 1 teacher nodes \[t0\]/,
    );
  });
  it('refuses a level that does not divide a stage, naming node and size', () => {
    assert.throws(
      () => build([['N', 2, 14, 14]], [['N', 3, 14, 14]]).loss(),
      (e: Error & { code?: string }) =>
        e.code === 'SHAPE_MISMATCH' && /teacher node 't0' is 14×14, which HCL level 4 does not divide/.test(e.message),
    );
    build([['N', 2, 14, 14]], [['N', 3, 14, 14]], { hclLevels: [7, 2, 1] }).loss();
  });
  it('refuses stages that cannot be fused (deep → shallow needs integer upsampling)', () => {
    assert.throws(
      () =>
        build(
          [
            ['N', 2, 4, 4],
            ['N', 3, 8, 8],
          ],
          [
            ['N', 2, 4, 4],
            ['N', 2, 8, 8],
          ],
        ).loss(),
      /residual of stage 2 \(at teacher node 't1' 8×8\) cannot be upsampled by an integer factor to student node 's0' 4×4/,
    );
    assert.throws(
      () => build([['N', 2, 8, 8]], [['N', 2, 4, 4]]).loss(),
      /student node 's0' \[N, 2, 8, 8\] cannot be brought to teacher node 't0' \[N, 2, 4, 4\]/,
    );
    assert.throws(() => build([['N', 2, 4]], [['N', 2, 4, 4]]).loss(), /student node 's0' is \[N, 2, 4\]/);
  });
  it('needs the aux context for its adapters', () => {
    assert.throws(() => build([['N', 2, 4, 4]], [['N', 2, 4, 4]], {}, false).loss(), /reviewkd trains attention-based fusion modules/);
  });
});
