/**
 * The kdistill web app's page (main thread). It only wires controls, draws and talks to the worker (worker.ts),
 * which holds the library, the files and the training, so the tab stays responsive during a run.
 *
 * Stable hooks for tests (test/browser/ drives the page by these; keep them when restyling):
 *   body[data-run-state]     loading | idle | running | paused | done | error (the page's state; wait on it)
 *   #privacy-note            the "files never leave this device" line
 *   #worker-status           engine line, [data-state] starting | ready | busy | crashed
 *   #env-threads #env-isolated #env-provider   webInfo(): threads, crossOriginIsolated, the provider in use
 *   #use-webgpu              WebGPU opt-in checkbox; its label #webgpu-option is shown only where navigator.gpu exists
 *   #error-panel (role=alert, [hidden] when clear) #error-title ("<context> (<KdError code>)") #error-message
 *     #error-dismiss #worker-restart (shown after a worker crash)
 *   #resume-banner #resume-detail #resume-run ("Resume the interrupted run") #resume-discard
 * Step 1, teacher:
 *   input[name=teacher-source]: #teacher-source-zoo | #teacher-source-file
 *   #teacher-zoo-model #teacher-epochs   (a zoo teacher trained in the page first)
 *   #teacher-file (input type=file)  #teacher-drop (drop zone, [data-state] empty | loading | ready | error)
 *   #teacher-info [data-state] empty | loading | ready | error; when ready: #teacher-inputs #teacher-outputs #teacher-taps
 * Step 2, data:
 *   input[name=data-source]: #data-source-mnist | -fashion-mnist | -image-folder | -csv | -jsonl
 *   #data-folder (input webkitdirectory; setInputFiles with a folder)  #data-file (.csv / .jsonl)
 *   #data-drop (drop zone button: a folder, or a .csv / .jsonl file; picks the data kind itself)
 *   #data-info [data-state] empty | loading | ready | error
 *   #data-validation-kind (none | perClass | fraction)  #data-validation-value
 * Step 3, student and config:
 *   #student-file (input type=file, an ONNX student) #student-file-info [data-state] empty | loading | ready  #student-file-clear
 *   #student-model #run-name #epochs #batch-size #lr #seed #checkpoint-every #baseline (checkbox)
 *   #loss-terms: rows [data-testid=loss-term-<i>] holding #loss-method-<i> (select) #loss-weight-<i>
 *     #loss-temperature-<i> (its label hidden for methods without one) #loss-options-<i> #loss-remove-<i>; #loss-add
 *   #config-view (the YAML that will run)  #config-source [data-source] form | pasted | interrupted
 *   #config-status [data-state] pending | valid | invalid   #config-errors (one <p> per problem)
 *   #config-resolved (configToYaml of the parsed config)
 *   #config-paste (textarea; open its <details> #config-paste-box first) #config-apply #config-use-form
 * Train:
 *   #start #pause ([data-state] idle | running | pausing | paused; text Pause / Resume)
 *   #progress (stage, epoch, step, images/s, elapsed)  #progress-bar
 *   #chart-loss #chart-val-acc #chart-agree: figures whose svg has [data-points] (points so far) and a legend of
 *     li[data-series] ("<stage> · <term>" for losses, "<stage>" for accuracy and agreement)
 *   #results #summary-table (tbody tr[data-role]) #summary-note
 *   #download-student #download-summary (<a download> with Blob URLs, created when a run finishes)
 *   #run-log
 */
import type { RunSummary } from '../src/browser.js';
import { DATA_PATH, DEFAULT_LOSS, type DataSource, formToYaml, LossEditor, readForm } from './config-form.js';
import { $, para, resetInfo } from './dom.js';
import { droppedFiles, imageFolderInputs, InputProblem, type PickedFile, pickedFolder } from './inputs.js';
import type { EnvInfo, FromWorker, InputSlot, InterruptedRun, MetricEvent, RunFile, TeacherInfo, ToWorker } from './protocol.js';
import { appendLog, RunView, type StageInfo } from './run-view.js';
import { clearDownloads, showSummary } from './summary-view.js';
import { teacherReport } from './teacher-view.js';

