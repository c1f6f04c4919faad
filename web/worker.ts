/**
 * The module Web Worker that does the page's heavy work: it loads the library (and with it onnxruntime-web),
 * keeps the in-memory file system, inspects teachers, validates configs and runs experiments, so the tab stays
 * responsive while ONNX Runtime computes. The page talks to it only through the messages of protocol.ts.
 *
 * Files: dropped inputs live under /inputs (the config's `dir`); runs under /runs/<name>, which the library
 * persists to IndexedDB (restoreStorage('/runs')). Because /inputs is not persisted, a run started here copies
 * /inputs into /runs/<name>/inputs and records its config in /runs/<name>/webapp.json; a resume after a reload
 * copies the inputs back to /inputs and parses the recorded config the same way, so the resolved config (and
 * its input paths) is the one the run started with, as resume requires. Storing the inputs per run (not /inputs
 * itself) keeps each interrupted run resumable even after the user gives other files. When a run finishes, its
 * inputs and checkpoints are removed (only a resume needs them); its models, metrics and summary.json stay.
 */
import {
  configToYaml,
  configureWeb,
  flushStorage,
  inspectModel,
  loadSamples,
  methodRegistry,
  parseWebConfig,
  restoreStorage,
  runExperiment,
  runtime,
  webInfo,
  writeFile,
} from '../src/browser.js';
import type { EnvInfo, FromWorker, InputFile, InputSlot, InterruptedRun, MethodInfo, MetricEvent, RunFile, ToWorker } from './protocol.js';

/** The worker's global scope, typed by hand: the project type-checks web/ with the DOM lib, which has no worker scope. */
interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  addEventListener(type: 'message', fn: (e: MessageEvent<ToWorker>) => void): void;
  addEventListener(type: 'error', fn: (e: ErrorEvent) => void): void;
  addEventListener(type: 'unhandledrejection', fn: (e: PromiseRejectionEvent) => void): void;
}
const scope = self as unknown as WorkerScope;

const INPUTS = '/inputs';
const RUNS = '/runs';
/** The page's record of a run it started: what a resume after a reload needs beyond the run directory. */
const RECORD = 'webapp.json';

interface RunRecord {
  /** The config text as the page gave it (form or paste). */
  configText: string;
  /** configToYaml of it when the run started: a resume must resolve to exactly this. */
  resolvedText: string;
  startedAt: string;
  /** Set when the run stopped on an error: such a run is not offered for resume (it would stop the same way). */
  failed?: string;
}

const post = (m: FromWorker, transfer: Transferable[] = []) => scope.postMessage(m, transfer);
const storage = () => runtime().storage;
const join = (...parts: string[]) => parts.join('/').replace(/\/+/g, '/');

function errorOf(e: unknown): { message: string; code: string | null } {
  if (e instanceof Error) {
    const code = (e as Error & { code?: unknown }).code;
    return { message: e.message || e.name, code: typeof code === 'string' ? code : null };
  }
  return { message: String(e), code: null };
}

function fail(context: string, e: unknown): void {
  post({ type: 'error', context, ...errorOf(e) });
}

function env(): EnvInfo {
  const w = webInfo();
  return {
    threads: w.threads,
    crossOriginIsolated: w.crossOriginIsolated,
    providers: [...w.providers],
    hardwareConcurrency: navigator.hardwareConcurrency ?? 1,
    webgpu: 'gpu' in navigator,
  };
}

/** Every file under a folder, as paths relative to it (the storage lists one level at a time). */
function walk(dir: string, rel = ''): string[] {
  const s = storage();
  if (!s.exists(dir)) return [];
  const out: string[] = [];
  for (const name of s.list(dir)) {
    const p = join(dir, name);
    const r = rel ? `${rel}/${name}` : name;
    if (s.kind(p) === 'directory') out.push(...walk(p, r));
    else out.push(r);
  }
  return out;
}

function copyTree(from: string, to: string): void {
  for (const rel of walk(from)) writeFile(join(to, rel), storage().read(join(from, rel), 'input'));
}

const decoder = new TextDecoder();
const readText = (path: string) => decoder.decode(storage().read(path, ''));

type Config = ReturnType<typeof parseWebConfig>;

/** Every parse of config text goes through here, so a resume resolves its text exactly as the start did. */
const parse = (text: string): Config => parseWebConfig(text, { dir: INPUTS, file: 'config.yaml' });

function methods(): MethodInfo[] {
  return [...methodRegistry().values()].map((m) => {
    const d = m.options.safeParse({});
    return {
      name: m.name,
      kind: m.kind,
      description: m.description,
      defaults: d.success ? (d.data as Record<string, unknown>) : null,
    };
  });
}

