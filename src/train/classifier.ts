import { batches, sampleSize, type AugmentOptions, type Dataset } from '../data/index.js';
import { distillationLoss, studentNodesOf, teacherOutputsOf, type LossTerm } from '../distill/loss.js';
import type { Value } from '../graph/graph.js';
import type { Dim } from '../graph/types.js';
import type { InputSpec } from '../nn/context.js';
import { accuracy, agreement } from '../nn/losses.js';
import { KdError } from '../util/errors.js';
import type { Model } from '../nn/model.js';
import { adam } from '../optim/adam.js';
import type { Optimizer } from '../optim/optimizer.js';
import { lrAt, type Schedule } from '../optim/schedule.js';
import { Predictor } from '../runtime/inference.js';
import { ort, type SessionOptions } from '../runtime/ort.js';
import { buildTrainGraph, type TrainStepSpec } from '../runtime/train-graph.js';
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
  /**
   * Called after each ORT run with the number of steps done so far and the steps that run took; the
   * place for checkpoints and evaluations (call `session.syncToModel()` first to read the weights).
   */
  onRun?: (session: TrainSession, stepsDone: number, stepsInRun: number) => void | Promise<void>;
  /** Normalisation passed to the batcher: one value, or one per channel / feature. */
  mean?: number | readonly number[];
  std?: number | readonly number[];
  /** Seeded augmentation of training batches (the teacher sees the same augmented batch). */
  augment?: AugmentOptions;
  /**
   * Training steps per ONNX Runtime call (default 8): the steps run as an ONNX Loop, so per-call costs
   * are paid once per group; 1 runs the plain single-step graph. Results are identical either way.
   */
  stepsPerRun?: number;
  /** Keep the training session open and return it (the caller releases it); otherwise it is released here. */
  keepSession?: boolean;
  /** Weighted loss terms by registered method (default: plain cross-entropy, `[{ method: 'ce', weight: 1 }]`). */
  loss?: LossTerm[];
  /** The teacher whose outputs the terms read (required when a term needs the teacher); it must expose every feature the terms name. */
  teacher?: Predictor | WorkerTeacher;
  /** Per-sample shapes of the teacher features the terms read, by node name (see `probeOutputShapes`). */
  teacherShapes?: Record<string, readonly number[]>;
}

function classesOf(model: Model): number {
  const out = model.build('eval').outputs;
  if (!out.logits) throw new KdError('NO_LOGITS', `model '${model.name}' has no 'logits' output (it has ${Object.keys(out).join(', ')}); classifiers must return { logits }`);
  return out.logits.shape[1] as number;
}

/**
 * Trains a classifier on its `logits` output with a weighted sum of registered loss terms (cross-entropy
 * by default; add a teacher and `kd` to distil); returns per-step losses and leaves the trained values in `model`.
 */
/**
 * The training step of a classifier under weighted loss terms: teacher outputs enter as inputs (logits as
 * 'teacher_logits', features as 'teacher:<node>'), student nodes the terms name are tapped by name.
 */
function classifierStep(model: Model, terms: readonly LossTerm[], withTeacher: boolean, teacherShapes: Record<string, readonly number[]> | undefined, optimizer: Optimizer) {
  const classes = classesOf(model);
  const tNames = withTeacher ? [...new Set(['logits', ...teacherOutputsOf(terms)])] : [];
  const inputOf = (name: string) => (name === 'logits' ? 'teacher_logits' : `teacher:${name}`);
  const tShapes: Record<string, Dim[]> = { logits: ['N', classes] };
  for (const n of tNames) {
    if (n === 'logits') continue;
    const s = teacherShapes?.[n];
    if (!s) throw new KdError('NO_TEACHER_FEATURE', `the loss reads teacher feature '${n}'; pass its per-sample shape in teacherShapes (the Distiller and \`kdistill run\` probe it)`);
    tShapes[n] = ['N', ...s];
  }
  const sNodes = studentNodesOf(terms);
  const extraInputs: Record<string, InputSpec> = { labels: { dtype: 'int64', shape: ['N'] } };
  for (const n of tNames) extraInputs[inputOf(n)] = { dtype: 'float32', shape: tShapes[n] };
  const spec: TrainStepSpec = {
    model,
    optimizer,
    extraInputs,
    loss: (out, inp, aux) => {
      const g = out.logits.graph;
      const student: Record<string, Value> = { ...out };
      for (const n of sNodes) {
        if (!g.has(n)) throw new KdError('UNKNOWN_NODE', `student '${model.name}' has no node '${n}'; its tappable nodes include ${g.nodes.filter((x) => !x.name.startsWith('grad') && !x.name.startsWith('loss')).slice(-12).map((x) => x.name).join(', ')}`);
        student[n] = g.value(n);
      }
      const tv = Object.fromEntries(tNames.map((n) => [n, inp[inputOf(n)]]));
      const l = distillationLoss(terms, { student, teacher: tv, labels: inp.labels, aux });
      const metrics: Record<string, Value> = { acc: accuracy(out.logits, inp.labels) };
      if (withTeacher) metrics.agree = agreement(out.logits, inp.teacher_logits);
      return { total: l.total, terms: l.terms, metrics };
    },
  };
  return { spec, tNames, tShapes, inputOf, classes };
}

