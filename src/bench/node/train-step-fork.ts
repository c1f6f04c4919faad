import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KdError } from '../../util/errors.js';
import type { TrainPair, TrainStepResult } from '../train-step.js';

/** A plain-training measurement with the peak resident set of the process that ran it. */
export type ForkedTrainStep = TrainStepResult & { peakRssMb: number };

/**
 * Runs `benchTrainStep` in a child process (train-step-child) and returns its result and peak RSS. The child
 * inherits this process's exec arguments, so it runs the TypeScript sources under tsx as it does the compiled files.
 */
export function forkTrainStep(pair: TrainPair, threads: number, steps: number): Promise<ForkedTrainStep> {
  const js = fileURLToPath(new URL('./train-step-child.js', import.meta.url));
  const entry = existsSync(js) ? js : js.replace(/\.js$/, '.ts');
  return new Promise((resolve, reject) => {
    const child = fork(entry, [pair, String(threads), String(steps)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    let result: ForkedTrainStep | undefined;
    child.on('message', (m) => {
      result = m as ForkedTrainStep;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      result
        ? resolve(result)
        : reject(new KdError('BENCH_FAILED', `the ${pair} training step (${entry}) exited with code ${code} before reporting`)),
    );
  });
}
