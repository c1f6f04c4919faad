import type { Dataset } from '../data/index.js';
import { groupAccuracy } from '../data/groups.js';
import { teacherOutputsOf } from '../distill/loss.js';
import { peerModel } from '../distill/schemes/cohort.js';
import { openTeachers, releaseTeachers, type OpenTeacher } from '../distill/teachers/open.js';
import type { CacheStats } from '../distill/teachers/cache.js';
import type { Model } from '../nn/model.js';
import { measureLatency } from '../runtime/latency.js';
import { dataFreeSplits } from './data-free-stage.js';
import { confusionMatrix, MAX_CONFUSION_CLASSES } from './confusion.js';
import { loadCheckpoint, saveCheckpoint } from '../runtime/checkpoint.js';
import { exportOnnx, Predictor } from '../runtime/inference.js';
import { ort } from '../runtime/ort.js';
import { runtime } from '../runtime/runtime.js';
import { readInput } from '../runtime/storage.js';
import { agreementRate, evaluateClassifier } from './classifier.js';
import { copyLayers, initSourceOf, mapLayers } from './init-layers.js';
import { normOfView, prepareStageTeachers, stageData, teachersView, viewsOf, type RunPlan, type StagePlan } from './plan.js';
import { quantizedModel } from './quantized-row.js';
import { evaluateRanking } from './ranking-metrics.js';
import type { SummaryRow } from './report.js';
import type { RunDir } from './run-dir.js';
import { readStages, stageFile, stageModelName } from './stage-files.js';
import { trainStage, type StageContext } from './stage-train.js';

/** One exported model of a stage: the stage's own file, or one more peer of a cohort. */
interface StageModel {
  readonly name: string;
  readonly label: string;
  readonly file: string;
  readonly bytes: Uint8Array;
  readonly params?: number;
  /** A quantisation-aware model's fake-quantised graph (what it trained and validated as), to score its int8 file against. */
  readonly fakeQuant?: Uint8Array;
}

/** Where a quantisation-aware stage keeps its fake-quantised graph (so a resumed run scores it as the first run did). */
const fakeQuantFile = (stage: string) => `checkpoints/${stage}.fakequant.onnx`;
/** A quantisation-aware stage's int8 file, next to its float one (where `kdistill export --int8` writes it too). */
const int8File = (file: string) => file.replace(/\.onnx$/, '.int8.onnx');

/** What a finished stage hands to later ones: its files (teachers), its weights (init), its test predictions (agreement). */
class RunState {
  /** Each finished stage's ONNX file (peer 0 for a cohort): what later stages learn from. */
  readonly bytes = new Map<string, Uint8Array>();
  /** Trained values of stages that a later stage starts from. */
  readonly trained = new Map<string, Map<string, Float32Array>>();
  /** Test-set predictions of every evaluated model and file teacher, for agreement. */
  readonly predictions = new Map<string, Int32Array>();
  readonly cacheStats = new Map<string, (CacheStats & { teacher: string })[]>();
  readonly rows: SummaryRow[] = [];
}

/** How a plan is executed: where it writes, whether it resumes, what it tells the user. */
export interface ExecuteOptions {
  readonly runDir: RunDir;
  readonly resume?: boolean;
  readonly log?: (line: string) => void;
  /** Awaited between ORT runs of every stage: a front-end's pause button returns a promise that resolves on resume. */
  readonly pause?: () => Promise<void>;
}

/**
 * Runs a plan's stages in order: each is trained (or reused when a resumed run finished it, or taken as a file),
 * exported as `<stage>.onnx`, and evaluated on the test set into a summary row. Returns the rows.
 */
