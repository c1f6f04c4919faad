import { readFileSync, statSync } from 'node:fs';
import type { ResolvedConfig, StageConfig, TrainConfig } from '../config/index.js';
import { activeAugment } from '../data/augment.js';
import type { Dataset } from '../data/index.js';
import { pretrainOf, teacherOutputsOf, type LossTerm } from '../distill/loss.js';
import type { CacheStats } from '../distill/teachers/cache.js';
import type { TeacherSource } from '../distill/teachers/source.js';
import { codistillationCohort, cohort, peerModel } from '../nn/cohort.js';
import { Model } from '../nn/model.js';
import { zooModel } from '../nn/zoo/index.js';
import { optimizerFrom, scheduleFrom } from '../optim/index.js';
import { measureLatency, type Latency } from '../report/latency.js';
import { loadCheckpoint, saveCheckpoint } from '../runtime/checkpoint.js';
import { exportOnnx, Predictor } from '../runtime/inference.js';
import { KdError } from '../util/errors.js';
import { writeAtomic } from '../util/fs.js';
import { agreementRate, checkClassifierStep, evaluateClassifier, fitClassifier, type Evaluation, type TeacherSlot } from './classifier.js';
import { Progress } from './progress.js';
import type { RunDir } from './run-dir.js';
import { loadData, ofClasses } from './run-data.js';
import { latestCheckpoint, pruneCheckpoints, readStages, stageFile } from './stage-files.js';
import { openTeacher, teacherName, teacherSlot } from './stage-teachers.js';

/** One row of the run's comparison table: a stage's model on the test set. */
export interface SummaryRow {
  /** The stage: teacher, baseline, distilled for a classic config; the stage's name in a pipeline. */
  role: string;
  model: string;
  testAccuracy: number;
  testLoss: number;
  /** Top-1 agreement on the test set with the stage's first teacher (or the run's first stage). */
  agreement: number;
  agreeWith: string;
  parameters?: number;
  fileBytes: number;
  latencyMs: Latency[];
  file: string;
  /** Accuracy on each reported class subset: over all classes, and within the subset only (a task head). */
  subsets?: Record<string, { accuracy: number; taskAccuracy: number }>;
  /** Answers of cached teachers read from disk (hits) and asked of the teacher (misses) while this stage trained. */
  teacherCache?: (CacheStats & { teacher: string })[];
}

/** What `kdistill run` leaves in `summary.json`. */
export interface RunSummary {
  name: string;
  seed: number;
  dataset: string;
  trainSamples: number;
  validationSamples: number;
  testSamples: number;
  rows: SummaryRow[];
  seconds: number;
}

/**
 * Runs an experiment from a resolved config: its stages in order (a classic config: the teacher, the
 * student alone, the student distilled), each trained with its recipe, loss and teachers (earlier stages
 * or ONNX files), evaluated on the test set, and left in the run directory. Model selection data is the
 * validation split; test is only reported. With `resume`, finished stages (recorded in `stages.json`) are
 * reused and an interrupted one continues from its latest checkpoint exactly as if it had not stopped.
 */
