import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Value } from '../src/graph/graph.js';
import * as op from '../src/graph/ops.js';
import { Linear } from '../src/nn/layers/linear.js';
import { Model, type ModelDef } from '../src/nn/model.js';
import { sgd } from '../src/optim/sgd.js';
import type { TrainStepSpec } from '../src/runtime/train-graph.js';
import { TrainSession } from '../src/runtime/train-session.js';
import { Procedure } from '../src/train/procedure.js';
import { KdError } from '../src/util/errors.js';

// A two-part model y = b(a(x)) with a: 3 → 2 and b: 2 → 1 (Linear: x·W + bias, W stored [in, out]).
const twoPart: ModelDef = {
  name: 'two-part',
  inputs: { x: { dtype: 'float32', shape: ['N', 3] } },
  forward(ctx, ins) {
    const h = new Linear('a', 3, 2).apply(ctx, ins.x);
    return { y: new Linear('b', 2, 1).apply(ctx, h) };
  },
};
const X = Float32Array.from([0.5, -1, 2, 1.5, 0.25, -0.75, -0.5, 1, 0.3, 2, -1.2, 0.4]);
const T = Float32Array.from([1, -0.5, 0.25, 2]);
const batch = { x: { dtype: 'float32' as const, shape: [4, 3], data: X }, target: { dtype: 'float32' as const, shape: [4], data: T } };

type Params = Record<string, Float64Array>;
const NAMES = ['a/weight', 'a/bias', 'b/weight', 'b/bias'];
const copy = (p: Params): Params => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Float64Array.from(v)]));
const paramsOf = (m: Model): Params => Object.fromEntries(NAMES.map((n) => [n, Float64Array.from(m.values.get(n)!)]));

/** The two objectives in float64: 'fit' = mean((y − t)²), 'small' = mean(y²) + 0.1·Σ b/weight². */
function forward(p: Params): { fit: number; small: number } {
  let fit = 0;
  let small = 0;
  for (let i = 0; i < 4; i++) {
    const h = [0, 1].map((j) => p['a/bias'][j] + [0, 1, 2].reduce((s, k) => s + X[i * 3 + k] * p['a/weight'][k * 2 + j], 0));
    const y = p['b/bias'][0] + h[0] * p['b/weight'][0] + h[1] * p['b/weight'][1];
    fit += (y - T[i]) ** 2 / 4;
    small += y ** 2 / 4;
  }
  return { fit, small: small + 0.1 * (p['b/weight'][0] ** 2 + p['b/weight'][1] ** 2) };
}

/** Central-difference gradient of one objective with respect to the named parameters (float64: exact to ~1e-9). */
function grad(p: Params, objective: 'fit' | 'small', names: string[]): Params {
  const out: Params = {};
  for (const n of names) {
    out[n] = new Float64Array(p[n].length);
    for (let i = 0; i < p[n].length; i++) {
      const q = copy(p);
      q[n][i] += 1e-6;
      const up = forward(q)[objective];
      q[n][i] -= 2e-6;
      out[n][i] = (up - forward(q)[objective]) / 2e-6;
    }
  }
  return out;
}

const sgdStep = (p: Params, objective: 'fit' | 'small', names: string[], lr: number): void => {
  const g = grad(p, objective, names);
  for (const n of names) for (let i = 0; i < p[n].length; i++) p[n][i] -= lr * g[n][i];
};

function assertClose(model: Model, want: Params, what: string): void {
  for (const n of NAMES) {
    const got = model.values.get(n)!;
    for (let i = 0; i < got.length; i++)
      assert.ok(Math.abs(got[i] - want[n][i]) < 2e-5, `${what}: ${n}[${i}] is ${got[i]}, expected ${want[n][i]}`);
  }
}

/** The loss builder both tests share: the total fits the target; the objective 'small' shrinks the output. */
function objectives(out: Record<string, Value>, inp: Record<string, Value>) {
  const y = op.reshape(out.y, [-1]);
  const fit = op.reduceMean(op.mul(op.sub(y, inp.target), op.sub(y, inp.target)), undefined, false, 'fit');
  const w = out.y.graph.value('b/weight');
  const small = op.add(op.reduceMean(op.mul(y, y)), op.scale(op.reduceSum(op.mul(w, w)), 0.1), 'small');
  return { fit, small };
}

const spec = (model: Model, extra: Partial<TrainStepSpec>): TrainStepSpec => ({
  model,
  optimizer: sgd(),
  extraInputs: { target: { dtype: 'float32', shape: ['N'] } },
  loss: (out, inp) => {
    const o = objectives(out, inp);
    return { total: o.fit, objectives: { small: o.small } };
  },
  ...extra,
});

