import { batches, sampleSize, type Dataset } from '../data/index.js';
import * as op from '../graph/ops.js';
import { accuracy, agreement, crossEntropy, kdKl } from '../nn/losses.js';
import type { Model } from '../nn/model.js';
import { adam } from '../optim/adam.js';
import type { Optimizer } from '../optim/optimizer.js';
import { lrAt, type Schedule } from '../optim/schedule.js';
import { Predictor } from '../runtime/inference.js';
import { ort, type SessionOptions } from '../runtime/ort.js';
import { TrainSession } from '../runtime/train-session.js';
import { WorkerTeacher } from '../runtime/teacher-worker.js';

export interface FitOptions extends SessionOptions {
  epochs: number;
  batchSize?: number;
  lr?: number;
  optimizer?: Optimizer;
  schedule?: Schedule;
  seed?: number;
  /** Stop after this many steps (for quick tests), whatever `epochs` says. */
  maxSteps?: number;
  /** Called after every step with the scalar outputs. */
  onStep?: (step: number, out: Record<string, number>) => void;
  /** Pixel normalisation passed to the batcher. */
  mean?: number;
  std?: number;
  /** Keep the training session open and return it (the caller releases it); otherwise it is released here. */
  keepSession?: boolean;
  /** Distil from a teacher: loss = alpha·CE + (1 − alpha)·T²·KL(teacher ‖ student) (Hinton et al. 2015). */
  kd?: { teacher: Predictor | WorkerTeacher; T: number; alpha: number };
}

function classesOf(model: Model): number {
  return model.build('eval').outputs.logits.shape[1] as number;
}

/** Trains a classifier on its `logits` output with cross-entropy; returns per-step losses. Leaves the trained values in `model`. */
export async function fitClassifier(model: Model, ds: Dataset, o: FitOptions): Promise<{ losses: number[]; session?: TrainSession }> {
  const bs = o.batchSize ?? 128;
  const session = await TrainSession.create(
    {
      model,
      optimizer: o.optimizer ?? adam(),
      extraInputs: o.kd ? { labels: { dtype: 'int64', shape: ['N'] }, teacher_logits: { dtype: 'float32', shape: ['N', classesOf(model)] } } : { labels: { dtype: 'int64', shape: ['N'] } },
      loss: (out, inp) => {
        const ce = crossEntropy(out.logits, inp.labels);
        const metrics = { acc: accuracy(out.logits, inp.labels) };
        if (!o.kd) return { total: ce, metrics };
        const kd = kdKl(out.logits, inp.teacher_logits, o.kd.T);
        return { total: op.add(op.scale(ce, o.kd.alpha), op.scale(kd, 1 - o.kd.alpha), 'total'), terms: { ce, kd }, metrics: { ...metrics, agree: agreement(out.logits, inp.teacher_logits) } };
      },
    },
    { threads: o.threads, seed: o.seed },
  );
  const it = batches(ds, { batchSize: bs, seed: o.seed ?? 0, mean: o.mean, std: o.std });
  const total = Math.min(o.maxSteps ?? Infinity, o.epochs * it.stepsPerEpoch);
  const losses: number[] = [];
  const base = o.lr ?? 1e-3;
  const inputName = Object.keys(model.def.inputs)[0];
  const schedule = o.schedule ?? { kind: 'constant' as const };
  const step = async (s: number, feeds: Record<string, ort.Tensor>) => {
    const out = await session.run(feeds, lrAt(schedule, base, s));
    losses.push(out.loss);
    o.onStep?.(s, out);
  };
  const teacher = o.kd?.teacher;
  if (teacher instanceof WorkerTeacher) {
    // Pipelined: the teacher computes batch s+1 in its worker while the student trains on batch s.
    // The iterator reuses its buffers, so each batch is copied into one of two alternating slots.
    const per = sampleSize(ds);
    const slots = [0, 1].map(() => ({ x: new Float32Array(it.batchSize * per), y: new BigInt64Array(it.batchSize), shape: [] as number[], size: 0 }));
    const load = (k: number) => {
      const b = it.nextBatch(), sl = slots[k & 1];
      sl.x.set(b.x);
      sl.y.set(b.y);
      sl.shape = [...b.shape];
      sl.size = b.size;
      return sl;
    };
    let cur = load(0);
    let pending = total > 0 ? teacher.predict(cur.x.subarray(0, per * cur.size), cur.shape) : undefined;
    for (let s = 0; s < total; s++) {
      const tl = await pending!;
      const c = cur;
      if (s + 1 < total) {
        cur = load(s + 1);
        pending = teacher.predict(cur.x.subarray(0, per * cur.size), cur.shape);
      }
      const n = c.size;
      await step(s, {
        [inputName]: new ort.Tensor('float32', c.x.subarray(0, per * n), c.shape),
        labels: new ort.Tensor('int64', c.y.subarray(0, n), [n]),
        teacher_logits: new ort.Tensor('float32', tl, [n, tl.length / n]),
      });
    }
  } else {
    for (let s = 0; s < total; s++) {
      const b = it.nextBatch();
      const x = new ort.Tensor('float32', b.x, b.shape as number[]);
      const feeds: Record<string, ort.Tensor> = { [inputName]: x, labels: new ort.Tensor('int64', b.y, [b.size]) };
      if (teacher) feeds.teacher_logits = (await teacher.run(x, ['logits'])).logits;
      await step(s, feeds);
    }
  }
  session.syncToModel();
  if (o.keepSession) return { losses, session };
  await session.release();
  return { losses };
}

/** Accuracy and mean cross-entropy of a model or ONNX predictor (eval mode, exported inference graph) on a dataset. */
export async function evaluateClassifier(model: Model | Predictor, ds: Dataset, o: SessionOptions & { mean?: number; std?: number } = {}): Promise<Evaluation> {
  const p = model instanceof Predictor ? model : await Predictor.fromModel(model, { threads: o.threads });
  const predictions = new Int32Array(ds.n);
  let k = 0;
  const it = batches(ds, { batchSize: 1000, shuffle: false, mean: o.mean, std: o.std });
  let correct = 0, loss = 0;
  for (const b of it) {
    const logits = (await p.run(new ort.Tensor('float32', b.x, b.shape as number[]), ['logits'])).logits.data as Float32Array;
    const C = logits.length / b.size;
    for (let i = 0; i < b.size; i++) {
      const row = logits.subarray(i * C, (i + 1) * C);
      let arg = 0, mx = -Infinity;
      for (let c = 0; c < C; c++) if (row[c] > mx) { mx = row[c]; arg = c; }
      let se = 0;
      for (let c = 0; c < C; c++) se += Math.exp(row[c] - mx);
      const label = Number(b.y[i]);
      predictions[k++] = arg;
      if (arg === label) correct++;
      loss += Math.log(se) + mx - row[label];
    }
  }
  if (!(model instanceof Predictor)) await p.release();
  return { accuracy: correct / ds.n, loss: loss / ds.n, predictions };
}

/** Test-set quality of a classifier, with its top-1 predictions for agreement measures. */
export interface Evaluation {
  accuracy: number;
  loss: number;
  predictions: Int32Array;
}

/** Fraction of samples on which two classifiers predict the same class. */
export function agreementRate(a: Int32Array, b: Int32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