export async function executePlan(plan: RunPlan, o: ExecuteOptions): Promise<SummaryRow[]> {
  const rd = o.runDir;
  const state = new RunState();
  const done = o.resume ? readStages(rd) : {};
  const initSources = new Set(plan.stages.map((s) => s.init).filter((x): x is string => !!x));
  await evaluateFileTeachers(plan, state);
  for (const st of plan.stages) {
    const models = st.file
      ? [{ name: st.name, label: st.label, file: stageFile(st.name), bytes: st.file.bytes }]
      : done[st.name]
        ? reuseStage(st, rd, done[st.name], initSources.has(st.name), state, o.log)
        : await trainAndExport(plan, st, rd, initSources.has(st.name), state, o);
    for (const m of models) {
      rd.write(m.file, m.bytes);
      if (m.fakeQuant) rd.write(fakeQuantFile(m.name), m.fakeQuant);
    }
    if (!st.file && !done[st.name]) {
      done[st.name] = { parameters: models[0].params, at: new Date().toISOString() };
      rd.write('stages.json', `${JSON.stringify(done, null, 2)}\n`);
    }
    state.bytes.set(st.name, models[0].bytes);
    const agreeWith = agreementReference(plan, st, state);
    for (const m of models) state.rows.push(await evaluateStageModel(plan, st, m, agreeWith, state, rd));
  }
  return state.rows;
}

/** File teachers that are not stages are evaluated once, before any stage, so the stages they teach report agreement with them. */
async function evaluateFileTeachers(plan: RunPlan, state: RunState): Promise<void> {
  for (const t of plan.stages.flatMap((s) => s.teachers)) {
    if (t.kind !== 'onnx' || state.predictions.has(t.name)) continue;
    // A file teacher is scored on the samples as teachers see them (its view of paired data).
    const seen = teachersView(plan);
    const ev = await evaluateClassifier(t.bytes, seen.test, {
      ...normOfView(seen),
      threads: plan.threads,
      source: t.label,
    });
    state.predictions.set(t.name, ev.predictions);
  }
}

/** Agreement is measured against the stage's first teacher, or else against the run's first stage (none for that stage itself). */
function agreementReference(plan: RunPlan, st: StagePlan, state: RunState): string | undefined {
  const first = st.teachers[0]?.name;
  if (first !== undefined && state.predictions.has(first)) return first;
  return st.name === plan.stages[0].name ? undefined : plan.stages[0].name;
}

/** A stage a resumed run finished before it stopped: its files (and, for an init source, its weights) are read back. */
function reuseStage(
  st: StagePlan,
  rd: RunDir,
  record: Record<string, unknown>,
  initSource: boolean,
  state: RunState,
  log?: (line: string) => void,
): StageModel[] {
  if (initSource) state.trained.set(st.name, loadCheckpoint(`${rd.checkpoints}/${st.name}-final.ckpt`).tensors);
  log?.(`${st.name}: trained before the interruption, reusing ${stageFile(st.name)}`);
  return (st.peers ?? [st.label]).map((label, k) => {
    const name = stageModelName(st.name, k);
    const fake = runtime().storage.exists(rd.path(fakeQuantFile(name)))
      ? { fakeQuant: readInput(rd.path(fakeQuantFile(name)), 'fake-quantised model') }
      : {};
    return {
      name,
      label,
      file: stageFile(st.name, k),
      bytes: readInput(rd.path(stageFile(st.name, k)), k === 0 ? 'stage model' : 'cohort peer'),
      ...fake,
      ...(k === 0 ? { params: record.parameters as number | undefined } : {}),
    };
  });
}