describe('parameter groups: several optimizers, rates and objectives in one step', () => {
  for (const multiStep of [false, true]) {
    const runs = multiStep ? 'two steps in one Loop run' : 'single steps';
    it(`updates each group on its own objective at its own rate (${runs})`, async () => {
      const model = new Model(twoPart, 3);
      const ref = paramsOf(model);
      const group = { name: 'b-part', owns: (p: string) => p.startsWith('b/'), optimizer: sgd(), objective: 'small' };
      const s = await TrainSession.create(spec(model, { groups: [group] }), { threads: 1, multiStep });
      try {
        // Both groups read the same forward values: each gradient is taken before either update.
        for (let k = 0; k < 2; k++) {
          const before = copy(ref);
          const ga = grad(before, 'fit', ['a/weight', 'a/bias']);
          const gb = grad(before, 'small', ['b/weight', 'b/bias']);
          for (const [n, g] of Object.entries(ga)) for (let i = 0; i < g.length; i++) ref[n][i] -= 0.1 * g[i];
          for (const [n, g] of Object.entries(gb)) for (let i = 0; i < g.length; i++) ref[n][i] -= 0.03 * g[i];
        }
        const outs = multiStep
          ? await s.runMany([batch, batch], [0.1, 0.1], { 'b-part': [0.03, 0.03] })
          : [await s.run(batch, 0.1, { 'b-part': 0.03 }), await s.run(batch, 0.1, { 'b-part': 0.03 })];
        assert.ok(Number.isFinite(outs[1].small) && outs[1].small !== outs[1].loss, 'objectives are reported as scalars');
        s.syncToModel();
        assertClose(model, ref, 'after two joint steps');
      } finally {
        await s.release();
      }
    });
  }

  it('refuses a step run without a group rate, an unknown objective and a parameter in two groups', async () => {
    const model = new Model(twoPart, 3);
    const g = { name: 'b-part', owns: (p: string) => p.startsWith('b/'), optimizer: sgd(), objective: 'small' };
    const s = await TrainSession.create(spec(model, { groups: [g] }), { threads: 1 });
    try {
      await assert.rejects(s.run(batch, 0.1), /parameter group 'b-part', and no learning rate was given/);
    } finally {
      await s.release();
    }
    await assert.rejects(
      TrainSession.create(spec(model, { groups: [{ ...g, objective: 'nope' }] })),
      /group 'b-part' descends objective 'nope', which the loss does not define \(its objectives: small\)/,
    );
    await assert.rejects(
      TrainSession.create(spec(model, { groups: [g, { ...g, name: 'again' }] })),
      /parameter 'b\/weight' belongs to groups 'b-part' and 'again'/,
    );
  });
});

describe('procedures: models trained in alternation over shared state', () => {
  const updates = (model: Model) => [
    // a learns to fit the target with b frozen; every other step b shrinks the output with a frozen.
    { name: 'fit', spec: spec(model, { frozen: ['b/weight', 'b/bias'] }), lr: 0.1 },
    {
      name: 'shrink',
      spec: {
        ...spec(model, { frozen: ['a/weight', 'a/bias'] }),
        loss: (out: Record<string, Value>, inp: Record<string, Value>) => ({ total: objectives(out, inp).small }),
      },
      lr: 0.05,
      every: 2,
    },
  ];

  it('each update sees the values the updates before it left, at its own rate and cadence', async () => {
    const model = new Model(twoPart, 5);
    const ref = paramsOf(model);
    const p = await Procedure.create(updates(model), { threads: 1 });
    try {
      for (let step = 0; step < 4; step++) {
        const out = await p.run(batch);
        assert.deepEqual(Object.keys(out), step % 2 === 0 ? ['fit', 'shrink'] : ['fit']);
        sgdStep(ref, 'fit', ['a/weight', 'a/bias'], 0.1);
        if (step % 2 === 0) sgdStep(ref, 'small', ['b/weight', 'b/bias'], 0.05);
      }
      p.syncToModel();
      assertClose(model, ref, 'after four procedure steps');
      // b's updates depend on a's current values: with a's initial values instead they differ measurably.
      const initialA = paramsOf(new Model(twoPart, 5));
      const alone = paramsOf(new Model(twoPart, 5));
      for (let step = 0; step < 4; step += 2) {
        const view: Params = { ...copy(alone), 'a/weight': initialA['a/weight'], 'a/bias': initialA['a/bias'] };
        sgdStep(view, 'small', ['b/weight', 'b/bias'], 0.05);
        alone['b/weight'] = view['b/weight'];
        alone['b/bias'] = view['b/bias'];
      }
      const gap = Math.max(...[0, 1].map((i) => Math.abs(alone['b/weight'][i] - ref['b/weight'][i])));
      assert.ok(gap > 1e-3, `sharing must matter for this check to mean anything (gap ${gap})`);
    } finally {
      await p.release();
    }
  });

  it('refuses a parameter trained by two updates and two updates of one name', async () => {
    const model = new Model(twoPart, 5);
    await assert.rejects(
      Procedure.create([
        { name: 'one', spec: spec(model, {}), lr: 0.1 },
        { name: 'two', spec: spec(model, { frozen: ['a/weight', 'a/bias'] }), lr: 0.1 },
      ]),
      (e: unknown) => e instanceof KdError && e.code === 'BAD_PROCEDURE' && /parameter 'b\/weight' is trained by two steps/.test(e.message),
    );
    await assert.rejects(
      Procedure.create([
        { name: 'same', spec: spec(model, { frozen: ['b/weight', 'b/bias'] }), lr: 0.1 },
        { name: 'same', spec: spec(model, { frozen: ['a/weight', 'a/bias'] }), lr: 0.1 },
      ]),
      /two updates of the procedure are named 'same'/,
    );
  });
});

