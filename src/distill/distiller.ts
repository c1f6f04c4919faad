import { readInput } from '../runtime/storage.js';
import type { Dataset } from '../data/index.js';
import type { Model } from '../nn/model.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Schedule } from '../optim/schedule.js';
import { exportOnnx, Predictor, type ExportOptions } from '../runtime/inference.js';
import { WorkerTeacher } from '../runtime/node/worker-teacher.js';
import { agreementRate, evaluateClassifier, fitClassifier, type FitOptions } from '../train/classifier.js';
import { resolveTerms, teacherOutputsOf, type LossTerm } from './loss.js';
import { prepareTeacher } from './teacher.js';

/** A teacher as the Distiller takes it: an ONNX file path, ONNX bytes, or a (trained) kdistill model. */
export type TeacherSource = string | Uint8Array | Model;

export interface DistillerOptions {
  teacher: TeacherSource;
  student: Model;
  /** Weighted loss terms by registered method, e.g. `[{ method: 'ce', weight: 0.5 }, { method: 'kd', weight: 0.5 }]`. */
  loss: LossTerm[];
  optimizer?: Optimizer;
  schedule?: Schedule;
  /** Intra-op threads for the student; the teacher gets its own worker thread. */
  threads?: number;
}

/** What `evaluate` reports: the student's test quality and how often it agrees with the teacher. */
export interface DistillEvaluation {
  accuracy: number;
  loss: number;
  teacherAccuracy: number;
  agreement: number;
}

/**
 * Distillation as an object, Keras-style: the student is the artefact, `fit` trains it against the
 * teacher with the configured loss, `evaluate` compares it with the teacher, `exportStudent` writes the
 * deployable ONNX. The teacher runs in a worker thread, overlapping the student's steps.
 */
export class Distiller {
  readonly student: Model;
  readonly loss: LossTerm[];
  private readonly teacherBytes: Uint8Array;
  private norm: Pick<FitOptions, 'mean' | 'std'> = {};

  constructor(private readonly o: DistillerOptions) {
    this.student = o.student;
    this.loss = resolveTerms(o.loss);
    this.teacherBytes = teacherBytesOf(o.teacher);
  }

  /** Trains the student; returns the per-step losses. */
  async fit(train: Dataset, opts: Omit<FitOptions, 'loss' | 'teacher' | 'optimizer' | 'schedule'> & { epochs: number }): Promise<number[]> {
    const needs = teacherOutputsOf(this.loss).length > 0;
    const t = await prepareTeacher(this.teacherBytes, this.loss, 'teacher', train.sampleShape, train.numClasses);
    this.norm = { mean: opts.mean, std: opts.std };
    const worker = needs ? await WorkerTeacher.start(t.bytes, 1) : undefined;
    try {
      const r = await fitClassifier(this.student, train, {
        ...opts,
        loss: this.loss,
        teacher: worker,
        teacherShapes: t.shapes,
        optimizer: this.o.optimizer,
        schedule: this.o.schedule,
        threads: opts.threads ?? this.o.threads,
      });
      return r.losses;
    } finally {
      await worker?.release();
    }
  }

  /** Test accuracy and loss of the student, the teacher's accuracy and their top-1 agreement. */
  async evaluate(test: Dataset): Promise<DistillEvaluation> {
    const teacher = await Predictor.fromBytes(this.teacherBytes, { threads: this.o.threads }, 'teacher');
    try {
      // The same input normalisation as in fit, for both models.
      const t = await evaluateClassifier(teacher, test, this.norm);
      const s = await evaluateClassifier(this.student, test, { threads: this.o.threads, ...this.norm });
      return { accuracy: s.accuracy, loss: s.loss, teacherAccuracy: t.accuracy, agreement: agreementRate(s.predictions, t.predictions) };
    } finally {
      await teacher.release();
    }
  }

  /** The student as a standalone inference ONNX file (BatchNorm folded, dropout removed). */
  exportStudent(opts: ExportOptions = {}): Uint8Array {
    return exportOnnx(this.student, opts);
  }
}

function teacherBytesOf(t: TeacherSource): Uint8Array {
  if (t instanceof Uint8Array) return t;
  if (typeof t !== 'string') return exportOnnx(t);
  return readInput(t, 'teacher');
}
