import { batches, checkLabels, type AugmentOptions, type BatchState, type Dataset } from '../data/index.js';
import { BoundaryAttack, fedBounds } from '../distill/adversarial/boundary-attack.js';
import type { Combine } from '../distill/combine.js';
import { needsOf, pretrainOf, teacherOutputsOf, type LossTerm } from '../distill/loss.js';
import { KdError } from '../util/errors.js';
import type { Model } from '../nn/model.js';
import { adam } from '../optim/adam.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Schedule } from '../optim/schedule.js';
import { Predictor } from '../runtime/inference.js';
import { ort, type SessionOptions } from '../runtime/ort.js';
import { TrainSession } from '../runtime/train-session.js';
import type { Teacher } from '../runtime/teacher.js';
import { classifierStep, type TeacherSlot } from './classifier-step.js';
import { trainLoop, type LoopOptions } from './loop.js';

export { checkClassifierStep, type TeacherSlot } from './classifier-step.js';

/** How `fitClassifier` trains: epochs, batches, learning rate and schedule, loss terms, teacher, augmentation. */
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
  teacher?: Teacher;
  /** Per-sample shapes of the teacher features the terms read, by node name (see `probeOutputShapes`). */
  teacherShapes?: Record<string, readonly number[]>;
  /**
   * The teacher as ONNX bytes, for terms that differentiate through it (bss's boundary samples); `teachers` entries
   * carry theirs as `bytes`.
   */
  teacherBytes?: Uint8Array;
  /**
   * Several teachers instead of `teacher`: their logits are combined by `combine` into the one `logits`
   * the terms read; features are read as `node@name` (a plain node name is the first teacher's).
   */
  teachers?: (TeacherSlot & { teacher: Teacher; bytes?: Uint8Array })[];
  /** How several teachers' logits are combined (default `mean`, the average of their probabilities). */
  combine?: Combine;
  /** What the teachers are asked about: the training set in their view (paired with `ds` by index; cross-modal KD). */
  teacherView?: Dataset;
  /** The normalisation of `teacherView`'s samples (default: `mean` and `std`). */
  teacherNorm?: { readonly mean?: readonly number[]; readonly std?: readonly number[] };
}

/**
 * Trains a classifier on its `logits` output with a weighted sum of registered loss terms (cross-entropy
 * by default; add a teacher and `kd` to distil); returns per-step losses and leaves the trained values in
 * `model`. Terms that ask for a pre-training phase (FitNets' hint stage, FT's paraphraser) get it first.
 */