export async function runExperiment(
  cfg: ResolvedConfig,
  rd: RunDir,
  log: (line: string) => void = () => {},
  opts: { resume?: boolean } = {},
): Promise<RunSummary> {
  const t0 = Date.now();
  const { train, val, test, mean, std, vocab } = loadData(cfg);
  const augment = activeAugment(cfg.dataset.augment);
  const norm = { mean, std };
  const threads = cfg.threads;
  const mkModel = (name: string, seed: number) => new Model(zooModel(name, train.sampleShape, train.numClasses, vocab), seed);
  const stageModel = (st: StageConfig) => {
    if (!st.cohort) return mkModel(st.model!, st.seed);
    const peers = st.cohort.map((n) => zooModel(n, train.sampleShape, train.numClasses, vocab));
    return new Model(st.refreshEvery ? codistillationCohort(peers, { refreshEvery: st.refreshEvery }) : cohort(peers), st.seed);
  };
  const done = opts.resume ? readStages(rd) : {};
  const markDone = (stage: string, info: Record<string, unknown> = {}) => {
    done[stage] = { ...info, at: new Date().toISOString() };
    rd.write('stages.json', `${JSON.stringify(done, null, 2)}\n`);
  };
  const stageOf = new Map(cfg.stages.map((s) => [s.name, s]));
  const initSources = new Set(cfg.stages.map((s) => s.init).filter((x): x is string => !!x));

  /** Trains one model with its recipe, loss and teachers, logging every step and each epoch's evaluation; checkpoints as it goes. */
  const trainStage = async (
    stage: string,
    model: Model,
    recipe: TrainConfig,
    loss: LossTerm[],
    data: { train: Dataset; val: Dataset },
    teachers: (TeacherSlot & { teacher: TeacherSource })[],
    combine: StageConfig['combine'],
    studentThreads: number,
  ) => {
    const spe = Math.ceil(data.train.n / recipe.batchSize);
    const total = spe * recipe.epochs;
    const evalName = val ? 'val' : 'test';
    const progress = new Progress(stage, total, recipe.batchSize);
    const pre = pretrainOf(loss);
    const preProgress = pre && new Progress(`${stage} (pre-training: ${pre.methods.join(', ')})`, spe * pre.epochs, recipe.batchSize);
    const resume = opts.resume ? latestCheckpoint(rd.checkpoints, stage) : undefined;
    if (resume) {
      rd.log({ stage, event: 'resumed', checkpoint: resume.file, step: resume.step });
      log(`${stage}: resuming from ${resume.file} (step ${resume.step} of ${total})`);
    }
    const bestFile = `${rd.checkpoints}/${stage}-best.json`;
    let best = resume ? bestSoFar(bestFile) : -Infinity;
    await fitClassifier(model, data.train, {
      epochs: recipe.epochs,
      batchSize: recipe.batchSize,
      lr: recipe.optimizer.lr,
      optimizer: optimizerFrom(recipe.optimizer),
      clipGradNorm: recipe.clipGradNorm,
      schedule: scheduleFrom(recipe.schedule, { stepsPerEpoch: spe, totalSteps: total }),
      seed: cfg.seed,
      threads: studentThreads,
      loss,
      teachers,
      combine,
      augment,
      ...norm,
      resume: resume?.path,
      onStep: (step, out) => {
        rd.log({ stage, step, ...out });
        progress.step(step, out);
      },
      onPretrainStep: (step, out) => {
        rd.log({ stage, phase: 'pretrain', step, ...out });
        preProgress?.step(step, out);
      },
      onRun: async (session, stepsDone, n, position) => {
        const epochEnded = Math.floor(stepsDone / spe) > Math.floor((stepsDone - n) / spe);
        const every =
          cfg.checkpointEvery > 0 && Math.floor(stepsDone / cfg.checkpointEvery) > Math.floor((stepsDone - n) / cfg.checkpointEvery);
        if (!epochEnded && !every) return;
        const meta = { stage, epoch: stepsDone / spe, batches: position };
        session.saveCheckpoint(`${rd.checkpoints}/${stage}-step${stepsDone}.ckpt`, meta);
        pruneCheckpoints(rd.checkpoints, stage, cfg.keepCheckpoints);
        if (!epochEnded) return;
        session.syncToModel();
        const ev = await evaluateClassifier(model, data.val, { threads, ...norm }); // validation split if configured, else test
        const event = {
          epoch: Math.floor(stepsDone / spe),
          [`${evalName}Accuracy`]: +ev.accuracy.toFixed(4),
          [`${evalName}Loss`]: +ev.loss.toFixed(4),
        };
        rd.log({ stage, event: 'epoch', ...event });
        progress.note(event);
        if (ev.accuracy > best) {
          best = ev.accuracy;
          session.saveCheckpoint(`${rd.checkpoints}/${stage}-best.ckpt`, { ...meta, [`${evalName}Accuracy`]: ev.accuracy });
          writeAtomic(bestFile, [JSON.stringify({ accuracy: ev.accuracy, on: evalName, step: stepsDone })]);
        }
      },
    });
  };

  // Preflight: every stage's step graph is built now against its teachers (earlier stages exported
  // untrained, or files, probed for the features the loss reads), so a wrong node name, shape or init
  // fails in seconds, not after the first stages have trained.
  const probeBytes = new Map<string, Uint8Array>();
  for (const st of cfg.stages) {
    // What later stages will see of this one: the file, the model, or a cohort's peer 0.
    probeBytes.set(
      st.name,
      st.file ? new Uint8Array(readFileSync(st.file)) : exportOnnx(st.cohort ? peerModel(stageModel(st), 0) : stageModel(st)),
    );
    if (st.file) continue;
    const cached = st.teachers.find((t) => t.cache);
    if (cached && augment)
      throw new KdError(
        'BAD_CONFIG',
        `stage '${st.name}': teacher '${teacherName(cached)}' is cached, but the dataset is augmented, so every sample is new and no answer would ever be reused; set cache: false or turn augmentation off`,
      );
    const student = stageModel(st);
    if (st.init) checkInit(st, stageOf.get(st.init)!, student, stageModel);
    const slots = teacherOutputsOf(st.loss).length
      ? await Promise.all(
          st.teachers.map(async (_, k) => (await teacherSlot(st, k, (n) => probeBytes.get(n)!, train.sampleShape, train.numClasses)).slot),
        )
      : [];
    if (teacherOutputsOf(st.loss).length && !slots.length)
      throw new KdError(
        'NO_TEACHER',
        `stage '${st.name}': its loss (${st.loss.map((l) => l.method).join(' + ')}) reads a teacher, and the stage names none (teachers: [...])`,
      );
    checkClassifierStep(student, st.loss, slots, st.combine, ofClasses(train, st.classes).n);
  }

  const bytesOf = new Map<string, Uint8Array>();
  const cacheStats = new Map<string, (CacheStats & { teacher: string })[]>();
  const trainedValues = new Map<string, Map<string, Float32Array>>();
  const predictionsOf = new Map<string, Int32Array>();
  const rows: SummaryRow[] = [];
  const evaluate = async (
    st: StageConfig,
    p: Predictor,
    file: string,
    params: number | undefined,
    agreeWith: string | undefined,
  ): Promise<Evaluation> => {
    const ev = await evaluateClassifier(p, test, { ...norm, subsets: cfg.report.subsets });
    predictionsOf.set(st.name, ev.predictions);
    const ref = agreeWith ? predictionsOf.get(agreeWith) : undefined;
    rows.push({
      role: st.name,
      model: st.model ?? st.cohort?.join(' + ') ?? st.file!,
      testAccuracy: +ev.accuracy.toFixed(4),
      testLoss: +ev.loss.toFixed(4),
      agreement: +(ref ? agreementRate(ev.predictions, ref) : 1).toFixed(4),
      agreeWith: agreeWith ?? st.name,
      parameters: params,
      fileBytes: statSync(rd.path(file)).size,
      latencyMs: train.kind === 'text' ? [] : await measureLatency(p, train.sampleShape, [1, 32], 30),
      file,
      ...(ev.subsets ? { subsets: ev.subsets } : {}),
      ...(cacheStats.has(st.name) ? { teacherCache: cacheStats.get(st.name) } : {}),
    });
    return ev;
  };

  // File teachers that are not stages are evaluated once, before any stage, so the stages they teach report agreement with them.
  for (const t of cfg.stages.flatMap((s) => s.teachers))
    if (t.file && !predictionsOf.has(teacherName(t))) {
      const tp = await Predictor.fromBytes(new Uint8Array(readFileSync(t.file)), { threads }, t.file);
      try {
        predictionsOf.set(teacherName(t), (await evaluateClassifier(tp, test, norm)).predictions);
      } finally {
        await tp.release();
      }
    }
  for (const st of cfg.stages) {
    const file = stageFile(st.name);
    const firstTeacher = st.teachers[0] ? teacherName(st.teachers[0]) : undefined;
    // Agreement is measured against the stage's first teacher, or else against the run's first stage.
    const agreeWith =
      firstTeacher && predictionsOf.has(firstTeacher) ? firstTeacher : st.name === cfg.stages[0].name ? undefined : cfg.stages[0].name;
    let bytes: Uint8Array, params: number | undefined;
    // A cohort's stage file is peer 0 (what later stages learn from); the other peers are rows of their own.
    const peers: { name: string; file: string; bytes: Uint8Array; params?: number }[] = [];
    if (st.file) {
      bytes = probeBytes.get(st.name)!;
    } else if (done[st.name]) {
      bytes = new Uint8Array(readFileSync(rd.path(file)));
      params = done[st.name].parameters as number | undefined;
      if (initSources.has(st.name)) trainedValues.set(st.name, loadCheckpoint(`${rd.checkpoints}/${st.name}-final.ckpt`).tensors);
      for (let k = 1; k < (st.cohort?.length ?? 0); k++)
        peers.push({
          name: `${st.name}.peer${k}`,
          file: `${st.name}.peer${k}.onnx`,
          bytes: new Uint8Array(readFileSync(rd.path(`${st.name}.peer${k}.onnx`))),
        });
      log(`${st.name}: trained before the interruption, reusing ${file}`);
    } else {
      const model = stageModel(st);
      if (st.init) for (const [k, v] of trainedValues.get(st.init)!) model.values.get(k)!.set(v);
      const data = { train: ofClasses(train, st.classes), val: ofClasses(val ?? test, st.classes) };
      const needs = teacherOutputsOf(st.loss).length > 0;
      const teachers: (TeacherSlot & { teacher: TeacherSource; stats?: () => CacheStats })[] = [];
      try {
        if (needs)
          for (const [k, t] of st.teachers.entries()) {
            const { slot, bytes: tb, key } = await teacherSlot(st, k, (n) => bytesOf.get(n)!, train.sampleShape, train.numClasses);
            // Each teacher answers the next batches (in its own thread, or over HTTP) while the student trains on these.
            const opened = await openTeacher(t, slot, tb, key, cfg.cacheDir);
            teachers.push({ ...slot, teacher: opened.source, stats: opened.stats });
          }
        await trainStage(
          st.name,
          model,
          st,
          st.loss as LossTerm[],
          data,
          teachers,
          st.combine,
          Math.max(1, threads - teachers.filter((t) => !st.teachers.find((c) => teacherName(c) === t.name)?.http).length),
        );
        const cached = teachers.filter((t) => t.stats).map((t) => ({ teacher: t.name, ...t.stats!() }));
        if (cached.length) {
          cacheStats.set(st.name, cached);
          rd.log({ stage: st.name, event: 'teacher-cache', teachers: cached });
        }
      } finally {
        for (const t of teachers) await t.teacher.release();
      }
      const main = st.cohort ? peerModel(model, 0) : model;
      bytes = exportOnnx(main, { metadata: { 'kdistill.role': st.name } });
      params = main.parameterCount();
      for (let k = 1; k < (st.cohort?.length ?? 0); k++) {
        const pk = peerModel(model, k);
        peers.push({
          name: `${st.name}.peer${k}`,
          file: `${st.name}.peer${k}.onnx`,
          bytes: exportOnnx(pk, { metadata: { 'kdistill.role': `${st.name}.peer${k}` } }),
          params: pk.parameterCount(),
        });
      }
      if (initSources.has(st.name)) {
        saveCheckpoint(`${rd.checkpoints}/${st.name}-final.ckpt`, { meta: { stage: st.name, final: true }, tensors: model.values });
        trainedValues.set(st.name, model.values);
      }
    }
    rd.write(file, bytes);
    if (!st.file && !done[st.name]) markDone(st.name, { parameters: params });
    bytesOf.set(st.name, bytes);
    for (const [k, one] of [{ name: st.name, file, bytes, params }, ...peers].entries()) {
      if (k > 0) rd.write(one.file, one.bytes);
      const p = await Predictor.fromBytes(one.bytes, { threads }, st.file ?? one.name);
      try {
        await evaluate({ ...st, name: one.name, model: st.cohort ? st.cohort[k] : st.model }, p, one.file, one.params, agreeWith);
      } finally {
        await p.release();
      }
    }
  }

  const summary: RunSummary = {
    name: cfg.name,
    seed: cfg.seed,
    dataset: cfg.dataset.name,
    trainSamples: train.n,
    validationSamples: val?.n ?? 0,
    testSamples: test.n,
    rows,
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  rd.write('summary.json', `${JSON.stringify(summary, null, 2)}\n`);
  log(formatSummary(summary));
  return summary;
}

/** The best validation accuracy a stage reached before an interruption (none: −∞). */
function bestSoFar(file: string): number {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { accuracy: number }).accuracy;
  } catch {
    return -Infinity;
  }
}