describe('extra models a method declares are trained by the trainer', () => {
  it('a critic with its own optimizer, rate and objective trains beside the student and is not exported', async () => {
    const { registerMethod } = await import('../src/distill/registry.js');
    const { fitClassifier } = await import('../src/train/classifier.js');
    const { exportOnnx } = await import('../src/runtime/inference.js');
    const { parseOnnx } = await import('../src/graph/onnx.js');
    const { mlp } = await import('../src/nn/zoo/index.js');
    const { z } = await import('zod');
    const { Rng } = await import('../src/util/rng.js');
    const C = 3;
    // The critic learns to output 1 on the student's (detached) logits; the student's own term ignores it,
    // so only the critic's objective can move the critic.
    registerMethod({
      name: 'test_critic',
      kind: 'response',
      description: 'test only: a critic trained on its own objective',
      options: z.object({ lr: z.number() }),
      teacherOutputs: () => [],
      needs: (o) => ({
        models: [{ name: 'critic', module: new Linear('critic', C, 1), optimizer: sgd(), objective: 'critic_fit', lr: o.lr }],
      }),
      loss: ({ student, models }) => {
        const q = models!.critic(op.stopGradient(student.logits));
        const miss = op.addScalar(q, -1);
        return { loss: op.scale(op.reduceMean(q), 0), objectives: { critic_fit: op.reduceMean(op.mul(miss, miss)) } };
      },
    });
    const rng = new Rng(4);
    const n = 96;
    const x = Float32Array.from({ length: n * 4 }, () => rng.next() * 2 - 1);
    const ds = {
      name: 'toy',
      x,
      y: Int32Array.from({ length: n }, (_, i) => i % C),
      n,
      sampleShape: [4],
      numClasses: C,
      kind: 'tabular' as const,
    };
    const run = async (lr: number) => {
      const student = new Model(mlp([4, 8, C], { inputShape: [4] }), 1);
      const seen: number[] = [];
      const loss = [
        { method: 'ce', weight: 1 },
        { method: 'test_critic', weight: 1, options: { lr } },
      ];
      const r = await fitClassifier(student, ds, {
        epochs: 6,
        batchSize: 32,
        lr: 1e-2,
        threads: 1,
        loss,
        keepSession: true,
        onStep: (_, o) => seen.push(o.critic_fit),
      });
      const critic = r
        .session!.tg.aux.filter((a) => a.name.includes('/models/critic/'))
        .map((a) => Float32Array.from(r.session!.tensor(a.name)));
      await r.session!.release();
      return { seen, critic, exported: parseOnnx(exportOnnx(student)).graph!.initializer.map((t) => t.name) };
    };
    const trained = await run(0.2);
    const frozen = await run(0);
    assert.equal(trained.critic.length, 2, 'the critic has a weight and a bias among the adapters');
    assert.ok(trained.seen.at(-1)! < trained.seen[0] * 0.2, `the critic's objective falls: ${trained.seen[0]} → ${trained.seen.at(-1)}`);
    assert.notDeepEqual(trained.critic, frozen.critic, 'at rate 0 the critic keeps its initial values, at 0.2 it moves');
    assert.ok(
      !trained.exported.some((name) => name.includes('critic')),
      `exported student holds no critic: ${trained.exported.join(', ')}`,
    );
  });
});
