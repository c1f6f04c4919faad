// Resident memory of a browser tab over a distillation run (not CI; ~3 min on 2 cores): does the tab's memory stay
// flat across epochs, and does a second, third, ... run in the same tab give its memory back (sessions released,
// storage of earlier runs removed)? The library runs in headless Chromium on the page's MNIST sample: a CNN teacher
// (conv 8-16, 1 epoch) then a CNN student (conv 4-8) distilled (0.5·CE + 0.5·KD at T = 4) for `epochs` epochs, one
// thread. After every epoch the memory of the script's Chromium processes (their summed PSS: the renderer holds the
// wasm heap) and the page's JS heap (performance.memory, after a forced collection) are sampled; then
// `runs` shorter runs follow in the same tab, each removed from storage afterwards, sampled after each.
// Usage: npx tsx bench/browser-memory.ts [trainPerClass=300] [epochs=10] [runs=5]   (needs `npm run build`)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS } from '../src/cli/bench-browser.js';
import { defaultWebRoot, startStaticServer } from '../src/cli/serve.js';

const perClass = Number(process.argv[2] ?? 300),
  epochs = Number(process.argv[3] ?? 10),
  runs = Number(process.argv[4] ?? 5);

/** This script's Chromium: the processes descended from this one (the browser, its GPU, network and renderer processes). */
function chromiumPids(): string[] {
  const out: string[] = [];
  const todo = [String(process.pid)];
  while (todo.length) {
    let kids: string[] = [];
    try {
      kids = execFileSync('pgrep', ['-P', todo.pop()!], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
    } catch {
      // pgrep exits 1 for a process without children.
    }
    out.push(...kids);
    todo.push(...kids);
  }
  return out;
}

/**
 * Memory of this script's Chromium in MiB: the sum of each process's proportional set size (PSS, /proc/<pid>/smaps_rollup),
 * which shares pages mapped by several processes (the Chromium library) among them instead of counting them in each.
 */
function chromiumRss(): number {
  let kib = 0;
  for (const pid of chromiumPids()) {
    try {
      kib += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // A process that ended between pgrep and the read holds nothing any more.
    }
  }
  return kib / 1024;
}

const config = (name: string, studentEpochs: number) => `name: ${name}
seed: 0
threads: 1
dataset: { name: mnist, trainPerClass: ${perClass}, validation: { perClass: 50 } }
teacher: { model: cnn-8-16, train: { epochs: 1 } }
student: { model: cnn-4-8 }
loss: [ { method: ce, weight: 0.5 }, { method: kd, weight: 0.5, options: { temperature: 4 } } ]
epochs: ${studentEpochs}
batchSize: 64
baseline: false
`;

const server = await startStaticServer({ root: defaultWebRoot(), port: 0, host: '127.0.0.1' });
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [...CHROMIUM_ARGS, '--enable-precise-memory-info', '--js-flags=--expose-gc'],
});
const page = await browser.newPage();
// tsx keeps function names by wrapping functions in `__name(...)`; functions sent to the page carry those calls.
await page.addInitScript('globalThis.__name ??= (f) => f;');
await page.goto(`${server.url}bench.html?threads=1&idle=1`);
await page.waitForFunction(() => (window as { kdBenchReady?: unknown }).kdBenchReady !== undefined);
await page.evaluate(async (url) => {
  const w = window as unknown as Record<string, unknown>;
  const k = await import(url);
  await k.loadSamples('./samples/', ['mnist']);
  w.kd = k;
  w.epochsDone = 0;
}, `${server.url}kdistill.js`);

const heap = () =>
  page.evaluate(() => {
    (globalThis as { gc?: () => void }).gc?.();
    return ((performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0) / (1024 * 1024);
  });
const rows: { point: string; rss: number; heap: number; note?: string }[] = [];
rows.push({ point: 'samples loaded', rss: chromiumRss(), heap: await heap() });
const t0 = Date.now();

// The run goes on in the page; this side samples at every distilled epoch the page reports.
await page.evaluate(
  (text) => {
    const w = window as unknown as Record<string, unknown> & { kd: typeof import('../src/browser.js') };
    w.run = w.kd.runExperiment(w.kd.parseWebConfig(text), {
      onEvent: (e: Record<string, unknown>) => {
        if (e.event === 'epoch' && e.stage === 'distilled') {
          w.epochsDone = e.epoch;
          w.lastAcc = e.valAccuracy;
        }
      },
      // Holds the run after each epoch until this side has sampled it.
      pause: () =>
        new Promise<void>((r) => {
          if ((w.epochsDone as number) > ((w.sampled as number) ?? 0)) w.release = r;
          else r();
        }),
    });
  },
  config('long', epochs),
);
for (let e = 1; e <= epochs; e++) {
  await page.waitForFunction(
    (k) => (window as unknown as { epochsDone: number }).epochsDone >= k && !!(window as { release?: unknown }).release,
    e,
  );
  const acc = await page.evaluate(() => (window as unknown as { lastAcc: number }).lastAcc);
  rows.push({ point: `epoch ${e}`, rss: chromiumRss(), heap: await heap(), note: `val acc ${(acc * 100).toFixed(2)}%` });
  await page.evaluate((k) => {
    const w = window as unknown as Record<string, unknown>;
    w.sampled = k;
    const r = w.release as () => void;
    w.release = undefined;
    r();
  }, e);
}
await page.evaluate(async () => {
  const w = window as unknown as { run: Promise<unknown>; kd: typeof import('../src/browser.js') };
  await w.run;
  w.kd.webStorage.remove('/runs/long');
});
rows.push({ point: 'run done', rss: chromiumRss(), heap: await heap() });
for (let r = 1; r <= runs; r++) {
  await page.evaluate(
    async (text) => {
      const k = (window as unknown as { kd: typeof import('../src/browser.js') }).kd;
      await k.runExperiment(k.parseWebConfig(text));
      k.webStorage.remove('/runs/again');
    },
    config('again', 1),
  );
  rows.push({ point: `another run ${r}`, rss: chromiumRss(), heap: await heap() });
}
await browser.close();
await server.close();

console.log(
  `# npx tsx bench/browser-memory.ts ${perClass} ${epochs} ${runs}   (${new Date().toISOString().slice(0, 10)}, Chromium, 1 thread)`,
);
console.log('point              chromium PSS MiB   js heap MiB');
for (const r of rows)
  console.log(`${r.point.padEnd(18)} ${r.rss.toFixed(1).padStart(16)}   ${r.heap.toFixed(1).padStart(11)}  ${r.note ?? ''}`);
const ep = rows.filter((r) => r.point.startsWith('epoch '));
const again = rows.filter((r) => r.point.startsWith('another run'));
console.log(
  JSON.stringify({
    bench: 'browser-memory',
    trainPerClass: perClass,
    epochs,
    seconds: Math.round((Date.now() - t0) / 1000),
    rssEpoch1MiB: +ep[0].rss.toFixed(1),
    rssEpochLastMiB: +ep[ep.length - 1].rss.toFixed(1),
    rssGrowthEpoch2ToLastMiB: +(ep[ep.length - 1].rss - ep[Math.min(1, ep.length - 1)].rss).toFixed(1),
    heapGrowthEpoch2ToLastMiB: +(ep[ep.length - 1].heap - ep[Math.min(1, ep.length - 1)].heap).toFixed(1),
    rssAfterFirstExtraRunMiB: +again[0].rss.toFixed(1),
    rssAfterLastExtraRunMiB: +again[again.length - 1].rss.toFixed(1),
  }),
);