type RunState = 'loading' | 'idle' | 'running' | 'paused' | 'done' | 'error';

const state = {
  run: 'loading' as RunState,
  /** Where the config that would run comes from. */
  source: 'form' as 'form' | 'pasted' | 'interrupted',
  pasted: '',
  configText: '',
  valid: false,
  validateId: 0,
  /** Start was clicked while the newest text was still being checked: start once the worker calls it valid. */
  startWhenValid: false,
  interrupted: [] as InterruptedRun[],
  teacher: null as TeacherInfo | null,
  /** Which /inputs slots hold files the user gave this session. */
  stored: new Set<InputSlot>(),
  engine: 'starting' as 'starting' | 'ready' | 'crashed',
};

// ---- the worker ---------------------------------------------------------------------------------------------

let worker: Worker;

function startWorker(): void {
  // A module worker (it imports the library bundle); build-web puts worker.js beside app.js.
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'kdistill' });
  worker.addEventListener('message', (e: MessageEvent<FromWorker>) => {
    try {
      onMessage(e.data);
    } catch (err) {
      showError('Page', err instanceof Error ? err.message : String(err));
    }
  });
  // A worker that fails to load or dies (out of memory) fires `error` here, not a message: show it, offer a restart.
  worker.addEventListener('error', (e) => {
    e.preventDefault();
    crashed(e.message || 'the worker script failed to load or stopped (see the browser console for details)');
  });
  worker.addEventListener('messageerror', () => crashed('a message from the worker could not be read'));
  state.engine = 'starting';
  send({ type: 'init' });
}

function send(m: ToWorker): void {
  worker.postMessage(m);
}

function crashed(message: string): void {
  state.engine = 'crashed';
  run.failed(message);
  showError('The engine stopped', message, true);
  // Files the worker held are gone with it: the steps must be given again.
  state.stored.clear();
  state.teacher = null;
  resetInfo('teacher-info');
  resetInfo('data-info');
}

function restartWorker(): void {
  worker.terminate();
  hideError();
  setRun('loading');
  startWorker();
}

function onMessage(m: FromWorker): void {
  switch (m.type) {
    case 'ready':
      onReady(m.env, m.methods, m.interrupted);
      break;
    case 'env':
      showEnv(m.env);
      break;
    case 'inspected':
      showTeacher(m.info);
      break;
    case 'inputs-stored':
      onStored(m.slot, m.files, m.bytes, m.classes);
      break;
    case 'validated':
      // Only the answer to the newest text counts: the user may have typed on while the worker checked an older one.
      if (m.id === state.validateId) m.ok ? configValid(m.resolved) : configInvalid(m.message);
      break;
    case 'run-started':
      run.started(m.name, m.resumed, m.stages, m.history);
      break;
    case 'events':
      run.events(m.events);
      break;
    case 'log':
      appendLog(m.line);
      break;
    case 'paused':
      setRun('paused');
      break;
    case 'continued':
      setRun('running');
      break;
    case 'run-done':
      run.done(m.summary as RunSummary, m.files);
      break;
    case 'discarded':
      state.interrupted = state.interrupted.filter((r) => r.name !== m.name);
      showResumeBanner();
      break;
    case 'error':
      onWorkerError(m.context, m.message, m.code);
      break;
  }
}

function onReady(env: EnvInfo, methods: Parameters<LossEditor['setMethods']>[0], interrupted: readonly InterruptedRun[]): void {
  state.engine = 'ready';
  showEnv(env);
  loss.setMethods(methods);
  state.interrupted = [...interrupted].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  showResumeBanner();
  setRun('idle');
  refreshConfig(true);
}

