/**
 * The browser half of `kdistill bench --browser` (web/bench.html): the KD step of the reference pairs, timed by
 * onnxruntime-web in this tab. The CLI loads the page once per thread count (`?threads=N`: ORT-web fixes its thread
 * pool when it first starts, so a count cannot change within a page) and calls `window.kdBench`; a person can press
 * Run instead and read the table.
 */
import { benchKdStep, configureWeb, webInfo } from '../src/browser.js';

/** What a run of one pair returns (the same fields as Node's `benchKdStep`). */
type KdStepResult = Awaited<ReturnType<typeof benchKdStep>>;

/** What the page tells its driver once the library is ready. */
interface BenchPageInfo {
  threads: number;
  crossOriginIsolated: boolean;
  providers: readonly string[];
  hardwareConcurrency: number;
}

declare global {
  interface Window {
    /** Set once the page is ready to bench, or to the error that kept it from being ready. */
    kdBenchReady?: { ok: true; info: BenchPageInfo } | { ok: false; message: string };
    kdBench?: (pair: 'mlp' | 'cnn', steps: number, batch: number) => Promise<KdStepResult>;
  }
}

const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = el<HTMLParagraphElement>('status');

function fail(message: string): void {
  status.textContent = message;
  status.setAttribute('role', 'alert');
}

try {
  const given = new URLSearchParams(location.search).get('threads') ?? '1';
  const asked = Number(given);
  if (!Number.isInteger(asked) || asked < 1) throw new Error(`?threads= must be a positive integer, got '${given}'`);
  // Threads need SharedArrayBuffer, which a browser gives only to a cross-origin isolated page: refuse rather than
  // silently time one thread under the label of two.
  if (asked > 1 && !globalThis.crossOriginIsolated)
    throw new Error(`?threads=${asked} needs a cross-origin isolated page (COOP/COEP headers, as \`kdistill serve\` sends)`);
  configureWeb({ threads: asked });
  const w = webInfo();
  const info: BenchPageInfo = {
    threads: w.threads,
    crossOriginIsolated: w.crossOriginIsolated,
    providers: w.providers,
    hardwareConcurrency: navigator.hardwareConcurrency,
  };
  el('info').textContent =
    `onnxruntime-web, ${info.threads} thread(s); cross-origin isolated: ${info.crossOriginIsolated ? 'yes' : 'no'}; ` +
    `${info.hardwareConcurrency} logical cores.`;
  window.kdBench = (pair, steps, batch) => benchKdStep(pair, info.threads, steps, batch, 'sequential');
  window.kdBenchReady = { ok: true, info };
  const run = el<HTMLButtonElement>('run');
  run.disabled = false;
  run.addEventListener('click', async () => {
    run.disabled = true;
    const body = el<HTMLTableElement>('results').tBodies[0];
    el<HTMLTableElement>('results').hidden = false;
    const steps = Math.max(8, Number(el<HTMLInputElement>('steps').value) || 64);
    try {
      for (const pair of ['mlp', 'cnn'] as const) {
        status.textContent = `running ${pair}…`;
        const r = await benchKdStep(pair, info.threads, steps, 128, 'sequential');
        const row = body.insertRow();
        for (const v of [pair, r.threads, r.imgPerSec, r.stepMsMedian, r.teacherFwdMs, r.studentStepMs])
          row.insertCell().textContent = String(v);
      }
      status.textContent = 'done';
    } catch (e) {
      fail(`the benchmark failed: ${(e as Error).message}`);
    } finally {
      run.disabled = false;
    }
  });
} catch (e) {
  const message = (e as Error).message;
  window.kdBenchReady = { ok: false, message };
  fail(message);
}
