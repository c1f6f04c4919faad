import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { Graph } from '../src/graph/graph.js';
import * as op from '../src/graph/ops.js';
import { toOnnx } from '../src/graph/onnx.js';
import { BuildContext } from '../src/nn/context.js';
import { BatchNorm } from '../src/nn/layers/norm.js';
import { crossEntropy, kdKl } from '../src/nn/losses.js';
import { adam, adamw, lrAt, sgd, type Optimizer, type Schedule } from '../src/optim/index.js';
import { createSession, ort } from '../src/runtime/ort.js';

// Reference values come from PyTorch (test/fixtures/make_*.py, Debian python3-torch); CI reads only the JSON.
const optimFx = JSON.parse(readFileSync(new URL('./fixtures/optim.json', import.meta.url), 'utf8'));
const bnkd = JSON.parse(readFileSync(new URL('./fixtures/bn_kd.json', import.meta.url), 'utf8'));

function close(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(err <= atol + rtol * Math.abs(want[i]), `${what}[${i}]: got ${got[i]}, PyTorch ${want[i]} (|err| ${err.toExponential(2)})`);
  }
}

function optimizerFor(c: { optimizer: string; options: Record<string, number | boolean | number[]> }): Optimizer {
  const o = c.options;
  if (c.optimizer === 'SGD')
    return sgd({
      momentum: o.momentum as number,
      dampening: o.dampening as number,
      nesterov: o.nesterov as boolean,
      weightDecay: o.weight_decay as number,
    });
  const betas = o.betas as number[];
  const opts = { beta1: betas[0], beta2: betas[1], eps: o.eps as number, weightDecay: o.weight_decay as number };
  return c.optimizer === 'Adam' ? adam(opts) : adamw(opts);
}

describe('optimizers match torch.optim step for step', () => {
  for (const c of optimFx.cases) {
    it(c.name, async () => {
      const opt = optimizerFor(c);
      const g = new Graph('opt');
      const p = g.input('p', 'float32', c.shape);
      const grad = g.input('g', 'float32', c.shape);
      const slots = opt.slots.map((s) => g.input(`slot_${s}`, 'float32', c.shape));
      const lr = g.input('lr', 'float32', []),
        step = g.input('step', 'float32', []);
      const u = opt.update(p, grad, slots, { lr, step });
      g.output(op.identity(u.param, 'p_next'), ...u.slots.map((s, i) => op.identity(s, `slot_next_${i}`)));
      const sess = await createSession(toOnnx(g), { threads: 1 });
      // Widened to ArrayBufferLike: after the first step these hold the session's outputs.
      let param: Float32Array = Float32Array.from(c.param0);
      let st: Float32Array[] = opt.slots.map(() => new Float32Array(param.length));
      for (let k = 0; k < c.grads.length; k++) {
        const feeds: Record<string, ort.Tensor> = {
          p: new ort.Tensor('float32', param, c.shape),
          g: new ort.Tensor('float32', Float32Array.from(c.grads[k]), c.shape),
          lr: new ort.Tensor('float32', Float32Array.of(c.options.lr), []),
          step: new ort.Tensor('float32', Float32Array.of(k + 1), []),
        };
        opt.slots.forEach((s, i) => (feeds[`slot_${s}`] = new ort.Tensor('float32', st[i], c.shape)));
        const r = await sess.run(feeds);
        param = r.p_next.data as Float32Array;
        st = opt.slots.map((_, i) => r[`slot_next_${i}`].data as Float32Array);
        close(param, c.params[k], 1e-5, 1e-6, `${c.name} step ${k + 1}`);
      }
      await sess.release();
    });
  }
  const toSchedule: Record<string, (o: Record<string, number>) => Schedule> = {
    cosine: (o) => ({ kind: 'cosine', total: o.T_max, min: o.eta_min }),
    step: (o) => ({ kind: 'step', stepSize: o.step_size, gamma: o.gamma }),
    warmup_cosine: (o) => ({
      kind: 'warmup',
      steps: o.total_iters,
      startFactor: o.start_factor,
      then: { kind: 'cosine', total: o.T_max, min: o.eta_min },
    }),
  };
  for (const s of optimFx.schedules) {
    it(`schedule ${s.name} matches torch.optim.lr_scheduler`, () => {
      const sched = toSchedule[s.name](s.options);
      close(
        s.lrs.map((_: number, k: number) => lrAt(sched, s.options.base_lr, k)),
        s.lrs,
        1e-9,
        1e-12,
        s.name,
      );
    });
  }
});

