import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchPair } from './bench.js';

/** The PyTorch side of `kdistill bench`: bench/torch/kd_step.py run with the tuning a fair comparison needs. */
const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'torch', 'run_tuned.sh');
const python = '/usr/bin/python3';

/** Whether the Debian PyTorch peer can run here; a reason when it cannot. */
export function torchAvailable(): { ok: true; version: string } | { ok: false; reason: string } {
  if (!existsSync(script)) return { ok: false, reason: `${script} not found (run from a kdistill checkout)` };
  if (!existsSync(python)) return { ok: false, reason: `${python} not found` };
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, reason: 'python3 has no torch module (apt-get install python3-torch libopenblas0-openmp)' };
  return { ok: true, version: r.stdout.trim() };
}

export interface TorchResult {
  engine: string;
  imgPerSec: number;
  stepMsMedian: number;
  teacherFwdMs: number;
  blas?: string;
  /** The peer process's peak resident set (ru_maxrss). */
  peakRssMb?: number;
}

/** Runs one PyTorch measurement (a KD step; for cnn-train and resnet20 a plain training step) in a child process; undefined on failure. */
export function runTorch(pair: BenchPair, threads: number, steps: number, channelsLast = false): TorchResult | undefined {
  const args = [script, '--pair', pair, '--threads', String(threads), '--steps', String(steps)];
  if (channelsLast) args.push('--channels-last');
  const r = spawnSync('bash', args, { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return undefined;
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as TorchResult;
  } catch {
    return undefined;
  }
}