export async function fitClassifier(model: Model, ds: Dataset, o: FitOptions): Promise<{ losses: number[]; session?: TrainSession }> {
  const terms = o.loss ?? [{ method: 'ce', weight: 1 }];
  const needs = teacherOutputsOf(terms).length > 0;
  const given = o.teachers ?? (o.teacher ? [{ teacher: o.teacher, shapes: o.teacherShapes, name: 'teacher', bytes: o.teacherBytes }] : []);
  if (needs && !given.length)
    throw new KdError('NO_TEACHER', `the loss terms ${terms.map((t) => t.method).join(' + ')} need a teacher, and none was given`);
  const teachers = needs ? given : [];
  const combine = o.combine ?? 'mean';
  const optimizer = o.optimizer ?? adam();
  const { spec: bare, io, classes } = classifierStep(model, terms, teachers, combine, optimizer, ds.n);
  if (ds.numClasses > classes)
    throw new KdError(
      'SHAPE_MISMATCH',
      `model '${model.name}' has ${classes} output classes but '${ds.name}' has ` +
        `${ds.numClasses}; labels beyond the model's classes would get no loss`,
    );
  checkLabels(ds, classes);
  // The norm is a reported scalar, so a non-finite gradient stops training like a non-finite loss.
  const spec = { ...bare, gradNorm: o.clipGradNorm ?? true };
  const loop: LoopOptions = {
    epochs: o.epochs,
    maxSteps: o.maxSteps,
    batchSize: o.batchSize ?? 128,
    seed: o.seed ?? 0,
    lr: o.lr ?? 1e-3,
    schedule: o.schedule ?? { kind: 'constant' },
    stepsPerRun: o.stepsPerRun ?? 8,
    mean: o.mean,
    std: o.std,
    augment: o.augment,
    teachers: teachers.map((t) => t.teacher),
    teacherView: o.teacherView,
    teacherNorm: o.teacherNorm,
    onStep: o.onStep,
    onRun: o.onRun,
    partners: needsOf(terms).partners,
  };
  // Alone on its cores (no teacher session between its runs), the step's pool may spin between ops: ~20% at 2 threads.
  const sessionOpts = { threads: o.threads, seed: o.seed, multiStep: loop.stepsPerRun > 1, spin: teachers.length === 0 };
  const pre = o.resume ? undefined : pretrainOf(terms);
  let initial: Map<string, Float32Array> | undefined;
  if (pre) {
    const p = classifierStep(model, terms, teachers, combine, optimizer, ds.n, 'pretrain');
    // An adapters-only phase leaves the student as it is; a student phase trains only what reaches its loss
    // (FitNets: the layers up to the hint), as the paper's first stage does.
    const ps = await TrainSession.create(
      { ...p.spec, gradNorm: o.clipGradNorm ?? true, frozen: pre.trains === 'adapters' ? 'all' : 'unreached' },
      sessionOpts,
    );
    try {
      await trainLoop(ps, `${model.name} (pre-training for ${pre.methods.join(', ')})`, ds, p.io, {
        ...loop,
        epochs: pre.epochs,
        schedule: { kind: 'constant' },
        onStep: o.onPretrainStep,
        onRun: undefined,
      });
      if (pre.trains === 'student') ps.syncToModel();
      initial = new Map(ps.tg.aux.map((a) => [a.name, Float32Array.from(ps.tensor(a.name))]));
    } finally {
      await ps.release();
    }
  }
  const session = await TrainSession.create(spec, { ...sessionOpts, initial });
  let losses: number[];
  let attack: BoundaryAttack | undefined;
  try {
    if (io.boundary) {
      const t = teachers[0];
      if (!t.bytes)
        throw new KdError(
          'NO_TEACHER',
          `bss moves samples by gradient steps through the teacher, so teacher '${t.name}' must be an ONNX model ` +
            '(a file or an earlier stage; in the library, pass its bytes as teacherBytes), not an HTTP endpoint or a function',
        );
      const bounds = fedBounds(ds.sampleShape, ds.x instanceof Uint8Array, o.mean, o.std);
      attack = await BoundaryAttack.open(t.bytes, { ...io.boundary, bounds, threads: o.threads, source: t.name });
      loop.boundary = attack;
    }
    if (o.resume) {
      const meta = session.restoreCheckpoint(o.resume);
      if (!meta.batches)
        throw new KdError(
          'BAD_CHECKPOINT',
          `${o.resume} has no data-stream position (meta.batches); it was not written during training, so training cannot resume from it`,
        );
      loop.resumeAt = meta.batches as BatchState;
    }
    losses = await trainLoop(session, model.name, ds, io, loop);
  } catch (e) {
    await session.release();
    throw e;
  } finally {
    await attack?.release();
  }
  session.syncToModel();
  if (o.keepSession) return { losses, session };
  await session.release();
  return { losses };
}

/**
 * Accuracy and mean cross-entropy on a dataset of a model (eval mode, exported inference graph), ONNX bytes (`source`
 * names them in messages), an ONNX predictor, or any teacher object.
 */
