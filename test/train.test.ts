import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { batches, take } from '../src/data/index.js';
import { loadMnist } from '../src/data/node/index.js';
import { Model } from '../src/nn/model.js';
import { cnn, mlp } from '../src/nn/zoo/index.js';
import { loadCheckpoint, saveCheckpoint } from '../src/runtime/checkpoint.js';
import { evaluateClassifier, type FitOptions, fitClassifier } from '../src/train/classifier.js';

const train = take(loadMnist('train'), 6000);
const test = take(loadMnist('test'), 1000);
const mean = (a: number[]) => a.reduce((p, q) => p + q, 0) / a.length;

describe('training on an MNIST subset', () => {
  it('an MLP drops its loss and beats chance by far', async () => {
    const model = new Model(mlp([784, 128, 10], { inputShape: [1, 28, 28] }), 1);
    const before = await evaluateClassifier(model, test, { threads: 2 });
    const { losses } = await fitClassifier(model, train, { epochs: 10, maxSteps: 300, batchSize: 64, lr: 2e-3, seed: 1, threads: 2 });
    const after = await evaluateClassifier(model, test, { threads: 2 });
    assert.ok(mean(losses.slice(-30)) < mean(losses.slice(0, 10)) / 4, `loss ${mean(losses.slice(0, 10))} → ${mean(losses.slice(-30))}`);
    assert.ok(before.accuracy < 0.3, `untrained accuracy ${before.accuracy}`);
    assert.ok(after.accuracy > 0.88, `trained accuracy ${after.accuracy}`);
  });

  it('a CNN with BatchNorm drops its loss and beats chance by far', async () => {
    const model = new Model(cnn([8, 16]), 3);
    const { losses } = await fitClassifier(model, train, { epochs: 10, maxSteps: 200, batchSize: 64, lr: 3e-3, seed: 3, threads: 2 });
    const after = await evaluateClassifier(model, test, { threads: 2 });
    assert.ok(mean(losses.slice(-30)) < mean(losses.slice(0, 10)) / 4, `loss ${mean(losses.slice(0, 10))} → ${mean(losses.slice(-30))}`);
    assert.ok(after.accuracy > 0.9, `trained accuracy ${after.accuracy}`);
    // BatchNorm running statistics moved away from their initial values during training.
    const rv = model.values.get('block1/bn/running_var')!;
    assert.ok(
      rv.some((v) => Math.abs(v - 1) > 1e-3),
      'running variance was never updated',
    );
  });
});

describe('checkpoints', () => {
  it('parameters survive a save/load round trip bit for bit', async () => {
    const a = new Model(cnn([4, 8]), 5);
    await fitClassifier(a, train, { epochs: 1, maxSteps: 5, batchSize: 32, seed: 5, threads: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'kd-ck-'));
    saveCheckpoint(join(dir, 'a.ckpt'), { meta: { model: a.name }, tensors: a.values });
    const b = new Model(cnn([4, 8]), 99);
    const ck = loadCheckpoint(join(dir, 'a.ckpt'));
    b.load(ck.tensors);
    for (const [k, v] of a.values) assert.deepEqual(b.values.get(k), v, k);
    const ea = await evaluateClassifier(a, test, { threads: 1 });
    const eb = await evaluateClassifier(b, test, { threads: 1 });
    assert.equal(ea.loss, eb.loss);
  });

  it('a training run resumed from a checkpoint continues exactly (params, Adam state, dropout masks, data order)', async () => {
    const def = () => mlp([784, 64, 10], { inputShape: [1, 28, 28], dropout: 0.3 });
    const small = take(train, 640);
    const runSteps = async (
      session: NonNullable<Awaited<ReturnType<typeof fitClassifier>>['session']>,
      it: ReturnType<typeof batches>,
      n: number,
    ) => {
      for (let i = 0; i < n; i++) {
        const b = it.nextBatch();
        await session.run(
          { x: { dtype: 'float32', shape: b.shape, data: b.x }, labels: { dtype: 'int64', shape: [b.size], data: b.y } },
          1e-3,
        );
      }
    };
    // Uninterrupted: 12 steps.
    const m1 = new Model(def(), 7);
    const s1 = (await fitClassifier(m1, small, { epochs: 1, maxSteps: 0, seed: 7, threads: 1, keepSession: true })).session!;
    const it1 = batches(small, { batchSize: 64, seed: 7 });
    await runSteps(s1, it1, 12);
    // Interrupted after 5 steps, state saved to disk, fresh session and iterator restored.
    const m2 = new Model(def(), 7);
    const s2 = (await fitClassifier(m2, small, { epochs: 1, maxSteps: 0, seed: 7, threads: 1, keepSession: true })).session!;
    const it2 = batches(small, { batchSize: 64, seed: 7 });
    await runSteps(s2, it2, 5);
    const dir = mkdtempSync(join(tmpdir(), 'kd-resume-'));
    s2.saveCheckpoint(join(dir, 'r.ckpt'), { data: it2.state() });
    await s2.release();
    const m3 = new Model(def(), 123);
    const s3 = (await fitClassifier(m3, small, { epochs: 1, maxSteps: 0, seed: 7, threads: 1, keepSession: true })).session!;
    const meta = s3.restoreCheckpoint(join(dir, 'r.ckpt'));
    const ck = { meta };
    const it3 = (await import('../src/data/index.js')).BatchIterator.restore(small, { batchSize: 64 }, ck.meta.data as never);
    await runSteps(s3, it3, 7);
    assert.equal(s3.step, s1.step);
    for (const name of ['fc1/weight', 'fc2/bias', 'fc1/weight#m', 'fc1/weight#v']) assert.deepEqual(s3.tensor(name), s1.tensor(name), name);
  });
});

