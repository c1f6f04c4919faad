// Every example of examples/methods/ runs in Chromium as in Node: the same config (cut to a few hundred images of the
// MNIST sample, one epoch, one thread) gives, in every stage, the same loss terms at the first step (the method's
// forward computation) and at the second (so the first update, gradients included, was the same): to 1e-4 in the
// run's first stage, to 1e-2 in later ones. Later stages start from models trained in the same run, and the two ONNX
// Runtime builds sum in different orders: a ResNet teacher's ten steps turn a 1e-5 difference of a gradient norm into
// 5e-4 in the FSP term (fsp.yaml), and AB's pre-training, whose loss switches on the sign of each teacher activation,
// into 2e-3 (ab.yaml). Later steps are not compared at all. This is what "every method
// that runs in Node runs here" means: feature taps by node name, sample indices (CRD), partner batches, pre-training
// phases and two-stage pipelines all go through the browser runtime.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../src/config/node/index.js';
import { registerBundledDataset } from '../../src/data/bundled.js';
import { unpackDataset } from '../../src/data/pack.js';
import { configRegistry } from '../../src/frontends/config-registry.js';
import { runExperiment, type RunSummary } from '../../src/frontends/run-config.js';
import { browserEnv, closeBrowserEnv, requireBuiltWeb, WEB_ROOT, withPageErrors } from './helpers/browser.js';

const EXAMPLES = new URL('../../examples/methods/', import.meta.url);

/** An example made small: 10 images per class, a 10-per-class validation split, one epoch everywhere, one thread. */
function small(text: string): string {
  const c = parse(text) as Record<string, unknown>;
  c.threads = 1;
  c.epochs = 1;
  c.batchSize = 32;
  c.baseline = false;
  c.dataset = { ...(c.dataset as object), name: 'mnist', trainPerClass: 10, validation: { perClass: 10 } };
  delete (c.dataset as Record<string, unknown>).augment;
  const teacher = c.teacher as { train?: Record<string, unknown> } | undefined;
  if (teacher?.train) teacher.train = { ...teacher.train, epochs: 1 };
  for (const st of (c.stages as { train?: Record<string, unknown> }[] | undefined) ?? [])
    if (st.train) st.train = { ...st.train, epochs: 1 };
  return stringify(c);
}

/** Step `k`'s scalars of each stage (pre-training phases included, under their own key), from a run's metrics log. */
function stepOf(metrics: readonly Record<string, unknown>[], k: number): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const m of metrics)
    if (m.step === k && m.event === undefined) out.set(`${String(m.stage)}${m.phase ? ` (${String(m.phase)})` : ''}`, m);
  return out;
}

/** Logged scalars that are loss terms or metrics of the batch (not bookkeeping; the gradient norm is compared apart). */
const TERMS = (m: Record<string, unknown>) =>
  Object.keys(m).filter((x) => typeof m[x] === 'number' && !['t', 'step', 'lr', 'grad_norm'].includes(x));

const examples = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));

describe('examples/methods in Chromium', () => {
  before(() => {
    requireBuiltWeb(['bench.html', 'kdistill.js', 'samples/mnist-train.kds']);
    // Node reads the page's own sample files, so both sides train on the same images.
    registerBundledDataset('mnist', (split) =>
      unpackDataset(new Uint8Array(readFileSync(join(WEB_ROOT, 'samples', `mnist-${split}.kds`))), `mnist-${split}.kds`),
    );
  });
  after(closeBrowserEnv);

  it(`all ${examples.length} give the loss terms of Node at their first two steps`, async () => {
    const env = await browserEnv();
    const tp = await env.newPage(`bench.html?threads=1`);
    await tp.page.waitForFunction(() => (window as { kdBenchReady?: unknown }).kdBenchReady !== undefined);
    await tp.page.evaluate(async (url) => {
      const k = await import(url);
      await k.loadSamples('./samples/', ['mnist']);
      (window as unknown as { kd: unknown }).kd = k;
    }, `${env.origin}/kdistill.js`);
    const dir = mkdtempSync(join(tmpdir(), 'kd-methods-'));
    const failures: string[] = [];
    for (const file of examples) {
      const yaml = small(readFileSync(new URL(file, EXAMPLES), 'utf8'));
      const cfg = parseConfig(yaml, join(dir, file), configRegistry(), { cwd: dir });
      const node = await runExperiment(cfg);
      const nodeMetrics = readFileSync(join(cfg.outDir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const web = await withPageErrors(tp, () =>
        tp.page.evaluate(async (text) => {
          type Lib = typeof import('../../src/browser.js');
          const k = (window as unknown as { kd: Lib }).kd;
          const c = k.parseWebConfig(text);
          const summary = await k.runExperiment(c);
          const log = new TextDecoder().decode(k.webStorage.read(`${c.outDir}/metrics.jsonl`, 'metrics'));
          return {
            summary,
            metrics: log
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l) as Record<string, unknown>),
          };
        }, yaml),
      ).catch((e: unknown) => ({ error: String(e) }));
      if ('error' in web) {
        failures.push(`${file}: fails in the browser: ${web.error.split('\n')[0]}`);
        continue;
      }
      const s: RunSummary = web.summary;
      if (s.rows.map((r) => r.role).join() !== node.rows.map((r) => r.role).join() || s.rows.some((r) => !Number.isFinite(r.testLoss)))
        failures.push(`${file}: rows ${s.rows.map((r) => `${r.role} ${r.testLoss}`).join(', ')} in the browser`);
      const first = String(nodeMetrics.find((m) => typeof m.step === 'number')?.stage);
      for (const [k, rel] of [
        [0, 1e-4],
        [1, 1e-3],
      ] as const) {
        const wk = stepOf(web.metrics, k);
        for (const [stage, m] of stepOf(nodeMetrics, k)) {
          const later = m.stage !== first;
          const b = wk.get(stage);
          const keys = k === 0 ? [...TERMS(m), 'grad_norm'] : TERMS(m).filter((x) => x !== 'acc' && x !== 'agree');
          for (const key of keys.filter((x) => typeof m[x] === 'number')) {
            const a = m[key] as number,
              v = b?.[key] as number | undefined;
            // The gradient norm sums squares over every parameter: its last digits differ between the builds.
            const tol = (later ? 1e-2 : key === 'grad_norm' ? 1e-3 : rel) * Math.max(1, Math.abs(a));
            if (v === undefined || Math.abs(a - v) > tol)
              failures.push(`${file}: ${stage} ${key} at step ${k} is ${v} in the browser, ${a} in Node`);
          }
        }
      }
    }
    assert.deepEqual(failures, []);
    env.assertOnlyOwnRequests(tp);
  });
});
