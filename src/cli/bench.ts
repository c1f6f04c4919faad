import type { Command } from 'commander';
import { KdError } from '../util/errors.js';
import { median } from '../util/stats.js';
import { benchKdStep, type KdStepResult } from '../bench/kd-step.js';
import { runTorch, torchAvailable, type TorchResult } from './torch-peer.js';
import { type BrowserBench, type BrowserBenchPage, startBrowserBench } from './bench-browser.js';
import { type ForkedTrainStep, forkTrainStep } from '../bench/node/train-step-fork.js';

const kdPairs = ['mlp', 'cnn'] as const;
const trainPairs = ['cnn-train', 'resnet20'] as const;
/** The rows `kdistill bench` can run: KD steps of the reference pairs, and plain training steps of two teachers. */
export type BenchPair = (typeof kdPairs)[number] | (typeof trainPairs)[number];
const isTrainPair = (p: BenchPair): p is (typeof trainPairs)[number] => (trainPairs as readonly string[]).includes(p);

interface Row {
  pair: BenchPair;
  threads: number;
  /** 'train' rows time plain training (CE, Adam, train-mode BN), each measurement in its own process. */
  mode: 'sequential' | 'pipelined' | 'train';
  kdistill: KdStepResult | ForkedTrainStep;
  torch?: TorchResult;
  torchChannelsLast?: TorchResult;
  ratio?: number;
  ratioChannelsLast?: number;
  /** kdistill ÷ the faster of PyTorch's two layouts: the number the speed target is stated in. */
  ratioBest?: number;
  /** With --browser, on sequential rows: the same step in headless Chromium (onnxruntime-web, same thread count). */
  browser?: KdStepResult;
  /** browser images/s ÷ Node images/s. */
  browserRatio?: number;
  /** Why the browser did not run this row (e.g. threads without cross-origin isolation). */
  browserSkipped?: string;
}

