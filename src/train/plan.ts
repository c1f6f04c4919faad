/**
 * A run as data: the resolved stages (what each trains, with which teachers, loss, data and recipe), built by a
 * front-end (from a config: frontends/config-plan.ts; the `Distiller`). The executor (execute.ts) runs a plan;
 * nothing in it runs a session.
 */
import { subset, type AugmentOptions, type Dataset } from '../data/index.js';
import type { Combine } from '../distill/combine.js';
import type { LossTerm } from '../distill/loss.js';
import { prepareStageTeacher, type PreparedTeacher } from '../distill/teachers/open.js';
import type { TeacherSpec } from '../distill/teachers/spec.js';
import type { Model } from '../nn/model.js';
import type { Optimizer } from '../optim/index.js';
import type { Schedule } from '../optim/schedule.js';

/** The splits of a run, with what every stage needs to read them the same way. */
export interface RunData {
  train: Dataset;
  val?: Dataset;
  test: Dataset;
  /** Per-feature normalisation from the training split (CSV), applied to every split. */
  mean?: readonly number[];
  std?: readonly number[];
  /** Vocabulary size for token-id models (JSONL); the number of users for interaction data (their ids are the input). */
  vocab?: number;
  /**
   * Paired views (cross-modal distillation): the same splits as the teacher sees them, sample for sample; `train`,
   * `val` and `test` above are then the student's view. Stages with `view: 'teacher'` train and are scored on these,
   * and every teacher is asked about these samples while a student trains on its own view.
   */
  teacherView?: { train: Dataset; val?: Dataset; test: Dataset; mean?: readonly number[]; std?: readonly number[] };
}

/** How one model is trained: budget, batch, optimizer, learning-rate schedule, clipping. */
export interface Recipe {
  readonly epochs: number;
  readonly batchSize: number;
  /** Peak learning rate (the schedule scales it). */
  readonly lr: number;
  readonly optimizer: Optimizer;
  /** The schedule, once the stage's steps per epoch and total steps are known. */
  readonly schedule: (run: { readonly stepsPerEpoch: number; readonly totalSteps: number }) => Schedule;
  /** Rescale the gradient to at most this global L2 norm; null: no clipping. */
  readonly clipGradNorm: number | null;
}

/** One stage of a plan: a model it trains (or an ONNX file it takes as it is), its teachers, loss and recipe. */
export interface StagePlan {
  readonly name: string;
  /** What the summary calls its model: the zoo name, the peers of a cohort, or the file. */
  readonly label: string;
  /** A fresh model with the stage's initial values (each call a new one); absent for a file stage. */
  readonly build?: () => Model;
  /** A file stage: the ONNX bytes and where they came from. */
  readonly file?: { readonly bytes: Uint8Array; readonly path: string };
  /** A cohort's peers (online distillation), by label: each is exported and reported on its own. */
  readonly peers?: readonly string[];
  readonly teachers: readonly TeacherSpec[];
  readonly combine: Combine;
  readonly loss: readonly LossTerm[];
  /** Train (and validate) on samples of these classes only; null: all. */
  readonly classes: readonly number[] | null;
  /** Export with BatchNorm folded into the convolutions (default true); false keeps it, for DeepInversion's statistics. */
  readonly foldBatchNorm?: boolean;
  /** Train on samples this data-free method makes from the stage's one teacher, not on the training split. */
  readonly dataFree?: {
    readonly method: string;
    readonly n: number;
    readonly range: readonly [number, number];
    readonly options: Record<string, unknown>;
  } | null;
  /** An earlier stage whose trained weights this one starts from. */
  readonly init: string | null;
  /** Only these layers of it (name prefixes here ← there); null: every parameter (the same architecture). */
  readonly initLayers?: readonly ({ readonly student: string; readonly teacher: string } | number)[] | null;
  /** Which view of paired data the stage's model sees (default 'student'); without paired views both are the data. */
  readonly view?: 'teacher' | 'student';
  readonly recipe: Recipe;
  readonly seed: number;
}

/** Everything a run needs: its data (split once), the stages in order, and how it checkpoints. */
export interface RunPlan {
  readonly name: string;
  readonly seed: number;
  readonly dataset: string;
  readonly data: RunData;
  readonly augment?: AugmentOptions;
  /** Intra-op threads for the students (each ONNX teacher gets a worker thread of its own). */
  readonly threads: number;
  readonly stages: readonly StagePlan[];
  /** Write a checkpoint every this many steps (0: at epoch ends only). */
  readonly checkpointEvery: number;
  /** Step checkpoints kept per stage. */
  readonly keepCheckpoints: number;
  readonly cacheDir: string;
  /** Named class subsets every stage is also scored on. */
  readonly subsets: Readonly<Record<string, readonly number[]>>;
}

/** The splits as teachers see them: the teacher's view of paired data, else the data. */
export function teachersView(plan: RunPlan) {
  return plan.data.teacherView ?? plan.data;
}

/** The splits as the stage's model sees them (its view of paired data), and as its teachers see them. */
export function viewsOf(plan: RunPlan, st: StagePlan) {
  const teachers = teachersView(plan);
  return { own: st.view === 'teacher' ? teachers : plan.data, teachers };
}

/** The normalisation of a view's samples (CSV features; none for images). */
export function normOfView(v: { mean?: readonly number[]; std?: readonly number[] }) {
  return { mean: v.mean, std: v.std };
}

/**
 * The training and validation sets of a stage (its view, its class subset; validation: the test set if none), and the
 * training set as its teachers see it when that is another view (same samples, same order).
 */
export function stageData(plan: RunPlan, st: StagePlan) {
  const { own, teachers } = viewsOf(plan, st);
  return {
    train: ofClasses(own.train, st.classes),
    val: ofClasses(own.val ?? own.test, st.classes),
    teacherTrain: teachers === own ? undefined : ofClasses(teachers.train, st.classes),
  };
}

/** The samples of `ds` whose label is one of `classes` (labels keep their indices). */
export function ofClasses(ds: Dataset, classes: readonly number[] | null): Dataset {
  if (!classes) return ds;
  const keep = new Set(classes);
  const idx: number[] = [];
  for (let i = 0; i < ds.n; i++) if (keep.has(ds.y[i])) idx.push(i);
  return subset(ds, idx, `${ds.name}[classes ${classes.join(',')}]`);
}

/** Every teacher of a stage readied for its loss; `stageBytes` gives earlier stages' ONNX (trained, or preflight's stand-ins). */
export function prepareStageTeachers(plan: RunPlan, st: StagePlan, stageBytes: (stage: string) => Uint8Array): Promise<PreparedTeacher[]> {
  // Teachers take their view's samples, which may have another shape (another group of a CSV's columns).
  const { sampleShape, numClasses: classes } = viewsOf(plan, st).teachers.train;
  const ctx = { stage: st.name, loss: st.loss, combine: st.combine, sampleShape, classes, stageBytes };
  return Promise.all(st.teachers.map((t, k) => prepareStageTeacher(t, k, ctx)));
}
