/**
 * A config as a run plan: zoo models sized to the data, file teachers read once, recipes with their optimizer
 * and schedule built. The one place that knows both the config's shape and the plan's.
 */
import type { ResolvedConfig, StageConfig, TrainConfig } from '../config/index.js';
import { initSource } from '../config/stages.js';
import { activeAugment } from '../data/augment.js';
import { needsOf, type LossTerm } from '../distill/loss.js';
import { adaptTeacher } from '../distill/teachers/adapt.js';
import type { ResolvedInputAdapter, ResolvedOutputAdapter } from '../distill/teachers/adapter-spec.js';
import { cohort } from '../distill/schemes/cohort.js';
import { codistillationCohort } from '../distill/schemes/stale-copies.js';
import type { TeacherSpec } from '../distill/teachers/spec.js';
import { withInputNorm } from '../nn/input-norm.js';
import { withQuantization } from '../nn/quant/model.js';
import { checkStudentFits, importOnnx } from '../nn/import/onnx-student.js';
import { Model, type ModelDef } from '../nn/model.js';
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
  if (data.teacherView && !cfg.teacher)
    throw new KdError(
      'BAD_CONFIG',
      'dataset.views: paired views need a teacher → student config (teacher, student, loss), where the teacher sees the ' +
        "teacher's view; a pipeline of stages cannot say which stage sees which",
    );
  const files = new Map<string, Uint8Array>();
  const fileBytes = (path: string, what: string) => {
    if (!files.has(path)) files.set(path, readInput(path, what));
    return files.get(path)!;
  };
  // The teacher of paired views is sized to its own view (a CSV's other columns have another width).
  const teacherSeen = data.teacherView?.train ?? train;
  // A file's adapters are compiled into its bytes here, so everything after (preflight, cache keys, workers) sees one model;
  // a file without adapters passes through too, so a single output of any name becomes its logits.
  const adapted = (path: string, what: string, a: Adapters, key: string) =>
    adaptTeacher(fileBytes(path, what), { input: a.input, output: a.output, sampleShape: teacherSeen.sampleShape, source: path, key });
  const stageOf = (st: StageConfig, i: number): StagePlan => {
    const seen = cfg.teacher && i === 0 ? teacherSeen : train;
    const zoo = (name: string) => zooModel(name, seen.sampleShape, seen.numClasses, vocab);
    // Where the stage's adapters are written: the classic config's `teacher` is its first stage.
    const stageKey = cfg.teacher ? 'teacher' : `stages[${i}]`;
    const common = {
      name: st.name,
      teachers: st.teachers.map((t, j): TeacherSpec => {
        const base = { name: teacherName(t), weight: t.weight, classes: t.classes, cache: t.cache };
        if (t.stage) return { ...base, kind: 'stage', stage: t.stage };
        if (t.file) return { ...base, kind: 'onnx', bytes: adapted(t.file, 'teacher', t, `${stageKey}.teachers[${j}]`), label: t.file };
        return { ...base, kind: 'http', http: t.http! };
      }),
      combine: st.combine,
      loss: st.loss as LossTerm[],
      classes: st.classes,
      dataFree: st.dataFree,
      foldBatchNorm: st.export?.foldBatchNorm ?? true,
      init: initSource(st.init),
      initLayers: typeof st.init === 'object' && st.init ? st.init.layers : null,
      recipe: recipeOf(st),
      seed: st.seed,
      // Paired views: the classic config's teacher (its first stage) sees the teacher's view, every other stage the student's.
      view: cfg.teacher && i === 0 ? ('teacher' as const) : ('student' as const),
    };
    if (st.file)
      return {
        ...common,
        label: st.file,
        file: { bytes: adapted(st.file, cfg.teacher ? 'teacher' : 'stage file', st, stageKey), path: st.file },
      };
    if (needsOf(common.loss).staleCopies && !st.refreshEvery)
      throw new KdError(
        'BAD_CONFIG',
        `stage '${st.name}': its loss reads stale copies of the peers (codistill); give the stage a 'cohort' and 'refreshEvery'`,
      );
    // The stage's input normalisation becomes the first nodes of its model (each peer's in a cohort).
    const normKey = cfg.teacher ? 'student.input' : `stages[${i}].input`;
    const normed = (d: ModelDef) => (st.input ? withInputNorm(d, st.input, normKey) : d);
    // Quantisation wraps the normalised model, so its first layer quantises what the normalisation gives it.
    const norm = (d: ModelDef) => (st.quantize ? withQuantization(normed(d), st.quantize) : normed(d));
    if (st.student) {
      // Read and checked now, so a file kdistill cannot train is refused before the first stage runs; every stage
      // importing it (the baseline and the distilled student of a classic config) starts from the file's weights.
      const { file, freeze } = st.student;
      const def = importOnnx(fileBytes(file, 'student'), { freeze, source: file });
      checkStudentFits(def, train.sampleShape, train.numClasses, file);
      return { ...common, label: file, build: () => new Model(norm(def), st.seed) };
    }
    if (!st.cohort) return { ...common, label: st.model!, build: () => new Model(norm(zoo(st.model!)), st.seed) };
    const peers = st.cohort;
    const build = () => {
      const defs = peers.map((p) => norm(zoo(p)));
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

/** The adapters a teacher file or file stage may have. */
interface Adapters {
  readonly input?: ResolvedInputAdapter;
  readonly output?: ResolvedOutputAdapter;
}

/** How a config's teacher is named in `node@teacher` references, messages and agreement columns. */
export function teacherName(t: StageConfig['teachers'][number]): string {
  if (t.stage) return t.stage;
  if (t.file) return basename(t.file).replace(/\.onnx$/i, '');
  return new URL(t.http!.url).host;
}