/**
 * Builds (without running) the training step a run will use, so a wrong node name, a feature pair that
 * cannot be compared or a method option fails before hours of teacher training rather than after.
 */
export function checkClassifierStep(model: Model, terms: readonly LossTerm[], teacherShapes?: Record<string, readonly number[]>): void {
  buildTrainGraph(classifierStep(model, terms, teacherOutputsOf(terms).length > 0, teacherShapes, adam()).spec, { multiStep: false });
}

/**
 * Trains a classifier on its `logits` output with a weighted sum of registered loss terms (cross-entropy
 * by default; add a teacher and `kd` to distil); returns per-step losses and leaves the trained values in `model`.
 */
export async function fitClassifier(model: Model, ds: Dataset, o: FitOptions): Promise<{ losses: number[]; session?: TrainSession }> {
  const bs = o.batchSize ?? 128;
  const terms = o.loss ?? [{ method: 'ce', weight: 1 }];
  const tOut = teacherOutputsOf(terms);
  if (tOut.length && !o.teacher) throw new KdError('NO_TEACHER', `the loss terms ${terms.map((t) => t.method).join(' + ')} need a teacher, and none was given`);
  const teacher = tOut.length ? o.teacher : undefined;
  const { spec, tNames, tShapes, inputOf, classes } = classifierStep(model, terms, !!teacher, o.teacherShapes, o.optimizer ?? adam());
  if (ds.numClasses > classes) throw new KdError('SHAPE_MISMATCH', `model '${model.name}' has ${classes} output classes but '${ds.name}' has ${ds.numClasses}; labels beyond the model's classes would get no loss`);
  const session = await TrainSession.create(
    spec,
    { threads: o.threads, seed: o.seed, multiStep: (o.stepsPerRun ?? 8) > 1 },
  );
  const losses: number[] = [];
  try {
    const it = batches(ds, { batchSize: bs, seed: o.seed ?? 0, mean: o.mean, std: o.std, augment: o.augment });
    const total = Math.min(o.maxSteps ?? Infinity, o.epochs * it.stepsPerEpoch);
    const base = o.lr ?? 1e-3;
    const inputName = Object.keys(model.def.inputs)[0];
    const schedule = o.schedule ?? { kind: 'constant' as const };
    const K = Math.max(1, o.stepsPerRun ?? 8);
    const per = sampleSize(ds);
    // The iterator reuses its buffers, so each batch of a group is copied into a slot of its own; two
    // groups of slots alternate so the next group can be loaded (and sent to a worker teacher) while
    // the current one trains.
    // Text datasets feed token ids (int64), everything else float pixels/features.
    const text = ds.kind === 'text';
    const slots = Array.from({ length: 2 * K }, () => ({ x: text ? new BigInt64Array(it.batchSize * per) : new Float32Array(it.batchSize * per), y: new BigInt64Array(it.batchSize), shape: [] as number[], size: 0 }));
    let done = 0, loaded = 0;
    /** Next up to K batches of equal size (an epoch's short last batch starts a group of its own). */
    const loadGroup = (half: number) => {
      const group: (typeof slots)[number][] = [];
      let epoch = -1;
      while (group.length < K && loaded < total) {
        // A group never spans an epoch boundary, so epoch-end evaluations and checkpoints land on it.
        if (group.length > 0 && (it.peekSize() !== group[0].size || it.epoch !== epoch)) break;
        const b = it.nextBatch(), sl = slots[half * K + group.length];
        epoch = b.epoch;
        if (text) (sl.x as BigInt64Array).set(b.xIds!);
        else (sl.x as Float32Array).set(b.x);
        sl.y.set(b.y);
        sl.shape = [...b.shape];
        sl.size = b.size;
        group.push(sl);
        loaded++;
      }
      return group;
    };
    const view = (sl: (typeof slots)[number]) => ({
      x: text ? new ort.Tensor('int64', (sl.x as BigInt64Array).subarray(0, per * sl.size), sl.shape) : new ort.Tensor('float32', (sl.x as Float32Array).subarray(0, per * sl.size), sl.shape),
      y: new ort.Tensor('int64', sl.y.subarray(0, sl.size), [sl.size]),
    });
    const ask = (g: ReturnType<typeof loadGroup>) => (teacher instanceof WorkerTeacher ? g.map((sl) => teacher.predictMany(sl.x.subarray(0, per * sl.size), sl.shape, tNames)) : undefined);
    const asTensors = (sl: (typeof slots)[number], data: Float32Array[]) => data.map((d, i) => new ort.Tensor('float32', d, [sl.size, ...(tShapes[tNames[i]].slice(1) as number[])]));
    let half = 0;
    let group = loadGroup(half);
    let pending = ask(group);
    while (group.length > 0) {
      let tl: ort.Tensor[][] | undefined;
      if (pending) tl = (await Promise.all(pending)).map((d, k) => asTensors(group[k], d));
      else if (teacher instanceof Predictor) tl = await Promise.all(group.map(async (sl) => {
        const r = await teacher.run(view(sl).x, tNames);
        return tNames.map((n) => r[n]);
      }));
      // Load (and, with a worker teacher, request) the next group before training on this one.
      const next = loadGroup(half ^ 1);
      pending = ask(next);
      const feeds = group.map((sl, k) => {
        const v = view(sl);
        const f: Record<string, ort.Tensor> = { [inputName]: v.x, labels: v.y };
        if (tl) tNames.forEach((n, i) => (f[inputOf(n)] = tl![k][i]));
        return f;
      });
      const lrs = feeds.map((_, k) => lrAt(schedule, base, done + k));
      const outs = K > 1 ? await session.runMany(feeds, lrs) : [await session.run(feeds[0], lrs[0])];
      for (const out of outs) {
        // A non-finite loss term poisons every weight it touches: stop before anything is saved from it.
        const bad = Object.entries(out).find(([, v]) => !Number.isFinite(v));
        if (bad) throw new KdError('NON_FINITE_LOSS', `training '${model.name}' stopped at step ${done + 1}: ${bad[0]} is ${bad[1]} (the last checkpoint written before it is kept); lower the learning rate or check the inputs for NaN/Inf`);
        losses.push(out.loss);
        o.onStep?.(done++, out);
      }
      await o.onRun?.(session, done, outs.length);
      group = next;
      half ^= 1;
    }
  } catch (e) {
    await session.release();
    throw e;
  }
  session.syncToModel();
  if (o.keepSession) return { losses, session };
  await session.release();
  return { losses };
}

/** Accuracy and mean cross-entropy of a model or ONNX predictor (eval mode, exported inference graph) on a dataset. */
export async function evaluateClassifier(model: Model | Predictor, ds: Dataset, o: SessionOptions & { mean?: number | readonly number[]; std?: number | readonly number[] } = {}): Promise<Evaluation> {
  const p = model instanceof Predictor ? model : await Predictor.fromModel(model, { threads: o.threads });
  try {
    return await evaluateWith(p, ds, o);
  } finally {
    if (!(model instanceof Predictor)) await p.release();
  }
}

async function evaluateWith(p: Predictor, ds: Dataset, o: { mean?: number | readonly number[]; std?: number | readonly number[] }): Promise<Evaluation> {
  const predictions = new Int32Array(ds.n);
  let k = 0;
  const it = batches(ds, { batchSize: 1000, shuffle: false, mean: o.mean, std: o.std });
  let correct = 0, loss = 0;
  for (const b of it) {
    const input = b.xIds ? new ort.Tensor('int64', b.xIds, b.shape as number[]) : new ort.Tensor('float32', b.x, b.shape as number[]);
    const logits = (await p.run(input, ['logits'])).logits.data as Float32Array;
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