/** Runs under /runs that the page started and that neither finished (summary.json) nor failed. */
function interrupted(): InterruptedRun[] {
  const s = storage();
  if (!s.exists(RUNS)) return [];
  const out: InterruptedRun[] = [];
  for (const name of s.list(RUNS)) {
    const dir = join(RUNS, name);
    if (!s.exists(join(dir, RECORD)) || s.exists(join(dir, 'summary.json'))) continue;
    const rec = JSON.parse(readText(join(dir, RECORD))) as RunRecord;
    if (rec.failed) continue;
    // Where it stopped: the last step event of metrics.jsonl; its stage's newest step checkpoint is where it resumes.
    const last = [...readHistory(dir)].reverse().find((e) => typeof e.step === 'number' && typeof e.stage === 'string' && !e.event);
    const stage = (last?.stage as string | undefined) ?? null;
    const ckDir = join(dir, 'checkpoints');
    const step = (f: string) => Number(/-step(\d+)\.ckpt$/.exec(f)?.[1] ?? -1);
    const cks = (s.exists(ckDir) ? s.list(ckDir) : []).filter((f) => stage !== null && f.startsWith(`${stage}-step`) && step(f) >= 0);
    cks.sort((a, b) => step(b) - step(a));
    out.push({
      name,
      configText: rec.configText,
      startedAt: rec.startedAt,
      stage,
      step: last ? (last.step as number) + 1 : null,
      checkpoint: cks[0] ?? null,
    });
  }
  return out;
}

async function init(): Promise<void> {
  configureWeb({});
  await restoreStorage(RUNS);
  post({ type: 'ready', env: env(), methods: methods(), interrupted: interrupted() });
}

/** Samples fetched so far: each is about 5 MB, so only the one a run names is fetched, when it starts. */
const samples = new Set<string>();
async function ensureSample(name: string): Promise<void> {
  if ((name !== 'mnist' && name !== 'fashion-mnist') || samples.has(name)) return;
  await loadSamples('./samples/', [name]);
  samples.add(name);
}

async function inspect(file: File): Promise<void> {
  const path = join(INPUTS, 'teacher.onnx');
  // A teacher that fails inspection must not leave an older one in place for the config to pick up silently.
  storage().remove(path);
  const bytes = new Uint8Array(await file.arrayBuffer());
  const info = await inspectModel(bytes, file.name);
  writeFile(path, bytes);
  post({
    type: 'inspected',
    info: {
      name: file.name,
      bytes: bytes.byteLength,
      opset: info.opset,
      producer: info.producer,
      parameters: info.parameters,
      nodes: info.nodes,
      inputs: info.inputs,
      outputs: info.outputs,
      taps: info.taps,
    },
  });
}

/** Where each slot's files go under /inputs; a new drop replaces the slot's old files. */
const SLOT_PATH: Record<InputSlot, string> = {
  teacher: 'teacher.onnx',
  student: 'student.onnx',
  images: 'images',
  csv: 'data.csv',
  jsonl: 'data.jsonl',
};

async function putInputs(slot: InputSlot, files: readonly InputFile[]): Promise<void> {
  storage().remove(join(INPUTS, SLOT_PATH[slot]));
  const classes: Record<string, number> = {};
  let bytes = 0;
  for (const f of files) {
    const data = new Uint8Array(await f.file.arrayBuffer());
    bytes += data.byteLength;
    writeFile(join(INPUTS, f.path), data);
    if (slot === 'images') {
      const cls = f.path.split('/')[1];
      classes[cls] = (classes[cls] ?? 0) + 1;
    }
  }
  post({ type: 'inputs-stored', slot, files: files.length, bytes, classes });
}

function validate(id: number, yaml: string): void {
  try {
    const cfg = parse(yaml);
    post({ type: 'validated', id, ok: true, resolved: configToYaml(cfg), name: cfg.name });
  } catch (e) {
    post({ type: 'validated', id, ok: false, message: errorOf(e).message });
  }
}

// Pause: the core awaits `pause()` between ONNX Runtime runs; while the gate is closed that promise is pending.
let gate: { promise: Promise<void>; open: () => void } | null = null;
let running = false;

function closeGate(): void {
  if (gate || !running) return;
  let open = () => {};
  const promise = new Promise<void>((r) => {
    open = r;
  });
  gate = { promise, open };
}

// The core yields a timer turn every 50 ms of training (the web runtime's yieldToEvents), so Pause messages and
// IndexedDB writes get in between ONNX Runtime runs; the pause point only has to stop there when asked.
async function pausePoint(): Promise<void> {
  if (performance.now() - lastSent >= SEND_EVERY_MS) sendEvents();
  const g = gate;
  if (!g) return;
  sendEvents();
  // The core is now between ORT runs: everything written so far reaches IndexedDB before the page says "Paused".
  await flushStorage();
  post({ type: 'paused' });
  await g.promise;
  post({ type: 'continued' });
}

// Events go in batches of at most every SEND_EVERY_MS: a run logs thousands of steps, one message each would busy the
// page. Sent from onEvent itself and from the pause point, not from a timer: timers only fire once the run yields.
const SEND_EVERY_MS = 100;
let pending: MetricEvent[] = [];
let lastSent = 0;
function sendEvents(): void {
  lastSent = performance.now();
  if (!pending.length) return;
  post({ type: 'events', events: pending });
  pending = [];
}
function onEvent(e: Record<string, unknown>): void {
  pending.push({ t: Date.now(), ...e });
  if (performance.now() - lastSent >= SEND_EVERY_MS) sendEvents();
}

