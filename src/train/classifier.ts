import { batches, checkLabels, type AugmentOptions, type BatchState, type Dataset } from '../data/index.js';
import { distillationLoss, pretrainLoss, pretrainOf, studentNodesOf, teacherOutputsOf, usesSampleIndex, type LossTerm } from '../distill/loss.js';
import type { Value } from '../graph/graph.js';
import type { Dim } from '../graph/types.js';
import type { InputSpec } from '../nn/context.js';
import { accuracy, agreement } from '../nn/losses.js';
import { KdError } from '../util/errors.js';
import type { Model } from '../nn/model.js';
import { adam } from '../optim/adam.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Schedule } from '../optim/schedule.js';
import { Predictor } from '../runtime/inference.js';
import { ort, type SessionOptions } from '../runtime/ort.js';
import { buildTrainGraph, type TrainStepSpec } from '../runtime/train-graph.js';
import { TrainSession } from '../runtime/train-session.js';
import type { WorkerTeacher } from '../runtime/teacher-worker.js';
import { trainLoop, type LoopOptions, type StepInputs } from './loop.js';

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
  /** Called after every step of a pre-training phase (FitNets' hints, AB's initialisation, FT's paraphraser), if the terms ask for one. */
  onPretrainStep?: (step: number, out: Record<string, number>) => void;
  /**
   * Called after each ORT run with the number of steps done so far and the steps that run took; the
   * place for checkpoints and evaluations (call `session.syncToModel()` first to read the weights).
   */
  onRun?: (session: TrainSession, stepsDone: number, stepsInRun: number, position: BatchState) => void | Promise<void>;
  /**
   * Continue from a checkpoint written in `onRun` with `{ batches: position }` in its meta: weights,
   * optimizer state, step, noise stream and data order carry on exactly; a pre-training phase is skipped
   * (the checkpoint holds what it trained).
   */
  resume?: string;
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
  /** Rescale the gradient to at most this global L2 norm (off by default); the norm is always reported as 'grad_norm'. */
  clipGradNorm?: number | null;
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
 * The training step of a classifier under weighted loss terms: teacher outputs enter as inputs (logits as
 * 'teacher_logits', features as 'teacher:<node>'), student nodes the terms name are tapped by name, and
 * the batch's dataset indices enter as 'sample_index' when a term keeps per-sample memory. In the
 * `pretrain` phase the loss is the terms' pre-training losses instead.
 */
function classifierStep(model: Model, terms: readonly LossTerm[], withTeacher: boolean, teacherShapes: Record<string, readonly number[]> | undefined, optimizer: Optimizer, numSamples?: number, phase: 'main' | 'pretrain' = 'main') {
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
  const withIndex = usesSampleIndex(terms);
  const extraInputs: Record<string, InputSpec> = { labels: { dtype: 'int64', shape: ['N'] } };
  for (const n of tNames) extraInputs[inputOf(n)] = { dtype: 'float32', shape: tShapes[n] };
  if (withIndex) extraInputs.sample_index = { dtype: 'int64', shape: ['N'] };
  const spec: TrainStepSpec = {
    model,
    optimizer,
    extraInputs,
    loss: (out, inp, aux) => {
      const g = out.logits.graph;
      const student: Record<string, Value> = { ...out };
      for (const n of sNodes) {
        if (!g.has(n)) throw new KdError('UNKNOWN_NODE', `student '${model.name}' has no node '${n}'; its tappable nodes include ${tappable(g).slice(-12).join(', ')} (\`kdistill inspect\` on an exported model lists all)`);
        student[n] = g.value(n);
      }
      const tv = Object.fromEntries(tNames.map((n) => [n, inp[inputOf(n)]]));
      const inputs = { student, teacher: tv, labels: inp.labels, aux, numSamples, ...(withIndex ? { sampleIndex: inp.sample_index } : {}) };
      const l = phase === 'pretrain' ? pretrainLoss(terms, inputs) : distillationLoss(terms, inputs);
      const metrics: Record<string, Value> = { acc: accuracy(out.logits, inp.labels) };
      if (withTeacher) metrics.agree = agreement(out.logits, inp.teacher_logits);
      return { total: l.total, terms: l.terms, metrics };
    },
  };
  const io: StepInputs = { input: Object.keys(model.def.inputs)[0], teacherNames: tNames, teacherShapes: tShapes, inputOf, sampleIndex: withIndex };
  return { spec, io, classes };
}

/** Names of a built model's layer outputs worth tapping: named nodes, not the ops inside a layer (`bn/Mul_3`). */
function tappable(g: Value['graph']): string[] {
  return g.nodes.map((x) => x.outputs[0]).filter((n) => !n.includes('@') && n !== 'step' && !/^(grad|loss|optim)\b/.test(n) && !/(^|\/)[A-Z][A-Za-z]*(_\d+)?$/.test(n) && !/\/(mean|var|const|shape|axes)(_\d+)?$/.test(n));
}