describe('train-mode BatchNorm built from primitives matches PyTorch', () => {
  it('forward, running statistics (unbiased variance) and gradients of conv → BN → ReLU', async () => {
    const b = bnkd.bn;
    const g = new Graph('bn');
    const x = g.input('x', 'float32', b.x_shape);
    const w = g.input('w', 'float32', b.w_shape);
    const ctx = new BuildContext(g, 'train');
    const z = op.conv(x, w, undefined, { pads: [1, 1, 1, 1] });
    const y = op.relu(new BatchNorm('bn', b.w_shape[0], { eps: b.eps, momentum: b.momentum }).apply(ctx, z), 'y');
    const R = g.initializer('R', op.f32(b.R, b.y_shape));
    const loss = op.reduceSum(op.mul(y, R), undefined, false, 'loss');
    const gamma = g.value('bn/weight'),
      beta = g.value('bn/bias');
    const grads = gradients(loss, [x, w, gamma, beta]);
    const rm = ctx.bufferUpdates.get('bn/running_mean')!,
      rv = ctx.bufferUpdates.get('bn/running_var')!;
    g.output(y, rm, rv, ...[x, w, gamma, beta].map((v) => grads.get(v.name)!));
    const sess = await createSession(toOnnx(g), { threads: 1 });
    const T = (d: number[], s: number[]) => new ort.Tensor('float32', Float32Array.from(d), s);
    const r = await sess.run({
      x: T(b.x, b.x_shape),
      w: T(b.w, b.w_shape),
      'bn/weight': T(b.gamma, [3]),
      'bn/bias': T(b.beta, [3]),
      'bn/running_mean': T(b.running_mean0, [3]),
      'bn/running_var': T(b.running_var0, [3]),
    });
    close(r.y.data as Float32Array, b.y, 1e-4, 1e-5, 'y');
    close(r[rm.name].data as Float32Array, b.running_mean, 1e-4, 1e-6, 'running_mean');
    close(r[rv.name].data as Float32Array, b.running_var, 1e-4, 1e-6, 'running_var');
    close(r[grads.get('x')!.name].data as Float32Array, b.grad_x, 1e-3, 1e-4, 'dL/dx');
    close(r[grads.get('w')!.name].data as Float32Array, b.grad_w, 1e-3, 1e-4, 'dL/dw');
    close(r[grads.get('bn/weight')!.name].data as Float32Array, b.grad_gamma, 1e-3, 1e-4, 'dL/dgamma');
    close(r[grads.get('bn/bias')!.name].data as Float32Array, b.grad_beta, 1e-3, 1e-4, 'dL/dbeta');
    await sess.release();
  });
});

describe('KD loss (0.5·CE + 0.5·T²·KL) matches PyTorch', () => {
  for (const c of bnkd.kd.cases) {
    it(`T = ${c.T}: value and gradient`, async () => {
      const k = bnkd.kd;
      const g = new Graph('kd');
      const s = g.input('s', 'float32', k.shape),
        t = g.input('t', 'float32', k.shape),
        y = g.input('y', 'int64', [k.shape[0]]);
      const ce = crossEntropy(s, y),
        kl = kdKl(s, t, c.T);
      const total = op.add(op.scale(ce, k.alpha), op.scale(kl, 1 - k.alpha), 'total');
      const ds = gradients(total, [s]).get('s')!;
      g.output(ce, kl, total, ds);
      const sess = await createSession(toOnnx(g), { threads: 1 });
      const r = await sess.run({
        s: new ort.Tensor('float32', Float32Array.from(k.s), k.shape),
        t: new ort.Tensor('float32', Float32Array.from(k.t), k.shape),
        y: new ort.Tensor('int64', BigInt64Array.from(k.labels.map((v: number) => BigInt(v))), [k.shape[0]]),
      });
      close(r[ce.name].data as Float32Array, [c.ce], 1e-5, 1e-6, 'ce');
      close(r[kl.name].data as Float32Array, [c.kl], 1e-4, 1e-6, 'T²·KL');
      close(r.total.data as Float32Array, [c.total], 1e-5, 1e-6, 'total');
      close(r[ds.name].data as Float32Array, c.grad_s, 1e-4, 1e-6, 'dL/ds');
      await sess.release();
    });
  }
});