function onWorkerError(context: string, message: string, code: string | null): void {
  showError(context, message, false, code);
  if (context === 'Teacher') {
    const info = $('teacher-info');
    info.dataset.state = 'error';
    info.replaceChildren(para(message, 'error-text'));
    $('teacher-drop').dataset.state = 'error';
    $('teacher-drop-title').textContent = 'Drop a .onnx file here';
    $('teacher-drop-sub').textContent = 'or click to choose one. Its class scores must be an output named logits.';
    state.teacher = null;
    refreshConfig(true);
  } else if (context === 'Data') {
    $('data-info').dataset.state = 'error';
    $('data-info').replaceChildren(para(message, 'error-text'));
  } else if (state.run === 'running' || state.run === 'paused' || context === 'Training' || context === 'Resuming') {
    run.failed(message);
  } else if (state.run === 'loading') setRun('error');
}

// ---- header: environment, errors, resume ---------------------------------------------------------------------

/** The engine line of the header, from the engine's and the run's state. */
function showWorkerStatus(): void {
  const e = $('worker-status');
  const busy = state.run === 'running' || state.run === 'paused';
  e.dataset.state = state.engine === 'ready' && busy ? 'busy' : state.engine;
  e.textContent =
    state.engine === 'starting'
      ? 'Starting the engine…'
      : state.engine === 'crashed'
        ? 'Engine stopped'
        : state.run === 'running'
          ? 'Training'
          : state.run === 'paused'
            ? 'Paused'
            : 'Engine ready';
}

function showEnv(env: EnvInfo): void {
  const span = (id: string, text: string, title: string) => {
    const s = document.createElement('span');
    s.id = id;
    s.className = 'chip';
    s.textContent = text;
    s.title = title;
    return s;
  };
  const status = $('worker-status');
  const gpu = $('webgpu-option');
  $('env-info').replaceChildren(
    status,
    span(
      'env-threads',
      `${env.threads} thread${env.threads === 1 ? '' : 's'}`,
      `ONNX Runtime threads (this device has ${env.hardwareConcurrency} logical cores)`,
    ),
    span(
      'env-isolated',
      env.crossOriginIsolated ? 'cross-origin isolated' : 'not isolated',
      env.crossOriginIsolated
        ? 'SharedArrayBuffer is available, so ONNX Runtime can use several threads'
        : 'The server did not send COOP/COEP headers, so ONNX Runtime runs on one thread (kdistill serve sends them)',
    ),
    span('env-provider', env.providers[0] ?? 'wasm', `ONNX Runtime execution provider (offered: ${env.providers.join(', ')})`),
    gpu,
  );
  gpu.hidden = !('gpu' in navigator);
}

function showError(title: string, message: string, restart = false, code: string | null = null): void {
  $('error-title').textContent = code ? `${title} (${code})` : title;
  $('error-message').textContent = message;
  $('worker-restart').hidden = !restart;
  $('error-panel').hidden = false;
}

function hideError(): void {
  $('error-panel').hidden = true;
}

function showResumeBanner(): void {
  const r = state.interrupted[0];
  const banner = $('resume-banner');
  banner.hidden = !r || state.run === 'running' || state.run === 'paused';
  if (!r) return;
  const when = new Date(r.startedAt).toLocaleString();
  const others = state.interrupted.length - 1;
  const where = r.stage ? ` It stopped in stage ${r.stage} after ${r.step} steps.` : ' It stopped before its first training step.';
  const how = r.checkpoint
    ? ` Resuming reuses the finished stages and continues from ${r.checkpoint} with the same config, as if it had never stopped.`
    : ' Resuming reuses the finished stages and starts the interrupted one again, with the same config.';
  $('resume-detail').textContent =
    `'${r.name}', started ${when}, did not finish.${where}${how}` +
    (others > 0 ? ` (${others} older interrupted run${others > 1 ? 's' : ''} also kept.)` : '');
}

// ---- step 1: teacher -------------------------------------------------------------------------------------------

