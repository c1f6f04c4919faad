import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { toSchedule, type OptimizerConfig, type ResolvedConfig, type TrainConfig } from '../config/index.js';
import { featureStats, loadCsv, loadDataset, loadImageFolder, loadJsonl, stratifiedSplit, tokenizerSize, type AugmentOptions, type Dataset } from '../data/index.js';
import { pretrainOf, teacherOutputsOf } from '../distill/loss.js';
import { prepareTeacher } from '../distill/teacher.js';
import { Model } from '../nn/model.js';
import { zooModel } from '../nn/zoo/index.js';
import { adam, adamw, sgd, type Optimizer } from '../optim/index.js';
import { measureLatency, type Latency } from '../report/latency.js';
import { exportOnnx, Predictor } from '../runtime/inference.js';
import { WorkerTeacher } from '../runtime/teacher-worker.js';
import { KdError } from '../util/errors.js';
import { writeAtomic } from '../util/fs.js';
import { agreementRate, checkClassifierStep, evaluateClassifier, fitClassifier, type Evaluation } from './classifier.js';
import { Progress } from './progress.js';
import { RunDir } from './run-dir.js';

/** One row of the run's comparison table. */
export interface SummaryRow {
  role: 'teacher' | 'baseline' | 'distilled';
  model: string;
  testAccuracy: number;
  testLoss: number;
  /** Top-1 agreement with the teacher on the test set. */
  agreement: number;
  parameters?: number;
  fileBytes: number;
  latencyMs: Latency[];
  file: string;
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

export function buildOptimizer(o: OptimizerConfig): Optimizer {
  if (o.name === 'sgd') return sgd({ momentum: o.momentum, dampening: o.dampening, nesterov: o.nesterov, weightDecay: o.weightDecay });
  const opts = { beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weightDecay };
  return o.name === 'adam' ? adam(opts) : adamw(opts);
}

/** Share of an own dataset (image folder, CSV, JSONL) held out as its test set; bundled datasets have official ones. */
const OWN_TEST_FRACTION = 0.2;

interface RunData {
  train: Dataset;
  val?: Dataset;
  test: Dataset;
  /** Per-feature normalisation from the training split (CSV), applied to every split. */
  mean?: readonly number[];
  std?: readonly number[];
  /** Vocabulary size for token-id models (JSONL). */
  vocab?: number;
}

function loadData(cfg: ResolvedConfig): RunData {
  const d = cfg.dataset;
  let full: Dataset, test: Dataset | undefined, vocab: number | undefined;
  switch (d.name) {
    case 'mnist':
    case 'fashion-mnist':
      full = loadDataset(d.name, 'train');
      test = loadDataset(d.name, 'test');
      break;
    case 'image-folder':
      full = loadImageFolder(d.path, { size: d.options.size, channels: d.options.channels });
      break;
    case 'csv':
      full = loadCsv(d.path, { label: d.options.label, features: d.options.features ?? undefined, delimiter: d.options.delimiter, header: d.options.header });
      break;
    case 'jsonl': {
      const t = loadJsonl(d.path, { textField: d.options.textField, labelField: d.options.labelField, seqLen: d.options.seqLen, tokenizer: d.options.tokenizer, vocab: d.options.vocab });
      vocab = tokenizerSize(t.tokenizer);
      full = t;
      break;
    }
  }
  if (!test) {
    // Own data has no official split: a seeded, stratified share becomes the test set.
    const s = stratifiedSplit(full, { seed: cfg.seed, valFraction: OWN_TEST_FRACTION });
    full = s.train;
    test = s.val;
  }
  let train = full, val: Dataset | undefined;
  if (d.validation) {
    const v = d.validation;
    const split = stratifiedSplit(full, 'perClass' in v ? { seed: cfg.seed, valPerClass: v.perClass } : { seed: cfg.seed, valFraction: v.fraction });
    train = split.train;
    val = split.val;
  }
  if (d.name === 'csv') {
    const st = featureStats(train.x as Float32Array, train.sampleShape[0]);
    return { train, val, test, mean: st.mean, std: st.std };
  }
  return { train, val, test, vocab };
}

/** The config's augmentation (zero meaning off) as batcher options; undefined when nothing is on. */
function augmentOf(cfg: ResolvedConfig): AugmentOptions | undefined {
  const a = cfg.dataset.augment;
  const o: AugmentOptions = {
    ...(a.crop.padding > 0 ? { crop: { padding: a.crop.padding } } : {}),
    ...(a.flip ? { flip: true } : {}),
    ...(a.jitter.pixels > 0 ? { jitter: { pixels: a.jitter.pixels } } : {}),
    ...(a.noise.std > 0 ? { noise: { std: a.noise.std } } : {}),
  };
  return Object.keys(o).length ? o : undefined;
}

/**
 * Runs an experiment from a resolved config: trains (or loads) the teacher, trains the student alone
 * (baseline) and with the configured loss (distilled), evaluates all three on the test set, and leaves
 * everything in the run directory. Model selection data is the validation split; test is only reported.
 * With `resume`, finished stages (recorded in `stages.json`) are reused and an interrupted one continues
 * from its latest checkpoint exactly as if it had not stopped.
 */
export async function runExperiment(cfg: ResolvedConfig, rd: RunDir, log: (line: string) => void = () => {}, opts: { resume?: boolean } = {}): Promise<RunSummary> {
  const t0 = Date.now();
  const { train, val, test, mean, std, vocab } = loadData(cfg);
  const augment = augmentOf(cfg);
  const norm = { mean, std };
  const evalSet = val ?? test;
  const evalName = val ? 'val' : 'test';
  const threads = cfg.threads;
  const mkModel = (name: string, seed: number) => new Model(zooModel(name, train.sampleShape, train.numClasses, vocab), seed);

  const done = opts.resume ? readStages(rd) : {};
  const markDone = (stage: string, info: Record<string, unknown> = {}) => {
    done[stage] = { ...info, at: new Date().toISOString() };
    rd.write('stages.json', JSON.stringify(done, null, 2) + '\n');
  };
  const keep = cfg.keepCheckpoints;

  /** Trains one model with its recipe and loss terms, logging every step and each epoch's evaluation; checkpoints as it goes. */
  const trainStage = async (stage: string, model: Model, recipe: TrainConfig, loss: { method: string; weight: number; options?: Record<string, unknown> }[], teacher?: WorkerTeacher | Predictor, studentThreads = threads, teacherShapes?: Record<string, number[]>) => {
    const spe = Math.ceil(train.n / recipe.batchSize);
    const total = spe * recipe.epochs;
    const progress = new Progress(stage, total, recipe.batchSize);
    const pre = pretrainOf(loss);
    const preProgress = pre && new Progress(`${stage} (pre-training: ${pre.methods.join(', ')})`, spe * pre.epochs, recipe.batchSize);
    const resume = opts.resume ? latestCheckpoint(rd.checkpoints, stage) : undefined;
    if (resume) {
      rd.log({ stage, event: 'resumed', checkpoint: resume.file, step: resume.step });
      log(`${stage}: resuming from ${resume.file} (step ${resume.step} of ${total})`);
    }
    const bestFile = `${rd.checkpoints}/${stage}-best.json`;
    let best = resume && existsSync(bestFile) ? (JSON.parse(readFileSync(bestFile, 'utf8')) as { accuracy: number }).accuracy : -Infinity;
    await fitClassifier(model, train, {
      epochs: recipe.epochs, batchSize: recipe.batchSize, lr: recipe.optimizer.lr, optimizer: buildOptimizer(recipe.optimizer), clipGradNorm: recipe.clipGradNorm,
      schedule: toSchedule(recipe.schedule, { stepsPerEpoch: spe, totalSteps: total }), seed: cfg.seed, threads: studentThreads, loss, teacher, teacherShapes, augment, ...norm,
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
        const every = cfg.checkpointEvery > 0 && Math.floor(stepsDone / cfg.checkpointEvery) > Math.floor((stepsDone - n) / cfg.checkpointEvery);
        if (!epochEnded && !every) return;
        const meta = { stage, epoch: stepsDone / spe, batches: position };
        session.saveCheckpoint(`${rd.checkpoints}/${stage}-step${stepsDone}.ckpt`, meta);
        pruneCheckpoints(rd.checkpoints, stage, keep);
        if (!epochEnded) return;
        session.syncToModel();
        const ev = await evaluateClassifier(model, evalSet, { threads, ...norm }); // validation split if configured, else test
        const event = { epoch: Math.floor(stepsDone / spe), [`${evalName}Accuracy`]: +ev.accuracy.toFixed(4), [`${evalName}Loss`]: +ev.loss.toFixed(4) };
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

  // Preflight: the teacher (a file as given, or the zoo model untrained) and the student's step graph are
  // built and probed now, so a wrong node name or shape fails in seconds, not after the teacher trains.
  const tc = cfg.teacher;
  const source = 'file' in tc ? tc.file : 'teacher';
  const probeBytes = 'file' in tc ? readFileSync(tc.file) : exportOnnx(mkModel(tc.model, cfg.seed + 1000));
  const probed = await prepareTeacher(probeBytes, cfg.loss as never, source, train.sampleShape, train.numClasses);
  checkClassifierStep(mkModel(cfg.student.model, cfg.seed), cfg.loss as never, probed.shapes, train.n);

  // Teacher: a file as given, or a zoo model trained first with its own recipe.
  let teacherBytes: Uint8Array;
  let teacherParams: number | undefined;
  if ('file' in tc) teacherBytes = probeBytes;
  else if (done.teacher) {
    teacherBytes = new Uint8Array(readFileSync(rd.path('teacher.onnx')));
    teacherParams = done.teacher.parameters as number | undefined;
    log('teacher: trained before the interruption, reusing teacher.onnx');
  } else {
    const tm = mkModel(tc.model, cfg.seed + 1000);
    await trainStage('teacher', tm, tc.train, [{ method: 'ce', weight: 1 }]);
    teacherBytes = exportOnnx(tm, { metadata: { 'kdistill.role': 'teacher' } });
    teacherParams = tm.parameterCount();
  }
  rd.write('teacher.onnx', teacherBytes);
  if (!done.teacher) markDone('teacher', { parameters: teacherParams });
  const teacherP = await Predictor.fromBytes(teacherBytes, { threads }, 'file' in tc ? tc.file : 'teacher');
  if (!teacherP.session.outputNames.includes('logits')) {
    await teacherP.release();
    throw new KdError('NO_LOGITS', `teacher ${'file' in tc ? tc.file : tc.model} has no output named 'logits' (outputs: ${teacherP.session.outputNames.join(', ')})`);
  }
  const rows: SummaryRow[] = [];
  const evaluate = async (role: SummaryRow['role'], name: string, p: Predictor, file: string, params?: number, teacherPred?: Int32Array): Promise<Evaluation> => {
    const ev = await evaluateClassifier(p, test, norm);
    rows.push({
      role, model: name, testAccuracy: +ev.accuracy.toFixed(4), testLoss: +ev.loss.toFixed(4), agreement: +(teacherPred ? agreementRate(ev.predictions, teacherPred) : 1).toFixed(4),
      parameters: params, fileBytes: statSync(rd.path(file)).size, latencyMs: train.kind === 'text' ? [] : await measureLatency(p, train.sampleShape, [1, 32], 30), file,
    });
    return ev;
  };
  let tEval: Evaluation;
  try {
    tEval = await evaluate('teacher', 'file' in tc ? tc.file : tc.model, teacherP, 'teacher.onnx', teacherParams);
  } finally {
    await teacherP.release();
  }

  const studentStage = async (role: 'baseline' | 'distilled', loss: typeof cfg.loss) => {
    const sm = mkModel(cfg.student.model, cfg.seed);
    const file = `${role === 'distilled' ? 'student' : 'baseline'}.onnx`;
    if (done[role]) {
      log(`${role}: trained before the interruption, reusing ${file}`);
      const p = await Predictor.fromBytes(new Uint8Array(readFileSync(rd.path(file))), { threads });
      try {
        await evaluate(role, cfg.student.model, p, file, done[role].parameters as number, tEval.predictions);
      } finally {
        await p.release();
      }
      return;
    }
    const needs = teacherOutputsOf(loss as never).length > 0;
    const prepared = await prepareTeacher(teacherBytes, loss as never, 'file' in tc ? tc.file : 'teacher', train.sampleShape, train.numClasses);
    // The teacher answers the next batches in its own thread while the student trains on these.
    const worker = needs ? await WorkerTeacher.start(prepared.bytes, 1) : undefined;
    try {
      await trainStage(role, sm, cfg, loss as never, worker, needs ? Math.max(1, threads - 1) : threads, prepared.shapes);
    } finally {
      await worker?.release();
    }
    const bytes = exportOnnx(sm, { metadata: { 'kdistill.role': role } });
    rd.write(file, bytes);
    markDone(role, { parameters: sm.parameterCount() });
    const p = await Predictor.fromBytes(bytes, { threads });
    try {
      await evaluate(role, cfg.student.model, p, file, sm.parameterCount(), tEval.predictions);
    } finally {
      await p.release();
    }
  };
  if (cfg.baseline) await studentStage('baseline', [{ method: 'ce', weight: 1, options: {} }]);
  await studentStage('distilled', cfg.loss);

  const summary: RunSummary = {
    name: cfg.name, seed: cfg.seed, dataset: cfg.dataset.name, trainSamples: train.n, validationSamples: val?.n ?? 0, testSamples: test.n, rows,
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  rd.write('summary.json', JSON.stringify(summary, null, 2) + '\n');
  log(formatSummary(summary));
  return summary;
}

/** Stages a run finished, from its `stages.json` (absent: none). */
function readStages(rd: RunDir): Record<string, Record<string, unknown>> {
  if (!existsSync(rd.path('stages.json'))) return {};
  try {
    return JSON.parse(readFileSync(rd.path('stages.json'), 'utf8'));
  } catch (e) {
    throw new KdError('BAD_RUN_DIR', `cannot resume from ${rd.dir}: stages.json is unreadable (${(e as Error).message}); delete it to redo every stage from its checkpoints`);
  }
}

const STEP_CKPT = (stage: string) => new RegExp(`^${stage}-step(\\d+)\\.ckpt$`);

/** The stage's checkpoint with the most steps, if any. */
function latestCheckpoint(dir: string, stage: string): { path: string; file: string; step: number } | undefined {
  const found = readdirSync(dir).map((f) => ({ f, m: STEP_CKPT(stage).exec(f) })).filter((x) => x.m).map((x) => ({ file: x.f, path: join(dir, x.f), step: Number(x.m![1]) }));
  return found.sort((a, b) => b.step - a.step)[0];
}

/** Keeps the stage's newest `keep` step checkpoints (the best one is a separate file). */
function pruneCheckpoints(dir: string, stage: string, keep: number): void {
  const steps = readdirSync(dir).map((f) => STEP_CKPT(stage).exec(f)).filter((m) => m).map((m) => Number(m![1])).sort((a, b) => b - a);
  for (const s of steps.slice(keep)) rmSync(join(dir, `${stage}-step${s}.ckpt`), { force: true });
}

/** The comparison table printed at the end of a run. */
export function formatSummary(s: RunSummary): string {
  const head = 'role        model              test acc   agree   params    file KiB   p50 ms (b=1 / b=32)';
  const lines = s.rows.map((r) => `${r.role.padEnd(11)} ${r.model.slice(-18).padEnd(18)} ${(r.testAccuracy * 100).toFixed(2).padStart(7)}%  ${(r.agreement * 100).toFixed(1).padStart(5)}%  ${String(r.parameters ?? '?').padStart(7)}  ${(r.fileBytes / 1024).toFixed(0).padStart(9)}   ${r.latencyMs.map((l) => l.p50.toFixed(2)).join(' / ')}`);
  return [head, ...lines, `${s.dataset}: ${s.trainSamples} train / ${s.validationSamples} validation / ${s.testSamples} test samples, ${s.seconds} s`].join('\n');
}