/** Trains a stage with its teachers running beside it, then exports it (each peer of a cohort on its own). */
async function trainAndExport(
  plan: RunPlan,
  st: StagePlan,
  rd: RunDir,
  initSource: boolean,
  state: RunState,
  o: ExecuteOptions,
): Promise<StageModel[]> {
  const model = st.build!();
  if (st.init && st.initLayers) {
    const source = initSourceOf(plan.stages.find((s) => s.name === st.init)!, () => state.trained.get(st.init!));
    copyLayers(model, source.values(), mapLayers(st, model, source, st.initLayers));
  } else if (st.init) for (const [k, v] of state.trained.get(st.init)!) model.values.get(k)!.set(v);
  const { train, val, teacherTrain } = st.dataFree ? await synthesizedData(plan, st, rd, state, o) : stageData(plan, st);
  const teachers = await openStageTeachers(plan, st, state);
  try {
    // ONNX teachers run in worker threads of their own; HTTP and live teachers take no core.
    const workers = teachers.filter((t) => t.spec.kind === 'onnx' || t.spec.kind === 'stage').length;
    await trainStage(
      {
        stage: st.name,
        model,
        recipe: st.recipe,
        loss: st.loss,
        data: { train, val, valName: plan.data.val || st.dataFree ? 'val' : 'test', teacherTrain },
        teachers,
        combine: st.combine,
        threads: Math.max(1, plan.threads - workers),
      },
      contextOf(plan, st, rd, o),
    );
    const cached = teachers.filter((t) => t.stats).map((t) => ({ teacher: t.slot.name, ...t.stats!() }));
    if (cached.length) {
      state.cacheStats.set(st.name, cached);
      rd.log({ stage: st.name, event: 'teacher-cache', teachers: cached });
    }
  } finally {
    await releaseTeachers(teachers);
  }
  if (initSource) {
    saveCheckpoint(`${rd.checkpoints}/${st.name}-final.ckpt`, { meta: { stage: st.name, final: true }, tensors: model.values });
    state.trained.set(st.name, model.values);
  }
  return exportStage(st, model);
}

/** A data-free stage's samples, made from its teacher; the first of them are kept in the run directory to be looked at. */
async function synthesizedData(plan: RunPlan, st: StagePlan, rd: RunDir, state: RunState, o: ExecuteOptions) {
  const splits = await dataFreeSplits(
    plan,
    st,
    (n) => state.bytes.get(n),
    (e) => {
      rd.log(e);
      if (e.event === 'warning') o.log?.(`warning: ${e.message}`);
      if (e.event === 'synth')
        o.log?.(`${st.name}: ${e.samples} ${e.method} samples in ${e.seconds} s; teacher's classes ${e.classCounts}`);
    },
  );
  rd.write(`${st.name}-synth.json`, JSON.stringify(splits.preview));
  return { train: splits.train, val: splits.val, teacherTrain: undefined };
}

/** The stage's teachers, readied for its loss and started; none when its loss reads no teacher. */
async function openStageTeachers(plan: RunPlan, st: StagePlan, state: RunState): Promise<OpenTeacher[]> {
  if (!teacherOutputsOf(st.loss).length) return [];
  return openTeachers(await prepareStageTeachers(plan, st, (n) => state.bytes.get(n)!), plan.cacheDir);
}

/** The stage's trained model as inference ONNX: the model itself, or every peer of a cohort (peer 0 is the stage's file). */
export function exportStage(st: StagePlan, model: Model): StageModel[] {
  if (!st.peers)
    return [
      {
        name: st.name,
        label: st.label,
        file: stageFile(st.name),
        bytes: exportOnnx(model, { metadata: { 'kdistill.role': st.name }, foldBn: st.foldBatchNorm !== false }),
        params: model.parameterCount(),
        ...(model.def.quantization ? { fakeQuant: exportOnnx(model, { fakeQuant: true }) } : {}),
      },
    ];
  return st.peers.map((label, k) => {
    const peer = peerModel(model, k);
    const name = stageModelName(st.name, k);
    return {
      name,
      label,
      file: stageFile(st.name, k),
      bytes: exportOnnx(peer, { metadata: { 'kdistill.role': name }, foldBn: st.foldBatchNorm !== false }),
      params: peer.parameterCount(),
    };
  });
}