function showTeacher(t: TeacherInfo): void {
  state.teacher = t;
  $('teacher-drop').dataset.state = 'ready';
  $('teacher-drop-title').textContent = `${t.name} is the teacher`;
  $('teacher-drop-sub').textContent = 'Drop or choose another .onnx file to replace it.';
  const info = $('teacher-info');
  info.dataset.state = 'ready';
  info.replaceChildren(...teacherReport(t));
  loss.setTeacherNodes(t.taps.map((x) => x.node));
  refreshConfig(true);
}

function teacherFile(file: File): void {
  state.teacher = null;
  ($('teacher-source-file') as HTMLInputElement).checked = true;
  syncTeacherPanels();
  const info = $('teacher-info');
  info.dataset.state = 'loading';
  info.replaceChildren(para(`Reading ${file.name} (${(file.size / 1024).toFixed(1)} KiB)…`));
  $('teacher-drop').dataset.state = 'loading';
  hideError();
  send({ type: 'inspect', file });
  refreshConfig(true);
}

function syncTeacherPanels(): void {
  const file = ($('teacher-source-file') as HTMLInputElement).checked;
  $('teacher-file-panel').hidden = !file;
  $('teacher-zoo-panel').hidden = file;
}

// ---- step 2: data ------------------------------------------------------------------------------------------------

const DATA_TEXT: Record<DataSource, { title: string; sub: string; hint: string }> = {
  mnist: {
    title: '',
    sub: '',
    hint: 'Handwritten digits bundled with the page: 6,000 training and 1,000 test images, 28×28 grey. Nothing to give.',
  },
  'fashion-mnist': {
    title: '',
    sub: '',
    hint: 'Zalando’s clothing images bundled with the page: 6,000 training and 1,000 test, harder than digits. Nothing to give.',
  },
  'image-folder': {
    title: 'Drop a folder here',
    sub: 'or click to choose one: one sub-folder per class, PNG or JPEG files.',
    hint: 'Your own images, one sub-folder per class (the folder name is the class).',
  },
  csv: {
    title: 'Drop a .csv file here',
    sub: 'or click to choose one: a header row, numeric feature columns, the class in the last column.',
    hint: 'Tabular data: pick an MLP student whose widths fit it (e.g. mlp-4-16-3 for 4 features and 3 classes).',
  },
  jsonl: {
    title: 'Drop a .jsonl file here',
    sub: 'or click to choose one: one {"text": …, "label": …} object per line.',
    hint: 'Text classification: pick a text student (text-meanpool or text-conv) and a teacher file made for it.',
  },
};

const dataSource = () =>
  ((document.querySelector('input[name="data-source"]:checked') as HTMLInputElement | null)?.value ?? 'mnist') as DataSource;

/** Whether the user set the validation split; until then it follows the data (50 per class of a sample, 10% of own data). */
let validationTouched = false;

function syncDataPanels(): void {
  const d = dataSource();
  const own = DATA_PATH[d] !== null;
  if (!validationTouched) {
    // Own data may have a few dozen images per class: a fixed 50 per class would not fit, a fraction always does.
    ($('data-validation-kind') as HTMLSelectElement).value = own ? 'fraction' : 'perClass';
    ($('data-validation-value') as HTMLInputElement).value = own ? '0.1' : '50';
  }
  $('data-drop-panel').hidden = !own;
  $('data-sample-hint').textContent = DATA_TEXT[d].hint;
  if (own) {
    $('data-drop-title').textContent = DATA_TEXT[d].title;
    $('data-drop-sub').textContent = DATA_TEXT[d].sub;
    const slot = slotOf(d);
    if (!state.stored.has(slot)) resetInfo('data-info');
  }
  const v = $('data-validation-kind') as HTMLSelectElement;
  $('data-validation-value-label').hidden = v.value === 'none';
  const input = $('data-validation-value') as HTMLInputElement;
  input.step = v.value === 'fraction' ? '0.05' : '1';
}

const slotOf = (d: DataSource): InputSlot => (d === 'image-folder' ? 'images' : d === 'csv' ? 'csv' : 'jsonl');

