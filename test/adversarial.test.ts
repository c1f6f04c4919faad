import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { configRegistry } from '../src/cli/run.js';
import { parseConfig } from '../src/config/node/index.js';
import { BoundaryAttack, boundaryAttackGraph, drawTarget, fedBounds } from '../src/distill/adversarial/boundary-attack.js';
import { distillationLoss, needsOf, resolveTerms } from '../src/distill/loss.js';
import type { MethodInputs, MethodLoss } from '../src/distill/method.js';
import { bss, bssFactor } from '../src/distill/methods/adversarial/bss.js';
import { DISCRIMINATOR_OBJECTIVE, discriminator } from '../src/distill/methods/adversarial/discriminator.js';
import { Graph, type Value } from '../src/graph/graph.js';
import { parseOnnx, toOnnx } from '../src/graph/onnx.js';
import * as op from '../src/graph/ops.js';
import { BuildContext } from '../src/nn/context.js';
import { Linear } from '../src/nn/layers/linear.js';
import { BatchNorm } from '../src/nn/layers/norm.js';
import { Model, type ModelDef } from '../src/nn/model.js';
import { mlp } from '../src/nn/zoo/index.js';
import { adam } from '../src/optim/adam.js';
import { sgd } from '../src/optim/sgd.js';
import { loadCheckpoint } from '../src/runtime/checkpoint.js';
import { exportOnnx } from '../src/runtime/inference.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { buildTrainGraph } from '../src/runtime/train-graph.js';
import { TrainSession } from '../src/runtime/train-session.js';
import { runExperiment } from '../src/frontends/run-config.js';
import { classifierStep } from '../src/train/classifier-step.js';
import { fitClassifier } from '../src/train/classifier.js';
import { KdError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';

// PyTorch values from test/fixtures/make_adversarial_fixtures.py (/usr/bin/python3, torch 1.13); CI reads only the JSON.
const fx = JSON.parse(readFileSync(new URL('./fixtures/adversarial.json', import.meta.url), 'utf8'));

const T32 = (d: ArrayLike<number>, shape: number[]) => new ort.Tensor('float32', Float32Array.from(d), shape);
const I64 = (d: ArrayLike<number>) => new ort.Tensor('int64', BigInt64Array.from(Array.from(d, (v) => BigInt(v))), [d.length]);

/** Each value within `rtol` of the largest reference magnitude (plus `atol`). */
function near(got: ArrayLike<number>, want: readonly number[], what: string, rtol = 1e-4, atol = 1e-6): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, PyTorch has ${want.length}`);
  const scale = Math.max(...want.map(Math.abs));
  want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= rtol * scale + atol, `${what}[${i}]: ${got[i]} vs PyTorch ${v}`));
}

const isDiscriminator = (name: string) => /(^|\/)models\/discriminator\//.test(name);

/** The discriminator's parameter names in an aux context, layer by layer: [[weight, bias], ...]. */
function discriminatorParams(names: Iterable<string>, layers: number): [string, string][] {
  const all = [...names];
  const find = (suffix: string) => {
    const n = all.find((a) => isDiscriminator(a) && a.endsWith(`models/discriminator/${suffix}`));
    assert.ok(n, `no discriminator parameter '${suffix}' among ${all.join(', ')}`);
    return n;
  };
  return Array.from({ length: layers }, (_, i) => {
    const layer = i === layers - 1 ? 'out' : `fc${i + 1}`;
    return [find(`${layer}/weight`), find(`${layer}/bias`)];
  });
}

/** A method's loss in a bare graph, the extra model applied in `aux` as the trainer would. */
function methodGraph(o: Record<string, unknown>, build: (g: Graph) => Omit<MethodInputs, 'aux' | 'models'>) {
  const g = new Graph('m');
  const aux = new BuildContext(g, 'train');
  const opts = discriminator.options.parse(o);
  const module = discriminator.needs!(opts).models![0].module;
  const inputs = { ...build(g), aux, models: { discriminator: (x: Value) => aux.scope('models', () => module.apply(aux, x)) } };
  const out = discriminator.loss(inputs, opts) as MethodLoss;
  return { g, aux, out };
}

/** Feeds the fixture's discriminator weights under the parameter names the method declared, layer by layer. */
function feedDiscriminator(
  feeds: Record<string, ort.Tensor>,
  names: readonly (readonly [string, string])[],
  params: readonly { w: number[]; w_shape: number[]; b: number[] }[],
): void {
  names.forEach(([w, b], i) => {
    feeds[w] = T32(params[i].w, params[i].w_shape);
    feeds[b] = T32(params[i].b, [params[i].b.length]);
  });
}

describe('discriminator (adversarial KD) matches PyTorch', () => {
  it('on logits, label-conditioned: the student term, the objective and their gradients', async () => {
    const c = fx.logits;
    let s!: Value;
    const { g, aux, out } = methodGraph({ hidden: c.hidden }, (g) => {
      s = g.input('s', 'float32', c.shape);
      return { student: { logits: s }, teacher: { logits: g.input('t', 'float32', c.shape) }, labels: g.input('y', 'int64', [c.shape[0]]) };
    });
    const names = discriminatorParams(aux.params.keys(), c.params.length);
    const dv = names.flat().map((n) => g.value(n));
    const gs = gradients(out.loss, [s]).get('s')!;
    const gd = gradients(out.objectives[DISCRIMINATOR_OBJECTIVE], dv);
    g.output(out.loss, out.objectives[DISCRIMINATOR_OBJECTIVE], gs, ...dv.map((v) => gd.get(v.name)!));
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const feeds: Record<string, ort.Tensor> = { s: T32(c.s, c.shape), t: T32(c.t, c.shape), y: I64(c.y) };
    feedDiscriminator(feeds, names, c.params);
    const r = await sess.run(feeds);
    near(r[out.loss.name].data as Float32Array, [c.gen], 'student term');
    near(r[out.objectives[DISCRIMINATOR_OBJECTIVE].name].data as Float32Array, [c.objective], 'objective');
    near(r[gs.name].data as Float32Array, c.grad_s, 'd term / d s');
    dv.forEach((v, i) => near(r[gd.get(v.name)!.name].data as Float32Array, c.grad_d[i], `d objective / d ${v.name}`));
    await sess.release();
  });

  it('on a feature pair: pooled maps, the student through its adapter', async () => {
    const c = fx.feature;
    let s!: Value;
    const { g, aux, out } = methodGraph({ on: 'feature', teacherNode: 'tn', studentNode: 'sn', hidden: c.hidden }, (g) => {
      s = g.input('s', 'float32', c.s_shape);
      return {
        student: { sn: s, logits: g.input('logits', 'float32', ['N', 3]) },
        teacher: { tn: g.input('t', 'float32', c.t_shape) },
        labels: g.input('y', 'int64', [c.s_shape[0]]),
      };
    });
    const adapter = [...aux.params.keys()].filter((n) => n.includes('adapter')).sort();
    assert.deepEqual(adapter, ['adapter/bias', 'adapter/weight'], 'the adapter is a student-side parameter, outside the discriminator');
    const names = discriminatorParams(aux.params.keys(), c.params.length);
    const dv = names.flat().map((n) => g.value(n));
    const wrt = [s, g.value('adapter/weight'), g.value('adapter/bias')];
    const gs = gradients(out.loss, wrt);
    const gd = gradients(out.objectives[DISCRIMINATOR_OBJECTIVE], dv);
    g.output(out.loss, out.objectives[DISCRIMINATOR_OBJECTIVE], ...wrt.map((v) => gs.get(v.name)!), gd.get(dv[0].name)!);
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const feeds: Record<string, ort.Tensor> = {
      logits: T32(new Array(c.s_shape[0] * 3).fill(0), [c.s_shape[0], 3]),
      s: T32(c.s, c.s_shape),
      t: T32(c.t, c.t_shape),
      y: I64(new Array(c.s_shape[0]).fill(0)),
      'adapter/weight': T32(c.adapter_w, [3, 5]),
      'adapter/bias': T32(c.adapter_b, [5]),
    };
    feedDiscriminator(feeds, names, c.params);
    const r = await sess.run(feeds);
    near(r[out.loss.name].data as Float32Array, [c.gen], 'student term');
    near(r[out.objectives[DISCRIMINATOR_OBJECTIVE].name].data as Float32Array, [c.objective], 'objective');
    near(r[gs.get('s')!.name].data as Float32Array, c.grad_s, 'd term / d feature');
    near(r[gs.get('adapter/weight')!.name].data as Float32Array, c.grad_adapter_w, 'd term / d adapter weight');
    near(r[gs.get('adapter/bias')!.name].data as Float32Array, c.grad_adapter_b, 'd term / d adapter bias');
    near(r[gd.get(dv[0].name)!.name].data as Float32Array, c.grad_d[0], 'd objective / d fc1 weight');
    await sess.release();
  });

  it('options: canonical defaults, nodes required on features and refused on logits', () => {
    assert.deepEqual(resolveTerms([{ method: 'discriminator', weight: 1 }])[0].options, {
      on: 'logits',
      hidden: [128, 128],
      lr: 2e-4,
      beta1: 0.5,
      alternate: { steps: 1, studentSteps: 1 },
    });
    assert.throws(
      () => resolveTerms([{ method: 'discriminator', weight: 1, options: { on: 'feature' } }]),
      /on: feature needs teacherNode/,
    );
    assert.throws(() => resolveTerms([{ method: 'discriminator', weight: 1, options: { studentNode: 'a' } }]), /are for on: feature/);
    assert.throws(() => resolveTerms([{ method: 'discriminator', weight: 1, options: { alternate: { steps: 0 } } }]), /alternate\.steps/);
    const joint = needsOf([{ method: 'discriminator', weight: 1, options: { alternate: null } }]).models![0];
    assert.equal(joint.alternate, undefined, 'alternate: null trains both sides every step');
  });
});

describe('bss (boundary supporting samples)', () => {
  it('its term, selection and gradient match PyTorch (the official base-sample selection)', async () => {
    const c = fx.bss;
    const g = new Graph('m');
    const [s, t, bs, bt] = ['s', 't', 'bs', 'bt'].map((n) => g.input(n, 'float32', c.shape));
    const y = g.input('y', 'int64', [c.shape[0]]),
      attacked = g.input('attacked', 'float32', [c.shape[0]]),
      weight = g.input('w', 'float32', []);
    const loss = distillationLoss([{ method: 'bss', weight: 1, options: { temperature: c.temperature, samples: c.samples } }], {
      student: { logits: s },
      teacher: { logits: t },
      labels: y,
      boundary: { student: bs, teacher: bt, attacked, weight },
    });
    const gb = gradients(loss.total, [bs]).get('bs')!;
    const selected = g.value(g.nodes.find((n) => n.outputs[0].endsWith('bss_selected'))!.outputs[0]);
    g.output(loss.total, gb, selected);
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const r = await sess.run({
      s: T32(c.s, c.shape),
      t: T32(c.t, c.shape),
      bs: T32(c.bs, c.shape),
      bt: T32(c.bt, c.shape),
      y: I64(c.y),
      attacked: T32(c.attacked, [c.shape[0]]),
      w: T32([c.weight], []),
    });
    const chosen = [...(r[selected.name].data as Float32Array)].flatMap((v, i) => (v ? [i] : []));
    assert.deepEqual(chosen, c.selected, 'the same samples as the official selection');
    near(r[loss.total.name].data as Float32Array, [c.value], 'term');
    near(r[gb.name].data as Float32Array, c.grad_bs, 'd term / d boundary logits');
    await sess.release();
  });

  it("the factor decays as the official code's attack ratio (÷ 2), and the term is refused outside a training step", () => {
    for (const e of [1, 20, 59, 60, 61, 80])
      assert.ok(Math.abs(2 * bssFactor(e, 80, 0.75) - Math.max(2 * (1 - (4 / 3) * (e / 80)), 0)) < 1e-12);
    const g = new Graph('m');
    const v = g.input('v', 'float32', ['N', 3]);
    assert.throws(
      () => bss.loss({ student: { logits: v }, teacher: { logits: v }, labels: g.input('y', 'int64', ['N']) }, bss.options.parse({})),
      (e: unknown) => e instanceof KdError && /provides `boundary`/.test(e.message),
    );
  });

  // A random two-layer teacher on 6 features: its own predictions are the labels, so every row it gets right is attacked.
  const F = 6,
    C = 4,
    N = 12;
  const teacherBytes = exportOnnx(new Model(mlp([F, 16, C]), 3));
  const batch = () => {
    const rng = new Rng(11);
    return Float32Array.from({ length: N * F }, () => rng.normal() * 2);
  };
  const teacherLogits = async (x: Float32Array, n: number) => {
    const { Predictor } = await import('../src/runtime/inference.js');
    const p = await Predictor.fromBytes(teacherBytes, { threads: 1 });
    const out = (await p.run(new ort.Tensor('float32', x, [n, F]), ['logits'])).logits.data as Float32Array;
    await p.release();
    return Float32Array.from(out);
  };
  const argmax = (row: Float32Array) => row.indexOf(Math.max(...row));

  it('the attack moves attacked samples towards the b–k boundary, stops at it and leaves the others alone', async () => {
    const x = batch();
    const logits = await teacherLogits(x, N);
    const labels = Array.from({ length: N }, (_, i) => argmax(logits.subarray(i * C, (i + 1) * C)));
    labels[4] = (labels[4] + 1) % C; // the teacher is "wrong" here: not attacked
    const attack = await BoundaryAttack.open(teacherBytes, { steps: 10, stepSize: 0.3, threads: 1 });
    const b = await attack.run(x, [N, F], labels, logits, new Rng(1));
    const after = await teacherLogits(b.x, N);
    assert.deepEqual(b.logits, after, "the boundary logits are the teacher's on the moved samples");
    let shrunk = 0;
    for (let i = 0; i < N; i++) {
      if (i === 4) {
        assert.equal(b.attacked[i], 0);
        assert.deepEqual(b.x.subarray(i * F, (i + 1) * F), x.subarray(i * F, (i + 1) * F), 'a sample the teacher gets wrong is not moved');
        continue;
      }
      assert.equal(b.attacked[i], 1);
      const k = b.targets[i],
        base = labels[i];
      assert.ok(k !== base && k >= 0 && k < C, `target ${k} of row ${i} (base ${base})`);
      const m0 = logits[i * C + base] - logits[i * C + k],
        m1 = after[i * C + base] - after[i * C + k];
      assert.ok(m1 < m0, `row ${i}: the margin z_b − z_k shrinks (${m0} → ${m1})`);
      shrunk += m1 / m0;
    }
    assert.ok(shrunk / (N - 1) < 0.7, `the margins shrink to ${(shrunk / (N - 1)).toFixed(2)} of their size on average`);
    // Larger steps carry most samples across; one that has crossed stops there, so more iterations leave it where it is.
    const far = await BoundaryAttack.open(teacherBytes, { steps: 30, stepSize: 1.5, threads: 1 });
    const b30 = await far.run(x, [N, F], labels, logits, new Rng(1));
    const longer = await BoundaryAttack.open(teacherBytes, { steps: 60, stepSize: 1.5, threads: 1 });
    const later = await longer.run(x, [N, F], labels, logits, new Rng(1));
    const at30 = await teacherLogits(b30.x, N);
    let crossed = 0;
    for (let i = 0; i < N; i++) {
      if (i === 4 || argmax(at30.subarray(i * C, (i + 1) * C)) === labels[i]) continue;
      crossed++;
      assert.deepEqual(later.x.subarray(i * F, (i + 1) * F), b30.x.subarray(i * F, (i + 1) * F), `row ${i} moved after crossing`);
    }
    assert.ok(crossed >= (N - 1) / 2, `${crossed} of ${N - 1} samples crossed a boundary`);
    await far.release();
    await longer.release();
    // No step: the samples and the teacher's logits come back as given.
    const none = await (await BoundaryAttack.open(teacherBytes, { steps: 0, stepSize: 0.3 })).run(x, [N, F], labels, logits, new Rng(1));
    assert.deepEqual(none.x, x);
    // Bounds hold after every step.
    const lo = new Float32Array(F).fill(-0.5),
      hi = new Float32Array(F).fill(0.5);
    const clipped = await (await BoundaryAttack.open(teacherBytes, { steps: 5, stepSize: 0.3, bounds: { lo, hi } })).run(
      x.map((v) => Math.max(-0.5, Math.min(0.5, v))),
      [N, F],
      labels,
      await teacherLogits(
        x.map((v) => Math.max(-0.5, Math.min(0.5, v))),
        N,
      ),
      new Rng(1),
    );
    assert.ok(clipped.x.every((v) => v >= -0.5 && v <= 0.5));
    await attack.release();
  });

  it("the attack's input gradient matches finite differences of z_k − z_b", async () => {
    const { bytes } = boundaryAttackGraph(teacherBytes);
    const sess = await createSession(bytes, { threads: 1, optimization: 'disabled' });
    const x = batch().subarray(0, 3 * F);
    const base = [0, 1, 2],
      target = [3, 0, 1];
    const run = async (v: Float32Array) => sess.run({ x: T32(v, [3, F]), base: I64(base), target: I64(target) });
    const gap = (l: Float32Array) => base.reduce((s, b, i) => s + l[i * C + target[i]] - l[i * C + b], 0);
    const grad = (await run(Float32Array.from(x))).grad_x.data as Float32Array;
    const eps = 1e-2;
    for (let j = 0; j < x.length; j++) {
      const up = Float32Array.from(x),
        down = Float32Array.from(x);
      up[j] += eps;
      down[j] -= eps;
      const fd =
        (gap((await run(up)).logits_out.data as Float32Array) - gap((await run(down)).logits_out.data as Float32Array)) / (2 * eps);
      assert.ok(Math.abs(fd - grad[j]) <= 1e-3 * Math.max(1, Math.abs(fd)), `∂/∂x[${j}]: ${grad[j]} vs finite differences ${fd}`);
    }
    await sess.release();
  });

  it('targets are drawn ∝ the teacher’s other probabilities; bounds are the normalised pixel range', () => {
    const logits = Float32Array.of(3, 1, 0.5, -1);
    const p = [1, 0.5, -1].map((v) => Math.exp(v));
    const counts = [0, 0, 0, 0];
    const rng = new Rng(9);
    for (let i = 0; i < 20000; i++) counts[drawTarget(logits, 0, rng)]++;
    assert.equal(counts[0], 0, 'never the base class');
    p.forEach((v, i) => {
      const want = v / p.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(counts[i + 1] / 20000 - want) < 0.015, `class ${i + 1}: ${counts[i + 1] / 20000} vs ${want}`);
    });
    const b = fedBounds([2, 1, 2], true, [0.5, 0.25], [0.5, 0.25])!;
    assert.deepEqual([...b.lo], [-1, -1, -1, -1]);
    assert.deepEqual([...b.hi], [1, 1, 3, 3]);
    assert.equal(fedBounds([4], false), undefined, 'float features are unbounded');
  });
});

/** A student with BatchNorm (buffers that must not move in the discriminator's turn): 4 → 6 → BN → ReLU → 3. */
const bnStudent: ModelDef = {
  name: 'bn-student',
  inputs: { x: { dtype: 'float32', shape: ['N', 4] } },
  forward(ctx, { x }) {
    const h = op.relu(new BatchNorm('bn', 6).apply(ctx, new Linear('fc1', 4, 6).apply(ctx, x)));
    return { logits: op.identity(new Linear('fc2', 6, 3).apply(ctx, h), 'logits') };
  },
};

/** Six fixed batches of 8: inputs, labels, teacher logits. */
function batches(seed: number, n = 6) {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => ({
    x: T32(
      Array.from({ length: 32 }, () => rng.normal()),
      [8, 4],
    ),
    labels: I64(Array.from({ length: 8 }, () => rng.int(3))),
    teacher_logits: T32(
      Array.from({ length: 24 }, () => rng.normal() * 2),
      [8, 3],
    ),
  }));
}

const advTerms = (alternate: unknown) => [
  { method: 'kd', weight: 1, options: { temperature: 2 } },
  { method: 'discriminator', weight: 0.5, options: { hidden: [5], lr: 0.02, alternate } },
];

async function altSession(model: Model, multiStep: boolean, alternate: unknown = { steps: 2, studentSteps: 1 }) {
  const { spec } = classifierStep(model, advTerms(alternate), [{ name: 'teacher' }], 'mean', adam({}), 48);
  return TrainSession.create(spec, { threads: 1, seed: 1, multiStep });
}

const snapshot = (s: TrainSession) => new Map(s.tg.state.map((x) => [x.name, Float32Array.from(s.tensor(x.name))]));

describe('alternating updates of an extra model', () => {
  it('each side (parameters, optimizer slots, BatchNorm statistics) changes only in its own turn', async () => {
    const s = await altSession(new Model(bnStudent, 2), false);
    const bs = batches(5);
    const d = s.tg.state.filter((x) => isDiscriminator(x.name));
    const st = s.tg.state.filter((x) => !isDiscriminator(x.name));
    assert.ok(d.some((x) => x.kind === 'slot') && st.some((x) => x.kind === 'buffer'), 'both sides have slots; the student has buffers');
    for (let k = 0; k < 6; k++) {
      const before = snapshot(s);
      await s.run(bs[k], 0.01, { discriminator: 0.02 });
      const after = snapshot(s);
      const moved = (x: { name: string }) => !before.get(x.name)!.every((v, i) => v === after.get(x.name)![i]);
      const turn = k % 3 < 2 ? 'discriminator' : 'student';
      for (const x of turn === 'discriminator' ? st : d) assert.ok(!moved(x), `step ${k + 1} (${turn}'s turn): ${x.name} changed`);
      const own = turn === 'discriminator' ? d : st;
      // Every parameter and slot of the side whose turn it is moves (the BN buffers move with them).
      for (const x of own) assert.ok(moved(x), `step ${k + 1} (${turn}'s turn): ${x.name} did not change`);
    }
    await s.release();
  });

  it('a multi-step graph alternates inside its Loop: the states after each run equal the single-step ones bit for bit', async () => {
    const bs = batches(5);
    const single = await altSession(new Model(bnStudent, 2), false);
    const states: Map<string, Float32Array>[] = [];
    for (const b of bs) {
      await single.run(b, 0.01, { discriminator: 0.02 });
      states.push(snapshot(single));
    }
    await single.release();
    for (const K of [2, 4]) {
      const multi = await altSession(new Model(bnStudent, 2), true);
      for (let k = 0; k < bs.length; k += K) {
        const part = bs.slice(k, k + K);
        await multi.runMany(
          part,
          part.map(() => 0.01),
          { discriminator: part.map(() => 0.02) },
        );
        const want = states[k + part.length - 1];
        for (const [name, v] of snapshot(multi)) assert.deepEqual(v, want.get(name), `K=${K}, after step ${k + part.length}: ${name}`);
      }
      await multi.release();
    }
  });

  it('matches PyTorch: two Adam optimizers stepped in turns, each counting its own steps', async () => {
    const c = fx.alternation;
    const [n, fin, C] = c.shape;
    const model = new Model(mlp([fin, C]), 0);
    model.values.set('fc1/weight', Float32Array.from(c.init.student_w));
    model.values.set('fc1/bias', Float32Array.from(c.init.student_b));
    const { spec } = classifierStep(model, advTerms({ steps: 2, studentSteps: 1 }), [{ name: 'teacher' }], 'mean', adam({}), 48);
    const probe = buildTrainGraph(spec, { multiStep: false });
    const names = discriminatorParams(
      probe.aux.map((a) => a.name),
      2,
    );
    const initial = new Map<string, Float32Array>();
    names.forEach(([w, b], i) => {
      initial.set(w, Float32Array.from(c.init.params[i].w));
      initial.set(b, Float32Array.from(c.init.params[i].b));
    });
    const s = await TrainSession.create(spec, { threads: 1, initial });
    for (const [k, b] of c.batches.entries()) {
      const out = await s.run({ x: T32(b.x, [n, fin]), labels: I64(b.y), teacher_logits: T32(b.t, [n, C]) }, 0.01, { discriminator: 0.02 });
      near([out.loss], [c.log[k].loss], `step ${k + 1}: loss`, 1e-5);
      near([out[DISCRIMINATOR_OBJECTIVE]], [c.log[k].discriminator_bce], `step ${k + 1}: discriminator objective`, 1e-5);
    }
    near(s.tensor('fc1/weight'), c.student_w, 'student weight');
    near(s.tensor('fc1/bias'), c.student_b, 'student bias');
    near(s.tensor('fc1/weight#m'), c.student_w_slots.m, "student weight's Adam m");
    near(s.tensor('fc1/weight#v'), c.student_w_slots.v, "student weight's Adam v");
    names.forEach(([w, b], i) => {
      near(s.tensor(w), c.params[i].w, w);
      near(s.tensor(b), c.params[i].b, b);
    });
    near(s.tensor(`${names[0][0]}#m`), c.d_w0_slots.m, "discriminator fc1 weight's Adam m");
    near(s.tensor(`${names[0][0]}#v`), c.d_w0_slots.v, "discriminator fc1 weight's Adam v");
    await s.release();
  });

  it('joint steps keep their graph; groups on different cycles are refused', () => {
    const model = new Model(mlp([4, 3]), 0);
    const joint = buildTrainGraph(classifierStep(model, advTerms(null), [{ name: 'teacher' }], 'mean', adam({}), 48).spec);
    assert.ok(!joint.graph.nodes.some((x) => x.name.includes('alternate')), 'no turn is computed when nothing alternates');
    const base = classifierStep(model, advTerms(null), [{ name: 'teacher' }], 'mean', adam({}), 48).spec;
    const two = {
      ...base,
      groups: [
        { name: 'a', owns: (p: string) => p === 'fc1/weight', optimizer: sgd(), alternate: { steps: 1, studentSteps: 1 } },
        { name: 'b', owns: (p: string) => p === 'fc1/bias', optimizer: sgd(), alternate: { steps: 2, studentSteps: 1 } },
      ],
    };
    assert.throws(
      () => buildTrainGraph(two),
      (e: unknown) => e instanceof KdError && e.code === 'BAD_GROUP' && /different cycles/.test(e.message),
    );
  });
});

