// The library in a real browser, driven directly (no app): the same config gives the same result in Chromium
// (onnxruntime-web, one thread) as in Node (onnxruntime-node, one thread), and a run cut off by a reload resumes, from
// what IndexedDB kept, to exactly the result of the uninterrupted run.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configRegistry } from '../../src/cli/run.js';
import { parseConfig } from '../../src/config/node/index.js';
import { runExperiment, type RunSummary } from '../../src/frontends/run-config.js';
import { browserEnv, closeBrowserEnv, requireBuiltWeb, type TrackedPage, withPageErrors } from './helpers/browser.js';
import { mnistImageFiles, writeFiles } from './helpers/data.js';

// Small enough for two cores (4 digits × 20 images, 3 epochs of batch 16), big enough that a step checkpoint falls
// between ORT runs of the distilled stage (checkpointEvery 4; ORT runs take up to 8 steps).
const CONFIG = `name: parity
seed: 5
threads: 1
dataset: { name: image-folder, path: images, validation: { perClass: 2 } }
teacher: { model: cnn-4-8, train: { epochs: 3, optimizer: { name: adam, lr: 0.01 } } }
student: { model: mlp-784-16-4 }
loss:
  - { method: ce, weight: 0.5 }
  - { method: kd, weight: 0.5, options: { temperature: 4 } }
epochs: 3
batchSize: 16
baseline: false
checkpointEvery: 4
`;

/** What a run leaves that the comparison needs: its summary and its metrics log. */
interface RunResult {
  summary: RunSummary;
  metrics: Record<string, unknown>[];
}

type Lib = typeof import('../../src/browser.js');
/** Page-side state of a run started by `startInPage`. */
interface PageState {
  kdLib?: Lib;
  kdSteps?: number;
  kdRun?: Promise<RunResult>;
}

const files = mnistImageFiles([0, 1, 2, 3], 20);
const filesB64 = [...files].map(([path, bytes]) => [path, Buffer.from(bytes).toString('base64')] as const);

/** Opens the library's host page (the bench page: one thread, nothing else running) and loads the library in it. */
async function libraryPage(t?: TrackedPage): Promise<TrackedPage> {
  const env = await browserEnv();
  const tp = t ?? (await env.newPage());
  await tp.page.goto(`${env.origin}/bench.html?threads=1`);
  await tp.page.waitForFunction(() => (window as { kdBenchReady?: unknown }).kdBenchReady !== undefined);
  await tp.page.evaluate(async (url) => {
    (window as PageState).kdLib = (await import(url)) as Lib;
  }, `${env.origin}/kdistill.js`);
  return tp;
}

/**
 * Writes the image folder into the page's /inputs and starts the config there (not awaited: `kdRun` holds it).
 * `stopAfter`: the run's pause hook never returns once the distilled stage has done that many steps, which freezes
 * the run mid-stage for a reload as surely as a user's timing could.
 */
async function startInPage(tp: TrackedPage, opts: { resume?: boolean; stopAfter?: number } = {}): Promise<void> {
  await tp.page.evaluate(
    async ({ yaml, files, resume, stopAfter }) => {
      const w = window as PageState;
      const k = w.kdLib!;
      // As the app does: what IndexedDB holds comes back first, and from then on every write under /runs goes to it.
      await k.restoreStorage('/runs');
      for (const [path, b64] of files)
        k.writeFile(
          `/inputs/images/${path}`,
          Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)),
        );
      const cfg = k.parseWebConfig(yaml, { dir: '/inputs' });
      w.kdSteps = 0;
      const events: Record<string, unknown>[] = [];
      w.kdRun = k
        .runExperiment(cfg, {
          resume,
          onEvent: (e: Record<string, unknown>) => {
            events.push(e);
            if (e.stage === 'distilled' && typeof e.step === 'number') w.kdSteps = e.step;
          },
          pause: () => (stopAfter !== undefined && (w.kdSteps ?? 0) >= stopAfter ? new Promise<void>(() => {}) : Promise.resolve()),
        })
        .then((summary: RunSummary) => {
          const text = new TextDecoder().decode(k.webStorage.read(`${cfg.outDir}/metrics.jsonl`, 'metrics'));
          return {
            summary,
            metrics: text
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l)),
          };
        });
      // Surfaces a failure at once instead of when the test awaits the result.
      w.kdRun.catch(() => {});
    },
    { yaml: CONFIG, files: filesB64, resume: opts.resume ?? false, stopAfter: opts.stopAfter },
  );
}

const resultOf = (tp: TrackedPage) => tp.page.evaluate(() => (window as PageState).kdRun!);

/** The last logged step of each stage (its losses) and each stage's epoch events, for comparing two runs. */
function trajectory(metrics: Record<string, unknown>[]) {
  const lastStep = new Map<string, Record<string, unknown>>();
  const epochs = new Map<string, Record<string, unknown>[]>();
  for (const m of metrics) {
    const stage = String(m.stage);
    if (m.event === 'epoch') epochs.set(stage, [...(epochs.get(stage) ?? []), m]);
    else if (typeof m.step === 'number' && typeof m.loss === 'number' && m.phase === undefined) lastStep.set(stage, m);
  }
  return { lastStep, epochs };
}