function chooseData(d: DataSource): void {
  ($(`data-source-${d}`) as HTMLInputElement).checked = true;
  syncDataPanels();
}

function giveImages(files: readonly PickedFile[]): void {
  chooseData('image-folder');
  const info = $('data-info');
  try {
    const { inputs, skipped } = imageFolderInputs(files);
    info.dataset.state = 'loading';
    info.replaceChildren(para(`Reading ${inputs.length.toLocaleString('en')} images…`));
    if (skipped.length) info.append(para(`Skipped ${skipped.length} files that are not PNG or JPEG (e.g. ${skipped[0]}).`, 'hint'));
    state.stored.delete('images');
    send({ type: 'put-inputs', slot: 'images', files: inputs });
  } catch (e) {
    if (!(e instanceof InputProblem)) throw e;
    info.dataset.state = 'error';
    info.replaceChildren(para(e.message, 'error-text'));
    showError('Data', e.message);
  }
  refreshConfig(true);
}

function giveFile(file: File): void {
  const d: DataSource = /\.jsonl?$/i.test(file.name) ? 'jsonl' : /\.(csv|tsv|txt)$/i.test(file.name) ? 'csv' : dataSource();
  if (d !== 'csv' && d !== 'jsonl') {
    const msg = `${file.name} is a single file; give a folder for image data (one sub-folder per class), or a .csv or .jsonl file.`;
    showError('Data', msg);
    return;
  }
  chooseData(d);
  const slot = slotOf(d);
  state.stored.delete(slot);
  const info = $('data-info');
  info.dataset.state = 'loading';
  info.replaceChildren(para(`Reading ${file.name}…`));
  send({ type: 'put-inputs', slot, files: [{ path: slot === 'csv' ? 'data.csv' : 'data.jsonl', file }] });
  refreshConfig(true);
}

/**
 * An ONNX student of the user's own: stored as /inputs/student.onnx and named by the config (`student: { file }`);
 * the core imports it when the run is planned, so a file it cannot train is refused in the page before training.
 */
function studentFile(file: File): void {
  const info = $('student-file-info');
  if (!/\.onnx$/i.test(file.name)) {
    showError('Student', `${file.name} is not an .onnx file; export your model to ONNX (see docs/config.md, Bring your own student).`);
    return;
  }
  info.dataset.state = 'loading';
  info.textContent = `Reading ${file.name}…`;
  state.stored.delete('student');
  send({ type: 'put-inputs', slot: 'student', files: [{ path: 'student.onnx', file }] });
  info.dataset.name = file.name;
}

function onStored(slot: InputSlot, files: number, bytes: number, classes: Readonly<Record<string, number>>): void {
  state.stored.add(slot);
  if (slot === 'student') {
    const s = $('student-file-info');
    s.dataset.state = 'ready';
    s.textContent = `${s.dataset.name ?? 'student.onnx'} is the student (${(bytes / 1024).toFixed(1)} KiB), trained from its own weights.`;
    $('student-file-clear').hidden = false;
    // Marked rather than disabled directly, so updateButtons keeps it off after a run.
    $('student-model').dataset.disabled = 'true';
    updateButtons();
    refreshConfig(true);
    return;
  }
  const info = $('data-info');
  info.dataset.state = 'ready';
  const size = bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (slot === 'images') {
    const names = Object.keys(classes).sort();
    const list = names.map((c) => `${c} (${classes[c]})`).join(', ');
    info.replaceChildren(para(`${files.toLocaleString('en')} images in ${names.length} classes, ${size}: ${list}.`));
  } else if (slot !== 'teacher') info.replaceChildren(para(`${slot === 'csv' ? 'data.csv' : 'data.jsonl'}: ${size}, kept in this tab.`));
  refreshConfig(true);
}

// ---- step 3: config ----------------------------------------------------------------------------------------------

const loss = new LossEditor($('loss-terms'), () => refreshConfig());
let validateTimer: ReturnType<typeof setTimeout> | undefined;