/** `kdistill bench`: KD-step throughput of the reference pairs, with tuned PyTorch side by side when it is installed. */
export function registerBench(program: Command): void {
  program
    .command('bench')
    .description(
      'images/s of a full KD step for the reference pairs (MLP 1200→800, CNN 32-64-128→8-16) and of plain training ' +
        '(cnn-train: the teacher CNN; resnet20 at 32×32), against PyTorch when available',
    )
    .option('--json', 'print the results as JSON')
    .option('--pairs <list>', 'pairs to run', [...kdPairs, ...trainPairs].join(','))
    .option('--threads <list>', 'thread counts', '1,2')
    .option('--steps <n>', 'timed steps per measurement', '64')
    .option('--reps <n>', 'interleaved repetitions (medians are reported)', '3')
    .option('--no-torch', 'skip the PyTorch peer')
    .option('--browser', 'also run each pair in headless Chromium (onnxruntime-web, the built web app) and print browser/Node')
    .option('--chromium <path>', 'the Chromium --browser starts', '/usr/bin/chromium')
    .action(async (o: BenchOptions) => {
      const known: readonly string[] = [...kdPairs, ...trainPairs];
      const pairs = o.pairs.split(',') as BenchPair[];
      for (const p of pairs)
        if (!known.includes(p)) throw new KdError('BAD_OPTION', `--pairs: unknown pair '${p}' (choose from ${known.join(', ')})`);
      const threads = o.threads.split(',').map(Number);
      const steps = Number(o.steps),
        reps = Number(o.reps);
      for (const [flag, v] of [
        ['threads', threads],
        ['steps', [steps]],
        ['reps', [reps]],
      ] as const)
        if (v.some((x) => !Number.isInteger(x) || x < 1))
          throw new KdError('BAD_OPTION', `--${flag} must be positive integers, got '${(o as unknown as Record<string, string>)[flag]}'`);
      const torch = o.torch ? torchAvailable() : ({ ok: false, reason: 'disabled with --no-torch' } as const);
      if (!o.json)
        console.error(
          torch.ok
            ? `PyTorch ${torch.version} found: running it side by side (tuned BLAS and malloc).`
            : `PyTorch peer not run: ${torch.reason}. Printing kdistill's numbers only.`,
        );
      const browser = o.browser ? await startBrowserBench(o.chromium) : undefined;
      let browserInfo: Record<string, unknown> | undefined;
      const rows: Row[] = [];
      try {
        for (const pair of pairs)
          for (const t of threads) {
            const train = isTrainPair(pair);
            const page = browser && !train ? await openPage(browser, t) : undefined;
            if (page && typeof page !== 'string')
              browserInfo ??= {
                version: browser!.version,
                crossOriginIsolated: page.info.crossOriginIsolated,
                cores: page.info.hardwareConcurrency,
              };
            const bs: KdStepResult[] = [];
            // With two or more threads kdistill can also run the teacher in its own worker thread on the
            // next batch (pipelined); the thread budget is the same, split between teacher and student.
            const modes = train ? (['train'] as const) : t >= 2 ? (['sequential', 'pipelined'] as const) : (['sequential'] as const);
            const ks = new Map<string, (KdStepResult | ForkedTrainStep)[]>(modes.map((m) => [m, []]));
            const ts: TorchResult[] = [],
              tcl: TorchResult[] = [];
            // Interleave engines so drift of this shared machine hits both alike.
            for (let r = 0; r < reps; r++) {
              for (const m of modes)
                ks.get(m)!.push(
                  isTrainPair(pair)
                    ? await forkTrainStep(pair, t, steps)
                    : await benchKdStep(pair, t, steps, 128, m as 'sequential' | 'pipelined'),
                );
              if (page && typeof page !== 'string' && !isTrainPair(pair)) bs.push(await page.run(pair, steps, 128));
              if (torch.ok) {
                const a = runTorch(pair, t, steps);
                if (a) ts.push(a);
                if (pair !== 'mlp') {
                  const b = runTorch(pair, t, steps, true);
                  if (b) tcl.push(b);
                }
              }
              if (!o.json) process.stderr.write('.');
            }
            const pick = <T extends { imgPerSec: number }>(a: T[]) =>
              a.length ? a.find((x) => x.imgPerSec === median(a.map((y) => y.imgPerSec))) : undefined;
            for (const m of modes) {
              const row: Row = { pair, threads: t, mode: m, kdistill: pick(ks.get(m)!)!, torch: pick(ts), torchChannelsLast: pick(tcl) };
              if (row.torch) row.ratio = +(row.kdistill.imgPerSec / row.torch.imgPerSec).toFixed(2);
              if (row.torchChannelsLast) row.ratioChannelsLast = +(row.kdistill.imgPerSec / row.torchChannelsLast.imgPerSec).toFixed(2);
              const best = Math.max(row.torch?.imgPerSec ?? 0, row.torchChannelsLast?.imgPerSec ?? 0);
              if (best) row.ratioBest = +(row.kdistill.imgPerSec / best).toFixed(2);
              // The browser has no worker-thread teacher yet: it is compared with Node's sequential step only.
              if (m === 'sequential' && typeof page === 'string') row.browserSkipped = page;
              if (m === 'sequential' && bs.length) {
                row.browser = pick(bs)!;
                row.browserRatio = +(row.browser.imgPerSec / row.kdistill.imgPerSec).toFixed(2);
              }
              rows.push(row);
            }
            if (page && typeof page !== 'string') await page.close();
          }
      } finally {
        await browser?.close();
      }
      if (o.json) {
        console.log(
          JSON.stringify(
            {
              batch: 128,
              loss: '0.5*CE + 0.5*T^2*KL, T=4 (train rows: CE, train-mode BN)',
              optimizer: 'Adam lr 1e-3',
              reps,
              steps,
              torch: torch.ok ? { version: torch.version } : { skipped: torch.reason },
              ...(browserInfo ? { browser: browserInfo } : {}),
              results: rows,
            },
            null,
            2,
          ),
        );
        return;
      }
      console.error('');
      const bcols = browser ? '  browser img/s  browser/node' : '';
      console.log(`pair       thr  mode        kdistill img/s  torch img/s  ratio  torch channels_last  ratio  vs best${bcols}`);
      for (const r of rows)
        console.log(
          `${r.pair.padEnd(10)} ${String(r.threads).padStart(3)}  ${r.mode.padEnd(10)}  ` +
            `${String(r.kdistill.imgPerSec).padStart(14)}  ${String(r.torch?.imgPerSec ?? '–').padStart(11)}  ` +
            `${String(r.ratio ?? '–').padStart(5)}  ${String(r.torchChannelsLast?.imgPerSec ?? '–').padStart(19)}  ` +
            `${String(r.ratioChannelsLast ?? '–').padStart(5)}  ${String(r.ratioBest ?? '–').padStart(7)}` +
            (browser ? `  ${String(r.browser?.imgPerSec ?? '–').padStart(13)}  ${String(r.browserRatio ?? '–').padStart(12)}` : ''),
        );
      for (const r of rows)
        if ('peakRssMb' in r.kdistill)
          console.log(
            `${r.pair} ${r.threads} threads, peak resident set: kdistill ${r.kdistill.peakRssMb} MB, ` +
              `torch ${r.torch?.peakRssMb ?? '–'} MB, torch channels_last ${r.torchChannelsLast?.peakRssMb ?? '–'} MB`,
          );
      for (const r of rows) if (r.browserSkipped) console.error(`browser, ${r.pair} ${r.threads} threads: ${r.browserSkipped}`);
      if (browserInfo) console.error(`browser: ${browserInfo.version}, cross-origin isolated: ${browserInfo.crossOriginIsolated}`);
    });
}

interface BenchOptions {
  json?: boolean;
  pairs: string;
  threads: string;
  steps: string;
  reps: string;
  torch: boolean;
  browser?: boolean;
  chromium: string;
}

/**
 * The bench page at `threads`, or why it cannot run there: more than one thread needs a cross-origin isolated page,
 * and a page that is not would silently run one thread under the label of two.
 */
async function openPage(browser: BrowserBench, threads: number): Promise<BrowserBenchPage | string> {
  try {
    return await browser.open(threads);
  } catch (e) {
    if (e instanceof KdError && threads > 1) return e.message;
    throw e;
  }
}