describe('adversarial methods through the config path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kd-adversarial-'));
  const csv = join(dir, 'blobs.csv');
  {
    const rng = new Rng(8);
    const rows = ['a,b,c,d,e,f,y'];
    for (let i = 0; i < 480; i++) {
      const y = i % 3;
      rows.push([...Array.from({ length: 6 }, (_, k) => ((k % 3 === y ? 2.5 : 0) + rng.normal()).toFixed(4)), `k${y}`].join(','));
    }
    writeFileSync(csv, `${rows.join('\n')}\n`);
  }
  const teacherFile = join(dir, 'teacher.onnx');
  const config = (name: string, loss: string[]) =>
    parseConfig(
      [
        `name: ${name}`,
        'seed: 2',
        'threads: 1',
        `outDir: ${join(dir, name)}`,
        `dataset: { name: csv, path: ${csv}, validation: { fraction: 0.1 } }`,
        `teacher: { file: ${teacherFile} }`,
        'student: { model: mlp-6-8-3 }',
        'baseline: false',
        'loss:',
        ...loss.map((l) => `  - ${l}`),
        'epochs: 6',
        'optimizer: { name: adam, lr: 0.01 }',
        'batchSize: 32',
        'checkpointEvery: 5',
        'keepCheckpoints: 1',
      ].join('\n'),
      join(dir, `${name}.yaml`),
      configRegistry(),
    );
  const ensureTeacher = async () => {
    if (readdirSync(dir).includes('teacher.onnx')) return;
    const rng = new Rng(8);
    const n = 480;
    const y = Int32Array.from({ length: n }, (_, i) => i % 3);
    const x = Float32Array.from({ length: n * 6 }, (_, j) => ((j % 6) % 3 === Math.floor(j / 6) % 3 ? 2.5 : 0) + rng.normal());
    const t = new Model(mlp([6, 32, 3]), 1);
    await fitClassifier(
      t,
      { name: 'blobs', x, y, n, sampleShape: [6], numClasses: 3, kind: 'tabular' },
      { epochs: 8, batchSize: 32, lr: 1e-2, threads: 1 },
    );
    writeFileSync(teacherFile, exportOnnx(t));
  };
  // Two student steps per discriminator step, so a checkpoint lands mid-cycle.
  const DISC = '{ method: discriminator, weight: 0.5, options: { hidden: [32], alternate: { steps: 1, studentSteps: 2 } } }';
  const BSS = '{ method: bss, weight: 2, options: { samples: 16, attackSteps: 4 } }';
  const stateOf = (out: string) => {
    const ck = readdirSync(join(out, 'checkpoints')).filter((f) => /-step\d+\.ckpt$/.test(f));
    assert.equal(ck.length, 1, `one step checkpoint kept: ${ck.join(', ')}`);
    return loadCheckpoint(join(out, 'checkpoints', ck[0]));
  };

  for (const [method, term] of [
    ['discriminator', DISC],
    ['bss', BSS],
  ] as const) {
    it(`${method} + kd: trains, checkpoints its state, resumes bit for bit after an interruption, exports the student alone`, async () => {
      await ensureTeacher();
      const loss = ['{ method: ce, weight: 0.5 }', '{ method: kd, weight: 0.5 }', term];
      const whole = config(`${method}-whole`, loss);
      const s = await runExperiment(whole);
      const row = s.rows.find((r) => r.role === 'distilled')!;
      assert.ok(row.testAccuracy > 0.6, `distilled student: ${row.testAccuracy}`);
      const log = readFileSync(join(whole.outDir, 'metrics.jsonl'), 'utf8');
      assert.match(log, method === 'bss' ? /"bss":/ : /"discriminator_bce":/, 'the term is logged each step');

      // The same run stopped after its third ORT run (its checkpoint at step 22 of 84 written, mid-cycle), then resumed.
      const cut = config(`${method}-cut`, loss);
      let runs = 0;
      await assert.rejects(
        runExperiment(cut, {
          pause: async () => {
            if (++runs === 3) throw new Error('killed');
          },
        }),
        /killed/,
      );
      await runExperiment(cut, { resume: true });
      assert.match(readFileSync(join(cut.outDir, 'metrics.jsonl'), 'utf8'), /"event":"resumed"/);
      const [a, b] = [stateOf(whole.outDir), stateOf(cut.outDir)];
      assert.deepEqual([...b.tensors.keys()].sort(), [...a.tensors.keys()].sort());
      for (const [name, v] of a.tensors) assert.deepEqual(b.tensors.get(name), v, `${name} after the resumed run`);
      assert.ok(readFileSync(join(whole.outDir, 'student.onnx')).equals(readFileSync(join(cut.outDir, 'student.onnx'))));
      if (method === 'discriminator') {
        const held = [...a.tensors.keys()].filter(isDiscriminator);
        assert.ok(
          held.some((n) => n.endsWith('#m')) && held.some((n) => n.endsWith('fc1/weight')),
          `the checkpoint holds the discriminator and its Adam state: ${held.join(', ')}`,
        );
      }
      const exported = parseOnnx(readFileSync(join(whole.outDir, 'student.onnx'))).graph!.initializer.map((t) => t.name);
      assert.ok(!exported.some((n) => n.includes('discriminator') || n.startsWith('aux')), `exported: ${exported.join(', ')}`);
    });
  }

  it('kdistill methods lists both with their kind and papers', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', new URL('../src/cli/main.ts', import.meta.url).pathname, 'methods', '--json'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { name: string; kind: string; description: string }[];
    for (const [name, paper] of [
      ['discriminator', /Xu et al\. 2018.*Belagiannis/],
      ['bss', /Heo et al\. 2019/],
    ] as const) {
      const m = rows.find((x) => x.name === name);
      assert.ok(m, `${name} is listed`);
      assert.equal(m.kind, 'adversarial');
      assert.match(m.description, paper);
    }
  });
});
