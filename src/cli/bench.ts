import type { Command } from 'commander';
import { KdError } from '../util/errors.js';
import { median } from '../util/stats.js';
import { benchKdStep, type KdStepResult } from '../bench/kd-step.js';
import { runTorch, torchAvailable, type TorchResult } from './torch-peer.js';

interface Row {
  pair: 'mlp' | 'cnn';
  threads: number;
  mode: 'sequential' | 'pipelined';
  kdistill: KdStepResult;
  torch?: TorchResult;
  torchChannelsLast?: TorchResult;
  ratio?: number;
  ratioChannelsLast?: number;
}

/** `kdistill bench`: KD-step throughput of the reference pairs, with tuned PyTorch side by side when it is installed. */
export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('images/s of a full KD step for the reference pairs (MLP 1200→800, CNN 32-64-128→8-16), against PyTorch when available')
    .option('--json', 'print the results as JSON')
    .option('--pairs <list>', 'pairs to run', 'mlp,cnn')
    .option('--threads <list>', 'thread counts', '1,2')
    .option('--steps <n>', 'timed steps per measurement', '64')
    .option('--reps <n>', 'interleaved repetitions (medians are reported)', '3')
    .option('--no-torch', 'skip the PyTorch peer')
    .action(async (o: { json?: boolean; pairs: string; threads: string; steps: string; reps: string; torch: boolean }) => {
      const pairs = o.pairs.split(',') as ('mlp' | 'cnn')[];
      for (const p of pairs)
        if (p !== 'mlp' && p !== 'cnn') throw new KdError('BAD_OPTION', `--pairs: unknown pair '${p}' (choose mlp, cnn)`);
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
      const rows: Row[] = [];
      for (const pair of pairs)
        for (const t of threads) {
          // With two or more threads kdistill can also run the teacher in its own worker thread on the
          // next batch (pipelined); the thread budget is the same, split between teacher and student.
          const modes = t >= 2 ? (['sequential', 'pipelined'] as const) : (['sequential'] as const);
          const ks = new Map<string, KdStepResult[]>(modes.map((m) => [m, []]));
          const ts: TorchResult[] = [],
            tcl: TorchResult[] = [];
          // Interleave engines so drift of this shared machine hits both alike.
          for (let r = 0; r < reps; r++) {
            for (const m of modes) ks.get(m)!.push(await benchKdStep(pair, t, steps, 128, m));
            if (torch.ok) {
              const a = runTorch(pair, t, steps);
              if (a) ts.push(a);
              if (pair === 'cnn') {
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
            rows.push(row);
          }
        }
      if (o.json) {
        console.log(
          JSON.stringify(
            {
              batch: 128,
              loss: '0.5*CE + 0.5*T^2*KL, T=4',
              optimizer: 'Adam lr 1e-3',
              reps,
              steps,
              torch: torch.ok ? { version: torch.version } : { skipped: torch.reason },
              results: rows,
            },
            null,
            2,
          ),
        );
        return;
      }
      console.error('');
      console.log('pair  thr  mode        kdistill img/s  torch img/s  ratio  torch channels_last  ratio');
      for (const r of rows)
        console.log(
          `${r.pair.padEnd(5)} ${String(r.threads).padStart(3)}  ${r.mode.padEnd(10)}  ` +
            `${String(r.kdistill.imgPerSec).padStart(14)}  ${String(r.torch?.imgPerSec ?? '–').padStart(11)}  ` +
            `${String(r.ratio ?? '–').padStart(5)}  ${String(r.torchChannelsLast?.imgPerSec ?? '–').padStart(19)}  ` +
            `${String(r.ratioChannelsLast ?? '–').padStart(5)}`,
        );
    });
}