/** Rebuilds the config text; `inputsChanged` when the files it names changed, so the same text needs checking again. */
function refreshConfig(inputsChanged = false): void {
  const before = state.configText;
  if (state.source === 'form') state.configText = formToYaml(readForm(loss));
  else if (state.source === 'pasted') state.configText = state.pasted;
  // A `change` event after `input` (leaving a field) repeats the text: keep its verdict, or a click on Start that
  // blurs the field would find the button disabled under it.
  if (state.configText === before && !inputsChanged && state.validateId > 0) {
    updateButtons();
    return;
  }
  $('config-view').textContent = state.configText;
  const src = $('config-source');
  src.textContent = { form: 'from the form', pasted: 'pasted', interrupted: 'the interrupted run' }[state.source];
  src.dataset.source = state.source;
  $('config-use-form').hidden = state.source === 'form';
  $('config-form').classList.toggle('muted', state.source !== 'form');
  state.valid = false;
  setConfigStatus('pending', 'checking…');
  updateButtons();
  clearTimeout(validateTimer);
  // Typing fires many events; the worker checks the text once the user pauses.
  validateTimer = setTimeout(() => {
    if (state.run === 'loading') return;
    state.validateId++;
    send({ type: 'validate', id: state.validateId, yaml: state.configText });
  }, 250);
}

function setConfigStatus(s: 'pending' | 'valid' | 'invalid', text: string): void {
  const e = $('config-status');
  e.dataset.state = s;
  e.textContent = text;
}

/** Why a valid config cannot start yet (an input the page is still reading), or null. */
function notReady(): string | null {
  const d = dataSource();
  if (state.source === 'form' && DATA_PATH[d] && !state.stored.has(slotOf(d))) return 'give the data in step 2';
  if (state.source === 'form' && ($('teacher-source-file') as HTMLInputElement).checked && !state.teacher)
    return 'give a teacher file in step 1';
  return null;
}

function configValid(resolved: string): void {
  state.valid = true;
  const wait = notReady();
  setConfigStatus('valid', wait ? `valid config; ${wait}` : 'valid config');
  $('config-errors').hidden = true;
  $('config-resolved').textContent = resolved;
  updateButtons();
  if (state.startWhenValid) {
    state.startWhenValid = false;
    startRun();
  }
}

function configInvalid(message: string): void {
  state.valid = false;
  state.startWhenValid = false;
  const wait = notReady();
  setConfigStatus('invalid', wait ? `not ready: ${wait}` : 'the config has problems');
  const box = $('config-errors');
  // Missing inputs are expected until the user gives them: the status says what to do, without a wall of red.
  box.hidden = !!wait;
  box.replaceChildren(...message.split('\n').map((l) => para(l)));
  updateButtons();
}

function applyPasted(): void {
  const text = ($('config-paste') as HTMLTextAreaElement).value;
  if (!text.trim()) {
    showError('Config', 'the paste box is empty: paste a YAML config (the same as kdistill run takes), then press “Use this config”.');
    return;
  }
  state.pasted = text;
  state.source = 'pasted';
  refreshConfig(true);
}

// ---- training ---------------------------------------------------------------------------------------------------

const view = new RunView(() => state.run === 'paused');

/** A run's life as the page sees it; the view draws, this keeps the page's state and buttons in step. */
const run = {
  begin(text: string): void {
    clearDownloads();
    $('results').hidden = true;
    hideError();
    setRun('running');
    view.begin(text);
  },

  started(name: string, resumed: boolean, stages: readonly StageInfo[], history: readonly MetricEvent[]): void {
    view.started(name, resumed, stages, history);
  },

  events(events: readonly MetricEvent[]): void {
    view.events(events);
  },

  done(summary: RunSummary, files: readonly RunFile[]): void {
    setRun('done');
    view.end(`Done: ${summary.name} in ${summary.seconds} s. The models are in the table below.`, true);
    showSummary(summary, files);
    state.interrupted = state.interrupted.filter((r) => r.name !== summary.name);
    if (state.source === 'interrupted') {
      state.source = 'form';
      refreshConfig(true);
    }
  },

  failed(message: string): void {
    setRun('error');
    view.end(`Stopped: ${message.split('\n')[0]}`, false);
  },
};

