/**
 * A config as a run plan: zoo models sized to the data, file teachers read once, recipes with their optimizer
 * and schedule built. The one place that knows both the config's shape and the plan's.
 */
import type { ResolvedConfig, StageConfig, TrainConfig } from '../config/index.js';
import { activeAugment } from '../data/augment.js';
import { needsOf, type LossTerm } from '../distill/loss.js';
import { cohort } from '../distill/schemes/cohort.js';
import { codistillationCohort } from '../distill/schemes/stale-copies.js';
import type { TeacherSpec } from '../distill/teachers/spec.js';
import { checkStudentFits, importOnnx } from '../nn/import/onnx-student.js';
import { Model } from '../nn/model.js';
import { zooModel } from '../nn/zoo/index.js';
import { optimizerFrom, scheduleFrom } from '../optim/index.js';
import { readInput } from '../runtime/storage.js';
import type { Recipe, RunData, RunPlan, StagePlan } from '../train/plan.js';
import { KdError } from '../util/errors.js';
import { basename } from '../util/path.js';

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
    if (st.student) {
      // Read and checked now, so a file kdistill cannot train is refused before the first stage runs; every stage
      // importing it (the baseline and the distilled student of a classic config) starts from the file's weights.
      const { file, freeze } = st.student;
      const def = importOnnx(fileBytes(file, 'student'), { freeze, source: file });
      checkStudentFits(def, train.sampleShape, train.numClasses, file);
      return { ...common, label: file, build: () => new Model(def, st.seed) };
    }
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
  if (t.file) return basename(t.file).replace(/\.onnx$/i, '');
  return new URL(t.http!.url).host;
}
