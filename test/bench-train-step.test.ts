import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { forkTrainStep } from '../src/bench/node/train-step-fork.js';

test('bench: a train row runs in its own process and reports its throughput, loss and peak memory', async () => {
  const r = await forkTrainStep('cnn-train', 1, 8);
  assert.equal(r.pair, 'cnn-train');
  assert.ok(r.imgPerSec > 0 && Number.isFinite(r.stepMsMedian), JSON.stringify(r));
  assert.ok(Number.isFinite(r.loss) && r.loss > 0, `loss ${r.loss}`);
  // The child loads ONNX Runtime and a 104 K-parameter CNN's step at batch 128: well over 100 MB, under 2 GB.
  assert.ok(r.peakRssMb > 100 && r.peakRssMb < 2048, `peak ${r.peakRssMb} MB`);
});

test('bench: a child process reports its own peak memory, not the size of the process that started it', {
  skip: process.platform !== 'linux',
}, async () => {
  // ru_maxrss survives fork and exec, so with it a small child of a large parent reports the parent's size.
  const ballast = Buffer.alloc(400 * 1024 * 1024, 1);
  const parentMb = process.memoryUsage().rss / 1048576;
  const script = "import('./src/bench/node/peak-rss.ts').then((m) => console.log(m.peakRssMb()))";
  // From the repository root, wherever the tests were started: `--import tsx` and the script's path resolve there.
  const cwd = new URL('..', import.meta.url);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '-e', script], { cwd });
  const childMb = Number(stdout.trim());
  assert.ok(parentMb > 400, `parent ${parentMb} MB`);
  assert.ok(childMb > 10 && childMb < 200, `child ${childMb} MB beside a ${parentMb.toFixed(0)} MB parent`);
  assert.equal(ballast[ballast.length - 1], 1);
});
