import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forkTrainStep } from '../src/bench/node/train-step-fork.js';

test('bench: a train row runs in its own process and reports its throughput, loss and peak memory', async () => {
  const r = await forkTrainStep('cnn-train', 1, 8);
  assert.equal(r.pair, 'cnn-train');
  assert.ok(r.imgPerSec > 0 && Number.isFinite(r.stepMsMedian), JSON.stringify(r));
  assert.ok(Number.isFinite(r.loss) && r.loss > 0, `loss ${r.loss}`);
  // The child loads ONNX Runtime and a 104 K-parameter CNN's step at batch 128: well over 100 MB, under 2 GB.
  assert.ok(r.peakRssMb > 100 && r.peakRssMb < 2048, `peak ${r.peakRssMb} MB`);
});