/**
 * Asserts two numbers agree to `rel` (relative) or `abs` (absolute), saying which quantity differs. The two builds of
 * ONNX Runtime (wasm, x86 native) sum in different orders: after a few dozen steps they differ by about 1e-6.
 */
function close(a: unknown, b: unknown, what: string, rel = 1e-4, abs = 1e-6): void {
  assert.equal(typeof a, 'number', `${what}: ${a}`);
  assert.equal(typeof b, 'number', `${what}: ${b}`);
  const d = Math.abs((a as number) - (b as number));
  assert.ok(d <= abs || d <= rel * Math.max(Math.abs(a as number), Math.abs(b as number)), `${what}: browser ${a}, node ${b}`);
}

let browserRun: RunResult | undefined;

describe('the library in Chromium', () => {
  before(() => requireBuiltWeb(['bench.html', 'bench.js', 'kdistill.js']));
  after(closeBrowserEnv);

  it('the same config gives the same result as in Node (same seed, one thread)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-parity-'));
    writeFiles(join(dir, 'images'), files);
    writeFileSync(join(dir, 'parity.yaml'), CONFIG);
    const cfg = parseConfig(CONFIG, join(dir, 'parity.yaml'), configRegistry(), { cwd: dir });
    const nodeSummary = await runExperiment(cfg);
    const nodeMetrics = readFileSync(join(cfg.outDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

    const tp = await libraryPage();
    browserRun = await withPageErrors(tp, async () => {
      await startInPage(tp);
      return resultOf(tp);
    });
    const b = browserRun.summary;
    const n = nodeSummary;
    // The same files, the same seed: the same splits, to the sample.
    assert.deepEqual([b.trainSamples, b.validationSamples, b.testSamples], [n.trainSamples, n.validationSamples, n.testSamples]);
    assert.deepEqual(
      b.rows.map((r) => [r.role, r.model, r.parameters]),
      n.rows.map((r) => [r.role, r.model, r.parameters]),
    );
    for (const [i, r] of b.rows.entries()) {
      const m = n.rows[i];
      // Accuracy counts whole samples: float differences of the two builds may flip at most one borderline sample.
      assert.ok(
        Math.abs(r.testAccuracy - m.testAccuracy) <= 1 / n.testSamples + 1e-9,
        `${r.role} accuracy ${r.testAccuracy} vs ${m.testAccuracy}`,
      );
      close(r.testLoss, m.testLoss, `${r.role} test loss`);
    }
    const bt = trajectory(browserRun.metrics);
    const nt = trajectory(nodeMetrics);
    assert.deepEqual([...bt.lastStep.keys()].sort(), ['distilled', 'teacher']);
    for (const [stage, s] of nt.lastStep) {
      const bs = bt.lastStep.get(stage)!;
      assert.equal(bs.step, s.step, `${stage}: number of steps`);
      // Every logged quantity except the bookkeeping (step, time, learning rate) must agree.
      for (const key of Object.keys(s).filter((k) => typeof s[k] === 'number' && !['step', 't', 'lr'].includes(k)))
        close(bs[key], s[key], `${stage} step ${s.step} ${key}`);
    }
    for (const [stage, es] of nt.epochs) {
      const be = bt.epochs.get(stage) ?? [];
      assert.equal(be.length, es.length, `${stage}: epochs`);
      es.forEach((e, i) => close(be[i].valLoss, e.valLoss, `${stage} epoch ${e.epoch} validation loss`));
    }
    (await browserEnv()).assertOnlyOwnRequests(tp);
  });

  it('a run reloaded mid-stage resumes from IndexedDB to the uninterrupted result', async () => {
    assert.ok(browserRun, 'needs the uninterrupted browser run of the previous test');
    const tp = await libraryPage();
    await withPageErrors(tp, async () => {
      await startInPage(tp, { stopAfter: 9 });
      await tp.page.waitForFunction(() => ((window as PageState).kdSteps ?? 0) >= 9);
      // The run is frozen between ORT runs; give IndexedDB the checkpoint written so far, as time would, then reload.
      await tp.page.evaluate(() => (window as PageState).kdLib!.flushStorage());
      await tp.page.reload();
      await libraryPage(tp);
      await startInPage(tp, { resume: true });
      const resumed = await resultOf(tp);
      // It really resumed from a step checkpoint of the distilled stage, not from the start.
      const note = resumed.metrics.find((m) => m.event === 'resumed' && m.stage === 'distilled');
      assert.ok(note, `no 'resumed' event for the distilled stage: ${JSON.stringify(resumed.metrics.filter((m) => m.event))}`);
      assert.ok((note.step as number) > 0 && (note.step as number) <= 9, `resumed at step ${note.step}`);
      // One engine, one thread: the resumed run equals the uninterrupted one exactly.
      assert.deepEqual(
        resumed.summary.rows.map((r) => [r.role, r.testAccuracy, r.testLoss, r.agreement]),
        browserRun!.summary.rows.map((r) => [r.role, r.testAccuracy, r.testLoss, r.agreement]),
      );
      const a = trajectory(resumed.metrics).lastStep.get('distilled')!;
      const b = trajectory(browserRun!.metrics).lastStep.get('distilled')!;
      assert.equal(a.loss, b.loss);
      assert.equal(a.step, b.step);
    });
    (await browserEnv()).assertOnlyOwnRequests(tp);
  });
});