/** A stage that starts from another's weights needs the same parameters, name for name and shape for shape. */
function checkInit(st: StageConfig, from: StageConfig, student: Model, build: (s: StageConfig) => Model): void {
  if (!from.model)
    throw new KdError(
      'BAD_INIT',
      `stage '${st.name}' starts from '${from.name}', which is an ONNX file; init needs a stage kdistill trained`,
    );
  const src = build(from);
  for (const [name, spec] of student.specs) {
    const s = src.specs.get(name);
    if (!s || s.shape.join() !== spec.shape.join())
      throw new KdError(
        'BAD_INIT',
        `stage '${st.name}' (${st.model}) starts from '${from.name}' (${from.model}), but its parameter '${name}' [${spec.shape.join(', ')}] ${s ? `is [${s.shape.join(', ')}] there` : 'does not exist there'}; init needs the same architecture`,
      );
  }
}

/** The comparison table printed at the end of a run. */
export function formatSummary(s: RunSummary): string {
  const w = Math.max(11, ...s.rows.map((r) => r.role.length + 1));
  const subsets = Object.keys(s.rows[0]?.subsets ?? {});
  const head = `${'role'.padEnd(w)} model              test acc   agree   params    file KiB   p50 ms (b=1 / b=32)${subsets.map((n) => `   ${n}: acc / task`).join('')}`;
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const lines = s.rows.map(
    (r) =>
      `${r.role.padEnd(w)} ${r.model.slice(-18).padEnd(18)} ${(r.testAccuracy * 100).toFixed(2).padStart(7)}%  ${(r.agreement * 100).toFixed(1).padStart(5)}%  ${String(r.parameters ?? '?').padStart(7)}  ${(r.fileBytes / 1024).toFixed(0).padStart(9)}   ${r.latencyMs
        .map((l) => l.p50.toFixed(2))
        .join(' / ')
        .padEnd(
          13,
        )}${subsets.map((n) => `   ${pct(r.subsets![n].accuracy)} / ${pct(r.subsets![n].taskAccuracy)}`.padEnd(n.length + 17)).join('')}`,
  );
  const notes = subsets.length ? ['subsets: acc = over all classes, task = within the subset only (a task head)'] : [];
  return [
    head,
    ...lines,
    `${s.dataset}: ${s.trainSamples} train / ${s.validationSamples} validation / ${s.testSamples} test samples, ${s.seconds} s`,
    ...notes,
  ].join('\n');
}