describe('distillation from a teacher', () => {
  it('a teacher in a worker thread (pipelined) gives exactly the losses of an in-process teacher', async () => {
    const { exportOnnx, Predictor } = await import('../src/runtime/inference.js');
    const { WorkerTeacher } = await import('../src/runtime/node/worker-teacher.js');
    const teacherModel = new Model(mlp([784, 64, 10], { inputShape: [1, 28, 28] }), 21);
    await fitClassifier(teacherModel, train, { epochs: 1, maxSteps: 60, batchSize: 64, seed: 21, threads: 1 });
    const bytes = exportOnnx(teacherModel);
    const small = take(train, 1000);
    const run = async (teacher: FitOptions['teacher']) => {
      const student = new Model(mlp([784, 16, 10], { inputShape: [1, 28, 28] }), 22);
      const agree: number[] = [];
      // 1000 samples / 64 per batch: the last batch of each epoch is short, which the pipeline must handle.
      const r = await fitClassifier(student, small, {
        epochs: 2,
        batchSize: 64,
        seed: 22,
        threads: 1,
        teacher,
        loss: [
          { method: 'ce', weight: 0.5 },
          { method: 'kd', weight: 0.5, options: { temperature: 4 } },
        ],
        onStep: (_s, out) => agree.push(out.agree),
      });
      return { losses: r.losses, agree };
    };
    const inProc = await Predictor.fromBytes(bytes, { threads: 1 });
    const a = await run(inProc);
    await inProc.release();
    const worker = await WorkerTeacher.start(bytes, 1);
    const b = await run(worker);
    await worker.release();
    assert.equal(a.losses.length, 32);
    assert.deepEqual(b.losses, a.losses);
    assert.ok(
      mean(a.agree.slice(-5)) > mean(a.agree.slice(0, 3)),
      `student should come to agree with the teacher more: ${a.agree.slice(0, 3)} → ${a.agree.slice(-5)}`,
    );
  });
});