function setRun(s: RunState): void {
  state.run = s;
  document.body.dataset.runState = s;
  const pause = $('pause');
  pause.dataset.state = s === 'running' ? 'running' : s === 'paused' ? 'paused' : 'idle';
  pause.textContent = s === 'paused' ? 'Resume' : 'Pause';
  showWorkerStatus();
  showResumeBanner();
  updateButtons();
}

function updateButtons(): void {
  const busy = state.run === 'running' || state.run === 'paused' || state.run === 'loading' || state.engine !== 'ready';
  const start = $('start') as HTMLButtonElement;
  const wait = notReady();
  // A config still being checked keeps Start enabled: a click that blurred the field just edited must not be lost.
  const pending = $('config-status').dataset.state === 'pending';
  start.disabled = busy || (!state.valid && !pending) || !!wait;
  start.title = busy ? 'A run is in progress' : wait ? `First ${wait}` : state.valid ? '' : 'The config has problems (see Config)';
  start.textContent = state.run === 'done' ? 'Train again' : 'Start training';
  const pause = $('pause') as HTMLButtonElement;
  pause.disabled = !(state.run === 'running' || state.run === 'paused') || pause.dataset.state === 'pausing';
  for (const id of ['resume-run', 'resume-discard']) ($(id) as HTMLButtonElement).disabled = busy;
  for (const id of ['step-teacher', 'step-data', 'step-student'])
    for (const c of $(id).querySelectorAll<HTMLInputElement | HTMLButtonElement | HTMLSelectElement | HTMLTextAreaElement>(
      'input, button, select, textarea',
    ))
      c.disabled = busy || c.dataset.disabled === 'true';
  ($('use-webgpu') as HTMLInputElement).disabled = busy;
}

function startRun(): void {
  if (!state.valid) {
    if ($('config-status').dataset.state === 'pending') state.startWhenValid = true;
    return;
  }
  run.begin('Starting…');
  send({ type: 'start', yaml: state.configText });
}

function resumeRun(): void {
  const r = state.interrupted[0];
  if (!r) return;
  state.source = 'interrupted';
  state.configText = r.configText;
  $('config-view').textContent = r.configText;
  $('config-source').textContent = 'the interrupted run';
  // The worker puts the run's own inputs back under /inputs, replacing any given since the reload: give them again later.
  state.stored.clear();
  state.teacher = null;
  resetInfo('teacher-info');
  resetInfo('data-info');
  run.begin(`Resuming ${r.name}…`);
  send({ type: 'resume-run', name: r.name });
  state.interrupted = state.interrupted.filter((x) => x !== r);
  showResumeBanner();
}

function togglePause(): void {
  const pause = $('pause') as HTMLButtonElement;
  if (state.run === 'running') {
    // The core stops at its next pause point (between ONNX Runtime runs); "Paused" comes when it has.
    pause.dataset.state = 'pausing';
    pause.textContent = 'Pausing…';
    pause.disabled = true;
    send({ type: 'pause' });
  } else if (state.run === 'paused') send({ type: 'continue' });
}

// ---- drag and drop ---------------------------------------------------------------------------------------------

function dropZone(zone: HTMLElement, onDrop: (dt: DataTransfer) => void): void {
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if ((zone as HTMLButtonElement).disabled || !e.dataTransfer) return;
    onDrop(e.dataTransfer);
  });
}