function readHistory(dir: string): MetricEvent[] {
  const p = join(dir, 'metrics.jsonl');
  if (!storage().exists(p)) return [];
  const out: MetricEvent[] = [];
  for (const line of readText(p).split('\n'))
    if (line.trim())
      try {
        out.push(JSON.parse(line) as MetricEvent);
      } catch {
        // A line cut off by the interruption: the resumed run logs that step again.
      }
  return out;
}

async function execute(cfg: Config, dir: string, resume: boolean): Promise<void> {
  if (running) throw new Error('a run is already in progress in this tab; wait for it to finish (or pause it) first');
  const rec = JSON.parse(readText(join(dir, RECORD))) as RunRecord;
  running = true;
  try {
    await ensureSample(cfg.dataset.name);
  } catch (e) {
    running = false;
    throw e;
  }
  post({
    type: 'run-started',
    name: cfg.name,
    resumed: resume,
    stages: cfg.stages.map((st) => ({ name: st.name, batchSize: st.batchSize, epochs: st.epochs, trained: !st.file })),
    history: resume ? readHistory(dir) : [],
  });
  try {
    const summary = await runExperiment(cfg, {
      resume,
      log: (line: string) => post({ type: 'log', line }),
      onEvent,
      pause: pausePoint,
    });
    sendEvents();
    // Inputs and checkpoints are kept only so a reload can resume; a finished run no longer needs them, and the tab
    // restores everything under /runs into memory on each load. Its models, metrics and summary stay.
    storage().remove(join(dir, 'inputs'));
    storage().remove(join(dir, 'checkpoints'));
    await flushStorage();
    const names = new Set(['summary.json', ...summary.rows.map((r) => r.file)]);
    const files: RunFile[] = [];
    for (const name of names) {
      const p = join(dir, name);
      // A copy, because transferring would detach the storage's own buffer.
      if (storage().exists(p)) files.push({ name, bytes: storage().read(p, '').slice() });
    }
    post(
      { type: 'run-done', summary, files },
      files.map((f) => f.bytes.buffer as ArrayBuffer),
    );
  } catch (e) {
    sendEvents();
    writeFile(join(dir, RECORD), JSON.stringify({ ...rec, failed: errorOf(e).message }));
    await flushStorage().catch(() => {});
    throw e;
  } finally {
    running = false;
    gate = null;
  }
}

async function start(yaml: string): Promise<void> {
  const cfg = parse(yaml);
  const dir = cfg.outDir;
  // A fresh start replaces an earlier run of the same name, as starting `kdistill run` over it would not mix two runs' files.
  storage().remove(dir);
  copyTree(INPUTS, join(dir, 'inputs'));
  const rec: RunRecord = { configText: yaml, resolvedText: configToYaml(cfg), startedAt: new Date().toISOString() };
  writeFile(join(dir, RECORD), JSON.stringify(rec));
  await flushStorage();
  await execute(cfg, dir, false);
}

async function resumeRun(name: string): Promise<void> {
  const dir = join(RUNS, name);
  const rec = JSON.parse(readText(join(dir, RECORD))) as RunRecord;
  storage().remove(INPUTS);
  copyTree(join(dir, 'inputs'), INPUTS);
  // The text as given is parsed first; if the page's defaults changed since (threads), the resolved text still matches.
  let cfg = parse(rec.configText);
  if (configToYaml(cfg) !== rec.resolvedText) cfg = parse(rec.resolvedText);
  await execute(cfg, dir, true);
}

async function discard(name: string): Promise<void> {
  storage().remove(join(RUNS, name));
  await flushStorage();
  post({ type: 'discarded', name });
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'init':
      return init();
    case 'configure':
      configureWeb({ provider: m.provider });
      return post({ type: 'env', env: env() });
    case 'inspect':
      return inspect(m.file);
    case 'put-inputs':
      return putInputs(m.slot, m.files);
    case 'validate':
      return validate(m.id, m.yaml);
    case 'start':
      return start(m.yaml);
    case 'resume-run':
      return resumeRun(m.name);
    case 'discard-run':
      return discard(m.name);
    case 'pause':
      return closeGate();
    case 'continue': {
      const g = gate;
      gate = null;
      return g?.open();
    }
  }
}

/** Which panel heading an error of each request gets. */
const CONTEXT: Record<ToWorker['type'], string> = {
  init: 'Starting',
  configure: 'Settings',
  inspect: 'Teacher',
  'put-inputs': 'Data',
  validate: 'Config',
  start: 'Training',
  'resume-run': 'Resuming',
  'discard-run': 'Discarding',
  pause: 'Pause',
  continue: 'Resume',
};

scope.addEventListener('message', (e) => {
  handle(e.data).catch((err: unknown) => fail(CONTEXT[e.data.type] ?? 'Worker', err));
});
scope.addEventListener('error', (e) => fail('Worker', e.error ?? e.message));
scope.addEventListener('unhandledrejection', (e) => fail('Worker', e.reason));
