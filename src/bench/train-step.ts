import { accuracy, crossEntropy } from '../nn/losses.js';
import { Model } from '../nn/model.js';
import { cnn, resnet } from '../nn/zoo/index.js';
import { adam } from '../optim/adam.js';
import { ort } from '../runtime/ort.js';
import { runtime } from '../runtime/runtime.js';
import { TrainSession } from '../runtime/train-session.js';
import { randomBatch } from './random-batch.js';
import { median } from '../util/stats.js';

/** The plain-training rows of `kdistill bench`: the teacher CNN of the reference pair, and ResNet-20 at 32×32. */
export const trainPairs = {
  'cnn-train': { model: () => cnn([32, 64, 128]), inputShape: [1, 28, 28] },
  resnet20: { model: () => resnet({ depth: 20, inputShape: [3, 32, 32] }), inputShape: [3, 32, 32] },
} as const;
export type TrainPair = keyof typeof trainPairs;

/** One timed measurement of a plain training step (CE, Adam lr 1e-3, train-mode BatchNorm). */
export interface TrainStepResult {
  engine: string;
  pair: TrainPair;
  threads: number;
  batch: number;
  steps: number;
  stepsPerRun: number;
  stepMsMedian: number;
  imgPerSec: number;
  loss: number;
}

/**
 * Times the training step of a `trainPairs` model exactly as the PyTorch peer does (bench/torch/kd_step.py):
 * forward in train mode, cross-entropy, backward and an Adam update, on a fixed random batch. The session spins
 * between ops, as plain training (no teacher session beside it) does in kdistill's training loop.
 * `profile` writes ONNX Runtime's per-node profile under that prefix (see bench/profile.ts).
 */
export async function benchTrainStep(
  pair: TrainPair,
  threads: number,
  steps = 32,
  batch = 128,
  opts: { stepsPerRun?: number; profile?: string } = {},
): Promise<TrainStepResult> {
  const ref = trainPairs[pair];
  const K = opts.stepsPerRun ?? 8;
  const train = await TrainSession.create(
    {
      model: new Model(ref.model(), 1),
      optimizer: adam(),
      extraInputs: { labels: { dtype: 'int64', shape: ['N'] } },
      loss: (out, inp) => ({ total: crossEntropy(out.logits, inp.labels), metrics: { acc: accuracy(out.logits, inp.labels) } }),
    },
    { threads, multiStep: K > 1, profile: opts.profile, spin: true },
  );
  const { x, labels } = randomBatch(batch, ref.inputShape);
  const feeds = Array.from({ length: K }, () => ({ x, labels }));
  const lrs = new Array(K).fill(1e-3);
  const group = async () => (K > 1 ? (await train.runMany(feeds, lrs)).at(-1)! : await train.run(feeds[0], 1e-3));
  await group();
  const ms: number[] = [];
  let last: Record<string, number> = { loss: 0 };
  for (let i = 0; i < Math.max(1, Math.round(steps / K)); i++) {
    const t0 = performance.now();
    last = await group();
    ms.push((performance.now() - t0) / K);
  }
  await train.release();
  const m = median(ms);
  return {
    engine: `kdistill (onnxruntime-${runtime().name} ${ort.env.versions.common})`,
    pair,
    threads,
    batch,
    steps,
    stepsPerRun: K,
    stepMsMedian: +m.toFixed(2),
    imgPerSec: Math.round((batch / m) * 1000),
    loss: +last.loss.toFixed(4),
  };
}