function wire(): void {
  $('error-dismiss').addEventListener('click', hideError);
  $('worker-restart').addEventListener('click', restartWorker);
  $('resume-run').addEventListener('click', resumeRun);
  $('resume-discard').addEventListener('click', () => {
    const r = state.interrupted[0];
    if (r) send({ type: 'discard-run', name: r.name });
  });
  $('use-webgpu').addEventListener('change', (e) => {
    const box = e.target as HTMLInputElement;
    if (!box.checked) return send({ type: 'configure', provider: 'wasm' });
    // navigator.gpu can exist without a usable GPU (headless, blocklisted drivers): ask for an adapter first, so the
    // choice fails here with a plain message rather than later inside ONNX Runtime.
    const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    (gpu ? gpu.requestAdapter() : Promise.resolve(null))
      .catch(() => null)
      .then((adapter) => {
        if (adapter) return send({ type: 'configure', provider: 'webgpu' });
        box.checked = false;
        showError('WebGPU', 'this browser offers WebGPU but no GPU adapter (no GPU, or it is disabled); training stays on wasm.');
      });
  });

  for (const r of document.querySelectorAll('input[name="teacher-source"]'))
    r.addEventListener('change', () => {
      syncTeacherPanels();
      refreshConfig();
    });
  const sf = $('student-file') as HTMLInputElement;
  sf.addEventListener('change', () => {
    if (sf.files?.[0]) studentFile(sf.files[0]);
    sf.value = '';
  });
  $('student-file-clear').addEventListener('click', () => {
    const info = $('student-file-info');
    info.dataset.state = 'empty';
    info.textContent = '';
    $('student-file-clear').hidden = true;
    delete $('student-model').dataset.disabled;
    updateButtons();
    state.stored.delete('student');
    refreshConfig(true);
  });
  const tf = $('teacher-file') as HTMLInputElement;
  tf.addEventListener('change', () => {
    if (tf.files?.[0]) teacherFile(tf.files[0]);
    tf.value = ''; // so choosing the same file again (after fixing it) fires `change` again
  });
  dropZone($('teacher-drop'), (dt) => {
    const f = dt.files[0];
    if (f) teacherFile(f);
  });

  for (const r of document.querySelectorAll('input[name="data-source"]'))
    r.addEventListener('change', () => {
      syncDataPanels();
      refreshConfig();
    });
  const folder = $('data-folder') as HTMLInputElement;
  folder.addEventListener('change', () => {
    if (folder.files?.length) giveImages(pickedFolder(folder.files));
    folder.value = '';
  });
  const file = $('data-file') as HTMLInputElement;
  file.addEventListener('change', () => {
    if (file.files?.[0]) giveFile(file.files[0]);
    file.value = '';
  });
  const zone = $('data-drop');
  const pick = () => (dataSource() === 'image-folder' ? folder : file).click();
  zone.addEventListener('click', pick);
  dropZone(zone, (dt) => {
    droppedFiles(dt)
      .then(({ files, folder: isFolder }) => {
        if (isFolder || files.length > 1) giveImages(files);
        else if (files[0]) giveFile(files[0].file);
      })
      .catch((e: unknown) => showError('Data', `the dropped files could not be read: ${e instanceof Error ? e.message : String(e)}`));
  });

  // Every other control of the form changes the config text.
  for (const id of ['step-teacher', 'step-data', 'config-form']) {
    $(id).addEventListener('input', () => refreshConfig());
    $(id).addEventListener('change', (e) => {
      const id = (e.target as HTMLElement).id;
      if (id === 'data-validation-kind' || id === 'data-validation-value') validationTouched = true;
      if (id === 'data-validation-kind') syncDataPanels();
      refreshConfig();
    });
  }
  $('config-form').addEventListener('submit', (e) => e.preventDefault());
  $('loss-add').addEventListener('click', () => loss.add());
  $('config-apply').addEventListener('click', applyPasted);
  $('config-use-form').addEventListener('click', () => {
    state.source = 'form';
    refreshConfig();
  });
  $('start').addEventListener('click', startRun);
  $('pause').addEventListener('click', togglePause);
}

loss.render(DEFAULT_LOSS);
wire();
syncTeacherPanels();
syncDataPanels();
setRun('loading');
refreshConfig();
startWorker();
