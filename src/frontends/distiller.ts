import type { AugmentOptions, Dataset } from '../data/index.js';
import type { Model } from '../nn/model.js';
import { adam } from '../optim/adam.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Schedule } from '../optim/schedule.js';
import { exportOnnx, type ExportOptions } from '../runtime/inference.js';
import { agreementRate, evaluateClassifier, type Evaluation, type FitOptions } from '../train/classifier.js';
import { trainStage } from '../train/stage-train.js';
import { readInput } from '../runtime/storage.js';
import { resolveTerms, teacherOutputsOf, type LossTerm } from '../distill/loss.js';
import { DEFAULT_CACHE_DIR } from '../distill/teachers/cache.js';
import { openTeachers, prepareStageTeacher, releaseTeachers } from '../distill/teachers/open.js';
import type { Teacher } from '../runtime/teacher.js';
import type { TeacherSpec } from '../distill/teachers/spec.js';

/** A teacher as the Distiller takes it: an ONNX file path, ONNX bytes, a (trained) kdistill model, or any teacher object. */
export type DistillerTeacher = string | Uint8Array | Model | Teacher;

/** What a Distiller is made of: the teacher, the student, the weighted loss terms, and optionally its optimizer and schedule. */
export interface DistillerOptions {
  teacher: DistillerTeacher;
  student: Model;
  /** Weighted loss terms by registered method, e.g. `[{ method: 'ce', weight: 0.5 }, { method: 'kd', weight: 0.5 }]`. */
  loss: LossTerm[];
  optimizer?: Optimizer;
  schedule?: Schedule;
  /** Intra-op threads for the student; an ONNX teacher gets its own worker thread. */
  threads?: number;
}

/** How `Distiller.fit` trains: the budget and batch, the data's normalisation and augmentation, and progress callbacks. */
export interface DistillerFitOptions extends Pick<FitOptions, 'onStep' | 'onRun' | 'onPretrainStep' | 'maxSteps' | 'stepsPerRun'> {
  epochs: number;
  batchSize?: number;
  /** Peak learning rate (default 1e-3), scaled by the schedule. */
  lr?: number;
  seed?: number;
  threads?: number;
  augment?: AugmentOptions;
  mean?: number | readonly number[];
  std?: number | readonly number[];
  clipGradNorm?: number | null;
}

/** What `evaluate` reports: the student's test quality and how often it agrees with the teacher. */
export interface DistillEvaluation {
  accuracy: number;
  loss: number;
  teacherAccuracy: number;
  agreement: number;
}

/**
 * Distillation as an object, Keras-style: the student is the artefact, `fit` trains it against the teacher
 * with the configured loss, `evaluate` compares it with the teacher, `exportStudent` writes the deployable ONNX.
 * A thin front-end over the experiment core: `fit` is one stage of a run, trained by the same code as `kdistill run`.
 */
export class Distiller {
  readonly student: Model;
  readonly loss: LossTerm[];
  private readonly teacher: TeacherSpec;
  private norm: Pick<DistillerFitOptions, 'mean' | 'std'> = {};

  constructor(private readonly o: DistillerOptions) {
    this.student = o.student;
    this.loss = resolveTerms(o.loss);
    this.teacher = teacherSpecOf(o.teacher);
  }

  /** Trains the student; returns the per-step losses. */
  async fit(train: Dataset, opts: DistillerFitOptions): Promise<number[]> {
    this.norm = { mean: opts.mean, std: opts.std };
    const threads = opts.threads ?? this.o.threads;
    const ctx = { stage: 'student', loss: this.loss, combine: 'mean' as const, sampleShape: train.sampleShape, classes: train.numClasses };
    const prepared = teacherOutputsOf(this.loss).length
      ? [await prepareStageTeacher(this.teacher, 0, { ...ctx, stageBytes: noStages })]
      : [];
    const teachers = await openTeachers(prepared, DEFAULT_CACHE_DIR);
    const schedule = this.o.schedule ?? { kind: 'constant' as const };
    try {
      const recipe = {
        epochs: opts.epochs,
        batchSize: opts.batchSize ?? 128,
        lr: opts.lr ?? 1e-3,
        optimizer: this.o.optimizer ?? adam(),
        schedule: () => schedule,
        clipGradNorm: opts.clipGradNorm ?? null,
      };
      const training = {
        stage: 'student',
        model: this.student,
        recipe,
        loss: this.loss,
        data: { train },
        teachers,
        combine: 'mean' as const,
      };
      const stageCtx = {
        seed: opts.seed ?? 0,
        augment: opts.augment,
        ...this.norm,
        checkpointEvery: 0,
        keepCheckpoints: 0,
        threads: threads ?? 1,
      };
      return await trainStage({ ...training, threads, hooks: opts }, stageCtx);
    } finally {
      await releaseTeachers(teachers);
    }
  }

  /** Test accuracy and loss of the student, the teacher's accuracy and their top-1 agreement. */
  async evaluate(test: Dataset): Promise<DistillEvaluation> {
    // The same input normalisation as in fit, for both models.
    const t = await evaluateTeacher(this.teacher, test, this.norm, this.o.threads);
    const s = await evaluateClassifier(this.student, test, { threads: this.o.threads, ...this.norm });
    return { accuracy: s.accuracy, loss: s.loss, teacherAccuracy: t.accuracy, agreement: agreementRate(s.predictions, t.predictions) };
  }

  /** The student as a standalone inference ONNX file (BatchNorm folded, dropout removed). */
  exportStudent(opts: ExportOptions = {}): Uint8Array {
    return exportOnnx(this.student, opts);
  }
}

const noStages = (stage: string): Uint8Array => {
  throw new Error(`a Distiller has no stage '${stage}'`);
};

/** The Distiller's teacher as a plan's teacher spec: ONNX bytes for files and models, a live object otherwise. */
function teacherSpecOf(t: DistillerTeacher): TeacherSpec {
  const base = { name: 'teacher', weight: 1, classes: null, cache: false };
  if (t instanceof Uint8Array) return { ...base, kind: 'onnx', bytes: t, label: 'teacher' };
  if (typeof t === 'string') return { ...base, kind: 'onnx', bytes: readInput(t, 'teacher'), label: t };
  if ('predictMany' in t) return { ...base, kind: 'live', teacher: t };
  return { ...base, kind: 'onnx', bytes: exportOnnx(t), label: `teacher model '${t.name}'` };
}

/** The teacher's accuracy and predictions on a dataset: an ONNX teacher through a predictor, a live one through its answers. */
async function evaluateTeacher(
  t: TeacherSpec,
  ds: Dataset,
  norm: Pick<DistillerFitOptions, 'mean' | 'std'>,
  threads?: number,
): Promise<Evaluation> {
  if (t.kind === 'onnx') return evaluateClassifier(t.bytes, ds, { ...norm, threads, source: t.label });
  if (t.kind !== 'live') throw new Error(`Distiller teachers are ONNX or live, not '${t.kind}'`);
  return evaluateClassifier(t.teacher, ds, norm);
}
