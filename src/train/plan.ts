/**
 * A run as data: the resolved stages (what each trains, with which teachers, loss, data and recipe), built from
 * a config or by a front-end such as `Distiller`. The executor (execute.ts) runs a plan; nothing in it runs a session.
 */
import type { ResolvedConfig, StageConfig, TrainConfig } from '../config/index.js';
import { activeAugment } from '../data/augment.js';
import type { AugmentOptions } from '../data/index.js';
import type { Combine } from '../distill/combine.js';
import { needsOf, type LossTerm } from '../distill/loss.js';
import { cohort } from '../distill/schemes/cohort.js';
import { codistillationCohort } from '../distill/schemes/stale-copies.js';
import type { TeacherSpec } from '../distill/teachers/spec.js';
import { Model } from '../nn/model.js';
import { zooModel } from '../nn/zoo/index.js';
import { optimizerFrom, scheduleFrom, type Optimizer } from '../optim/index.js';
import type { Schedule } from '../optim/schedule.js';
import { KdError } from '../util/errors.js';
import { readInput } from '../runtime/storage.js';
import { ofClasses, type RunData } from './run-data.js';

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
  /** An earlier stage whose trained weights this one starts from. */
  readonly init: string | null;
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

/** A config's recipe as a plan's: the optimizer built, the schedule's epoch counts turned into steps once the stage's size is known. */
export function recipeOf(r: TrainConfig): Recipe {
  return {
    epochs: r.epochs,
    batchSize: r.batchSize,
    lr: r.optimizer.lr,
    optimizer: optimizerFrom(r.optimizer),
    schedule: (run) => scheduleFrom(r.schedule, run),
    clipGradNorm: r.clipGradNorm,
  };
}

/** The plan of a resolved config, for data already loaded: zoo models sized to the data, file teachers read once. */
export function planFromConfig(cfg: ResolvedConfig, data: RunData): RunPlan {
  const { train, vocab } = data;
  const files = new Map<string, Uint8Array>();
  const fileBytes = (path: string, what: string) => {
    if (!files.has(path)) files.set(path, readInput(path, what));
    return files.get(path)!;
  };
  const zoo = (name: string) => zooModel(name, train.sampleShape, train.numClasses, vocab);
  const stageOf = (st: StageConfig): StagePlan => {
    const common = {
      name: st.name,
      teachers: st.teachers.map((t): TeacherSpec => {
        const base = { name: teacherName(t), weight: t.weight, classes: t.classes, cache: t.cache };
        if (t.stage) return { ...base, kind: 'stage', stage: t.stage };
        if (t.file) return { ...base, kind: 'onnx', bytes: fileBytes(t.file, 'teacher'), label: t.file };
        return { ...base, kind: 'http', http: t.http! };
      }),
      combine: st.combine,
      loss: st.loss as LossTerm[],
      classes: st.classes,
      init: st.init,
      recipe: recipeOf(st),
      seed: st.seed,
    };
    if (st.file) return { ...common, label: st.file, file: { bytes: fileBytes(st.file, 'stage file'), path: st.file } };
    if (needsOf(common.loss).staleCopies && !st.refreshEvery)
      throw new KdError(
        'BAD_CONFIG',
        `stage '${st.name}': its loss reads stale copies of the peers (codistill); give the stage a 'cohort' and 'refreshEvery'`,
      );
    if (!st.cohort) return { ...common, label: st.model!, build: () => new Model(zoo(st.model!), st.seed) };
    const peers = st.cohort;
    const build = () => {
      const defs = peers.map(zoo);
      return new Model(st.refreshEvery ? codistillationCohort(defs, { refreshEvery: st.refreshEvery }) : cohort(defs), st.seed);
    };
    return { ...common, label: peers.join(' + '), peers, build };
  };
  return {
    name: cfg.name,
    seed: cfg.seed,
    dataset: cfg.dataset.name,
    data,
    augment: activeAugment(cfg.dataset.augment),
    threads: cfg.threads,
    stages: cfg.stages.map(stageOf),
    checkpointEvery: cfg.checkpointEvery,
    keepCheckpoints: cfg.keepCheckpoints,
    cacheDir: cfg.cacheDir,
    subsets: cfg.report.subsets,
  };
}

/** How a config's teacher is named in `node@teacher` references, messages and agreement columns. */
export function teacherName(t: StageConfig['teachers'][number]): string {
  if (t.stage) return t.stage;
  if (t.file) return (t.file.split('/').pop() ?? t.file).replace(/\.onnx$/i, '');
  return new URL(t.http!.url).host;
}

/** The training and validation sets of a stage: its class subset of the run's splits (validation: the test set if none). */
export function stageData(plan: RunPlan, st: StagePlan) {
  return { train: ofClasses(plan.data.train, st.classes), val: ofClasses(plan.data.val ?? plan.data.test, st.classes) };
}