describe('multi-step runs (ONNX Loop)', () => {
  it('K steps in one run equal K single steps bit for bit (dropout, BatchNorm, Adam)', async () => {
    const { adam } = await import('../src/optim/adam.js');
    const { crossEntropy } = await import('../src/nn/losses.js');
    const { TrainSession } = await import('../src/runtime/train-session.js');
    const { ort } = await import('../src/runtime/ort.js');
    for (const def of [
      () => mlp([784, 32, 10], { dropout: 0.3, inputShape: [1, 28, 28] }),
      () => cnn([4, 8], { hidden: 8, dropout: 0.2 }),
    ]) {
      const spec = (m: Model) => ({
        model: m,
        optimizer: adam(),
        extraInputs: { labels: { dtype: 'int64' as const, shape: ['N'] } },
        loss: (o: Record<string, never>, i: Record<string, never>) => ({ total: crossEntropy(o.logits, i.labels) }),
      });
      const a = new Model(def(), 1),
        b = new Model(def(), 1);
      const single = await TrainSession.create(spec(a), { threads: 1 });
      const multi = await TrainSession.create(spec(b), { threads: 1, multiStep: true });
      const it = batches(take(train, 200), { batchSize: 16, seed: 4 });
      const data = Array.from({ length: 7 }, () => {
        const bt = it.nextBatch();
        return {
          x: new ort.Tensor('float32', Float32Array.from(bt.x), bt.shape as number[]),
          labels: new ort.Tensor('int64', BigInt64Array.from(bt.y), [bt.size]),
        };
      });
      const lrs = data.map((_, k) => 1e-3 * (1 + k));
      const la: number[] = [];
      for (let k = 0; k < data.length; k++) la.push((await single.run(data[k], lrs[k])).loss);
      const lb = [...(await multi.runMany(data.slice(0, 4), lrs.slice(0, 4))), ...(await multi.runMany(data.slice(4), lrs.slice(4)))].map(
        (o) => o.loss,
      );
      assert.deepEqual(lb, la);
      assert.equal(multi.step, single.step);
      for (const s of single.tg.state) assert.deepEqual(multi.tensor(s.name), single.tensor(s.name), s.name);
      await single.release();
      await multi.release();
    }
  });
});

describe('numerical guard', () => {
  it('stops on a non-finite loss, naming the term and the step', async () => {
    const small = take(train, 256);
    const bad = { ...small, x: Float32Array.from(small.x as Uint8Array, (v, i) => (i === 3 * 784 + 5 ? NaN : v / 255)) };
    const model = new Model(mlp([784, 8, 10], { inputShape: [1, 28, 28] }), 1);
    await assert.rejects(
      fitClassifier(model, bad, { epochs: 1, batchSize: 64, seed: 1, threads: 1, stepsPerRun: 1 }),
      (e: unknown) => e instanceof Error && /stopped at step \d+: (loss|acc) is NaN/.test(e.message),
    );
  });
  it('stops on a non-finite gradient whose loss is finite, naming grad_norm', async () => {
    const { registerMethod } = await import('../src/distill/registry.js');
    const op = await import('../src/graph/ops.js');
    const { z } = await import('zod');
    // sqrt(|0·logits|): the value is 0, its gradient 0.5/sqrt(0)·sign(0)·0 = NaN.
    registerMethod({
      name: 'test_nan_grad',
      kind: 'label',
      description: 'test only',
      options: z.object({}).strict(),
      teacherOutputs: () => [],
      loss: ({ student }) => op.reduceMean(op.sqrt(op.abs(op.scale(student.logits, 0)))),
    });
    const model = new Model(mlp([784, 8, 10], { inputShape: [1, 28, 28] }), 1);
    await assert.rejects(
      fitClassifier(model, take(train, 128), {
        epochs: 1,
        batchSize: 64,
        seed: 1,
        threads: 1,
        stepsPerRun: 1,
        loss: [
          { method: 'ce', weight: 1 },
          { method: 'test_nan_grad', weight: 1 },
        ],
      }),
      (e: unknown) => e instanceof Error && /stopped at step 1: grad_norm is NaN/.test(e.message),
    );
  });
  it('clipGradNorm bounds each update: plain SGD moves the parameters by at most lr × the limit', async () => {
    const { sgd } = await import('../src/optim/index.js');
    const model = new Model(mlp([784, 8, 10], { inputShape: [1, 28, 28] }), 1);
    const before = [...model.values.values()].map((v) => Float32Array.from(v));
    const norms: number[] = [];
    await fitClassifier(model, take(train, 64), {
      epochs: 1,
      batchSize: 64,
      seed: 1,
      threads: 1,
      stepsPerRun: 1,
      lr: 1,
      optimizer: sgd(),
      schedule: { kind: 'constant' },
      clipGradNorm: 0.01,
      onStep: (_s, out) => norms.push(out.grad_norm),
    });
    let sq = 0;
    [...model.values.values()].forEach((v, k) => v.forEach((x, i) => (sq += (x - before[k][i]) ** 2)));
    assert.ok(norms[0] > 0.1, `the unclipped norm is reported: ${norms[0]}`);
    assert.ok(Math.abs(Math.sqrt(sq) - 0.01) < 1e-4, `update norm ${Math.sqrt(sq)}, limit 0.01`);
  });
});