/**
 * Builds (without running) the training step a run will use, so a wrong node name, a feature pair that
 * cannot be compared or a method option fails before hours of teacher training rather than after.
 */
export function checkClassifierStep(model: Model, terms: readonly LossTerm[], teacherShapes?: Record<string, readonly number[]>, numSamples = 1): void {
  const withTeacher = teacherOutputsOf(terms).length > 0;
  buildTrainGraph(classifierStep(model, terms, withTeacher, teacherShapes, adam(), numSamples).spec, { multiStep: false });
  if (pretrainOf(terms)) buildTrainGraph(classifierStep(model, terms, withTeacher, teacherShapes, adam(), numSamples, 'pretrain').spec, { multiStep: false });
}

/**
 * Trains a classifier on its `logits` output with a weighted sum of registered loss terms (cross-entropy
 * by default; add a teacher and `kd` to distil); returns per-step losses and leaves the trained values in
 * `model`. Terms that ask for a pre-training phase (FitNets' hint stage, FT's paraphraser) get it first.
 */
export async function fitClassifier(model: Model, ds: Dataset, o: FitOptions): Promise<{ losses: number[]; session?: TrainSession }> {
  const terms = o.loss ?? [{ method: 'ce', weight: 1 }];
  const tOut = teacherOutputsOf(terms);
  if (tOut.length && !o.teacher) throw new KdError('NO_TEACHER', `the loss terms ${terms.map((t) => t.method).join(' + ')} need a teacher, and none was given`);
  const teacher = tOut.length ? o.teacher : undefined;
  const optimizer = o.optimizer ?? adam();
  const { spec: bare, io, classes } = classifierStep(model, terms, !!teacher, o.teacherShapes, optimizer, ds.n);
  // The norm is a reported scalar, so a non-finite gradient stops training like a non-finite loss.
  const spec = { ...bare, gradNorm: o.clipGradNorm ?? true };
  if (ds.numClasses > classes) throw new KdError('SHAPE_MISMATCH', `model '${model.name}' has ${classes} output classes but '${ds.name}' has ${ds.numClasses}; labels beyond the model's classes would get no loss`);
  checkLabels(ds, classes);
  const loop: LoopOptions = {
    epochs: o.epochs, maxSteps: o.maxSteps, batchSize: o.batchSize ?? 128, seed: o.seed ?? 0, lr: o.lr ?? 1e-3, schedule: o.schedule ?? { kind: 'constant' },
    stepsPerRun: o.stepsPerRun ?? 8, mean: o.mean, std: o.std, augment: o.augment, teacher, onStep: o.onStep, onRun: o.onRun,
  };
  const sessionOpts = { threads: o.threads, seed: o.seed, multiStep: loop.stepsPerRun > 1 };
  const pre = o.resume ? undefined : pretrainOf(terms);
  let initial: Map<string, Float32Array> | undefined;
  if (pre) {
    const p = classifierStep(model, terms, !!teacher, o.teacherShapes, optimizer, ds.n, 'pretrain');
    // An adapters-only phase leaves the student as it is; a student phase trains only what reaches its loss
    // (FitNets: the layers up to the hint), as the paper's first stage does.
    const ps = await TrainSession.create({ ...p.spec, gradNorm: o.clipGradNorm ?? true, frozen: pre.trains === 'adapters' ? 'all' : 'unreached' }, sessionOpts);
    try {
      await trainLoop(ps, `${model.name} (pre-training for ${pre.methods.join(', ')})`, ds, p.io, { ...loop, epochs: pre.epochs, schedule: { kind: 'constant' }, onStep: o.onPretrainStep, onRun: undefined });
      if (pre.trains === 'student') ps.syncToModel();
      initial = new Map(ps.tg.aux.map((a) => [a.name, Float32Array.from(ps.tensor(a.name))]));
    } finally {
      await ps.release();
    }
  }
  const session = await TrainSession.create(spec, { ...sessionOpts, initial });
  let losses: number[];
  try {
    if (o.resume) {
      const meta = session.restoreCheckpoint(o.resume);
      if (!meta.batches) throw new KdError('BAD_CHECKPOINT', `${o.resume} has no data-stream position (meta.batches); it was not written during training, so training cannot resume from it`);
      loop.resumeAt = meta.batches as BatchState;
    }
    losses = await trainLoop(session, model.name, ds, io, loop);
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
  if (ds.n === 0) checkLabels(ds, 0);
  const predictions = new Int32Array(ds.n);
  let k = 0;
  const it = batches(ds, { batchSize: 1000, shuffle: false, mean: o.mean, std: o.std });
  let correct = 0, loss = 0;
  for (const b of it) {
    const input = b.xIds ? new ort.Tensor('int64', b.xIds, b.shape as number[]) : new ort.Tensor('float32', b.x, b.shape as number[]);
    const logits = (await p.run(input, ['logits'])).logits.data as Float32Array;
    const C = logits.length / b.size;
    // An out-of-range label would read past the row and make the loss NaN without a word.
    if (k === 0) checkLabels(ds, C);
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