export async function evaluateClassifier(
  model: Model | Predictor | Teacher | Uint8Array,
  ds: Dataset,
  o: SessionOptions & EvalOptions & { source?: string } = {},
): Promise<Evaluation> {
  if (!(model instanceof Predictor) && !(model instanceof Uint8Array) && 'predictMany' in model)
    return evaluateWith((x, shape) => model.predictMany(x, shape, ['logits']).then((r) => r[0]), ds, o);
  const p =
    model instanceof Predictor
      ? model
      : model instanceof Uint8Array
        ? await Predictor.fromBytes(model, { threads: o.threads }, o.source)
        : await Predictor.fromModel(model, { threads: o.threads });
  try {
    return await evaluateWith(
      async (x, shape) => {
        const input = x instanceof BigInt64Array ? new ort.Tensor('int64', x, shape) : new ort.Tensor('float32', x, shape);
        return (await p.run(input, ['logits'])).logits.data as Float32Array;
      },
      ds,
      o,
    );
  } finally {
    if (!(model instanceof Predictor)) await p.release();
  }
}

/** How a dataset is read for evaluation, and which class subsets are also scored. */
export interface EvalOptions {
  mean?: number | readonly number[];
  std?: number | readonly number[];
  /** Named class subsets: each is scored on its samples over all classes and within the subset only (a task head). */
  subsets?: Readonly<Record<string, readonly number[]>>;
}

/** Logits of one batch, row-major [n, C]. */
type LogitsOf = (x: Float32Array | BigInt64Array, shape: number[]) => Promise<Float32Array>;

async function evaluateWith(logitsOf: LogitsOf, ds: Dataset, o: EvalOptions): Promise<Evaluation> {
  if (ds.n === 0) checkLabels(ds, 0);
  const predictions = new Int32Array(ds.n);
  let k = 0;
  const it = batches(ds, { batchSize: 1000, shuffle: false, mean: o.mean, std: o.std });
  let correct = 0,
    loss = 0;
  const scored = Object.entries(o.subsets ?? {}).map(([name, classes]) => ({
    name,
    classes,
    members: new Set(classes),
    n: 0,
    correct: 0,
    task: 0,
  }));
  for (const b of it) {
    const logits = await logitsOf(b.xIds ?? b.x, b.shape as number[]);
    const C = logits.length / b.size;
    // An out-of-range label would read past the row and make the loss NaN without a word.
    if (k === 0) checkLabels(ds, C);
    for (let i = 0; i < b.size; i++) {
      const row = logits.subarray(i * C, (i + 1) * C);
      let arg = 0,
        mx = -Infinity;
      for (let c = 0; c < C; c++)
        if (row[c] > mx) {
          mx = row[c];
          arg = c;
        }
      let se = 0;
      for (let c = 0; c < C; c++) se += Math.exp(row[c] - mx);
      const label = Number(b.y[i]);
      predictions[k++] = arg;
      if (arg === label) correct++;
      for (const sc of scored) {
        if (!sc.members.has(label)) continue;
        sc.n++;
        if (arg === label) sc.correct++;
        let best = sc.classes[0];
        for (const c of sc.classes) if (row[c] > row[best]) best = c;
        if (best === label) sc.task++;
      }
      loss += Math.log(se) + mx - row[label];
    }
  }
  const subsets = scored.length
    ? Object.fromEntries(
        scored.map((sc) => [
          sc.name,
          { accuracy: +(sc.correct / Math.max(1, sc.n)).toFixed(4), taskAccuracy: +(sc.task / Math.max(1, sc.n)).toFixed(4) },
        ]),
      )
    : undefined;
  return { accuracy: correct / ds.n, loss: loss / ds.n, predictions, ...(subsets ? { subsets } : {}) };
}

/** Test-set quality of a classifier, with its top-1 predictions for agreement measures. */
export interface Evaluation {
  accuracy: number;
  loss: number;
  predictions: Int32Array;
  /** Per named class subset (see `EvalOptions.subsets`). */
  subsets?: Record<string, { accuracy: number; taskAccuracy: number }>;
}

/** Fraction of samples on which two classifiers predict the same class. */
export function agreementRate(a: Int32Array, b: Int32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}
