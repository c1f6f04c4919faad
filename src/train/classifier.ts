import { batches, type Dataset } from '../data/index.js';
import { accuracy, crossEntropy } from '../nn/losses.js';
import type { Model } from '../nn/model.js';
import { adam } from '../optim/adam.js';
import type { Optimizer } from '../optim/optimizer.js';
import { lrAt, type Schedule } from '../optim/schedule.js';
import { Predictor } from '../runtime/inference.js';
import { ort, type SessionOptions } from '../runtime/ort.js';
import { TrainSession } from '../runtime/train-session.js';

export interface FitOptions extends SessionOptions {
  epochs: number;
  batchSize?: number;
  lr?: number;
  optimizer?: Optimizer;
  schedule?: Schedule;
  seed?: number;
  /** Stop after this many steps (for quick tests), whatever `epochs` says. */
  maxSteps?: number;
  /** Called after every step with the scalar outputs. */
  onStep?: (step: number, out: Record<string, number>) => void;
  /** Pixel normalisation passed to the batcher. */
  mean?: number;
  std?: number;
}

/** Trains a classifier on its `logits` output with cross-entropy; returns per-step losses. Leaves the trained values in `model`. */
export async function fitClassifier(model: Model, ds: Dataset, o: FitOptions): Promise<{ losses: number[]; session: TrainSession }> {
  const bs = o.batchSize ?? 128;
  const session = await TrainSession.create(
    {
      model,
      optimizer: o.optimizer ?? adam(),
      extraInputs: { labels: { dtype: 'int64', shape: ['N'] } },
      loss: (out, inp) => ({ total: crossEntropy(out.logits, inp.labels), metrics: { acc: accuracy(out.logits, inp.labels) } }),
    },
    { threads: o.threads, seed: o.seed },
  );
  const it = batches(ds, { batchSize: bs, seed: o.seed ?? 0, mean: o.mean, std: o.std });
  const total = Math.min(o.maxSteps ?? Infinity, o.epochs * it.stepsPerEpoch);
  const losses: number[] = [];
  const base = o.lr ?? 1e-3;
  const inputName = Object.keys(model.def.inputs)[0];
  for (let s = 0; s < total; s++) {
    const b = it.nextBatch();
    const x = new ort.Tensor('float32', b.x, b.shape as number[]);
    const y = new ort.Tensor('int64', b.y, [b.size]);
    const out = await session.run({ [inputName]: x, labels: y }, lrAt(o.schedule ?? { kind: 'constant' }, base, s));
    losses.push(out.loss);
    o.onStep?.(s, out);
  }
  session.syncToModel();
  return { losses, session };
}

/** Accuracy and mean cross-entropy of the model (eval mode, exported inference graph) on a dataset. */
export async function evaluateClassifier(model: Model, ds: Dataset, o: SessionOptions & { mean?: number; std?: number } = {}): Promise<{ accuracy: number; loss: number }> {
  const p = await Predictor.fromModel(model, { threads: o.threads });
  const it = batches(ds, { batchSize: 1000, shuffle: false, mean: o.mean, std: o.std });
  let correct = 0, loss = 0;
  for (const b of it) {
    const logits = (await p.run(new ort.Tensor('float32', b.x, b.shape as number[]), ['logits'])).logits.data as Float32Array;
    const C = logits.length / b.size;
    for (let i = 0; i < b.size; i++) {
      const row = logits.subarray(i * C, (i + 1) * C);
      let arg = 0, mx = -Infinity;
      for (let c = 0; c < C; c++) if (row[c] > mx) { mx = row[c]; arg = c; }
      let se = 0;
      for (let c = 0; c < C; c++) se += Math.exp(row[c] - mx);
      const label = Number(b.y[i]);
      if (arg === label) correct++;
      loss += Math.log(se) + mx - row[label];
    }
  }
  await p.release();
  return { accuracy: correct / ds.n, loss: loss / ds.n };
}