/** A stage model's summary row: test accuracy and loss, agreement, size, latency, class subsets, cache statistics. */
async function evaluateStageModel(
  plan: RunPlan,
  st: StagePlan,
  m: StageModel,
  agreeWith: string | undefined,
  state: RunState,
  rd: RunDir,
): Promise<SummaryRow> {
  const p = await Predictor.fromBytes(m.bytes, { threads: plan.threads }, st.file?.path ?? m.name);
  try {
    // Each model is scored on its own view of the test set: paired by index, so agreement compares the same samples.
    const own = viewsOf(plan, st).own;
    const ev = await evaluateClassifier(p, own.test, { ...normOfView(own), subsets: plan.subsets });
    state.predictions.set(m.name, ev.predictions);
    const ref = agreeWith ? state.predictions.get(agreeWith) : undefined;
    // Latency is measured on float inputs; models of token or user ids (int64) are not timed.
    const text = plan.data.train.ids !== undefined;
    return {
      role: m.name,
      model: m.label,
      testAccuracy: +ev.accuracy.toFixed(4),
      testLoss: +ev.loss.toFixed(4),
      agreement: ref ? +agreementRate(ev.predictions, ref).toFixed(4) : null,
      agreeWith: ref ? agreeWith! : null,
      parameters: m.params,
      fileBytes: m.bytes.length,
      latencyMs: text ? [] : await measureLatency(p, own.train.sampleShape, [1, 32], 30),
      file: m.file,
      ...(ev.subsets ? { subsets: ev.subsets } : {}),
      ...(own.test.numClasses <= MAX_CONFUSION_CLASSES
        ? { confusion: confusionMatrix(ev.predictions, own.test.y, own.test.numClasses) }
        : {}),
      ...(state.cacheStats.has(st.name) ? { teacherCache: state.cacheStats.get(st.name) } : {}),
      ...(m.fakeQuant ? { quantization: await int8Of(m, own.test, { ...normOfView(own), threads: plan.threads }, rd) } : {}),
      ...(own.test.interactions ? { ranking: await rankingOf(p, own.test) } : {}),
      ...(own.test.groups ? { groups: groupAccuracy(own.test, ev.predictions) } : {}),
    };
  } finally {
    await p.release();
  }
}

/** NDCG@10 and Recall@10 on held-out interactions (rounded as the summary's accuracies are). */
async function rankingOf(p: Predictor, test: Dataset): Promise<NonNullable<SummaryRow['ranking']>> {
  const score = async (u: BigInt64Array) =>
    (await p.run(new ort.Tensor('int64', u, [u.length, 1]), ['logits'])).logits.data as Float32Array;
  const r = await evaluateRanking(score, test);
  return { k: r.k, ndcg: +r.ndcg.toFixed(4), recall: +r.recall.toFixed(4), users: r.users };
}

/** A quantisation-aware stage's int8 file, written next to its float one, scored against its fake-quantised graph. */
async function int8Of(m: StageModel, test: Dataset, o: { mean?: readonly number[]; std?: readonly number[]; threads: number }, rd: RunDir) {
  const q = await quantizedModel(m.bytes, m.fakeQuant!, test, int8File(m.file), { ...o, sampleShape: test.sampleShape });
  rd.write(q.row.file, q.bytes);
  return q.row;
}

/** The stage context of a plan's run: its seed, augmentation, normalisation (of the stage's view) and checkpointing. */
function contextOf(plan: RunPlan, st: StagePlan, rd: RunDir, o: ExecuteOptions): StageContext {
  const { own, teachers } = viewsOf(plan, st);
  return {
    runDir: rd,
    resume: o.resume,
    seed: plan.seed,
    augment: plan.augment,
    ...normOfView(own),
    teacherNorm: teachers === own ? undefined : normOfView(teachers),
    checkpointEvery: plan.checkpointEvery,
    keepCheckpoints: plan.keepCheckpoints,
    threads: plan.threads,
    log: o.log,
    pause: o.pause,
  };
}
