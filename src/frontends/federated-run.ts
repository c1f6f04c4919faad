import type { ResolvedConfig } from '../config/index.js';
import { bundledDataset } from '../data/bundled.js';
import { fedSamples } from '../data/batches.js';
import { subset, type Dataset } from '../data/dataset.js';
import { runFederated } from '../distill/federated/run.js';
import { partyStarter } from '../distill/federated/start.js';
import type { RunData } from '../train/plan.js';
import type { RunSummary, SummaryRow } from '../train/report.js';
import type { RunDir } from '../train/run-dir.js';
import { KdError } from '../util/errors.js';
import { Rng } from '../util/rng.js';

/** The public transfer set (another dataset's images, or held out of the training split) and what is left to deal. */
function publicSet(cfg: ResolvedConfig, train: Dataset): { publicX?: Float32Array; publicY?: Int32Array; pool: Dataset } {
  const p = cfg.federated!.public;
  if (!p) return { pool: train };
  if (p.dataset) {
    const other = bundledDataset(p.dataset, 'train');
    if (other.sampleShape.join() !== train.sampleShape.join())
      throw new KdError(
        'BAD_CONFIG',
        `federated.public.dataset: '${p.dataset}' has samples [${other.sampleShape}], the data [${train.sampleShape}]`,
      );
    if (other.n < p.n) throw new KdError('BAD_CONFIG', `federated.public.n: '${p.dataset}' has ${other.n} images, fewer than ${p.n}`);
    const order = new Rng(`${cfg.seed}:public`).shuffle(Int32Array.from({ length: other.n }, (_, i) => i));
    const pub = subset(other, order.subarray(0, p.n));
    return { publicX: fedSamples(pub), publicY: p.labelled ? Int32Array.from(pub.y) : undefined, pool: train };
  }
  if (train.n <= p.n)
    throw new KdError('BAD_CONFIG', `federated.public.n: ${p.n} held out of ${train.n} training samples leaves none for the parties`);
  const order = new Rng(`${cfg.seed}:public`).shuffle(Int32Array.from({ length: train.n }, (_, i) => i));
  const pub = subset(train, order.subarray(0, p.n));
  return {
    publicX: fedSamples(pub),
    publicY: p.labelled ? Int32Array.from(pub.y) : undefined,
    pool: subset(train, Int32Array.from(order.subarray(p.n)).sort(), `${train.name} (private pool)`),
  };
}

/**
 * A federated config run: each party a row (its test accuracy, parameters, file), then the consensus; the message log
 * (every message's kind, array sizes and bytes) goes to `messages.jsonl`, the bytes per party and round to the summary.
 */
export async function runFederatedExperiment(
  cfg: ResolvedConfig,
  data: RunData,
  rd: RunDir,
  log?: (line: string) => void,
): Promise<RunSummary> {
  const t0 = Date.now();
  const f = cfg.federated!;
  const { publicX, publicY, pool } = publicSet(cfg, data.train);
  const r = await runFederated({
    algorithm: f.algorithm,
    models: f.parties,
    split: f.split,
    rounds: f.rounds,
    options: f,
    drop: f.drop,
    seed: cfg.seed,
    concurrency: cfg.threads,
    batchSize: cfg.batchSize,
    lr: cfg.optimizer.lr,
    train: pool,
    publicX,
    publicY,
    test: data.test,
    start: partyStarter(),
    log: (e) => {
      rd.log(e);
      if (e.event === 'round') log?.(`round ${e.round}/${f.rounds}: parties ${(e.present as number[]).join(' ')}`);
    },
  });
  rd.write('messages.jsonl', r.messages.map((m) => JSON.stringify(m)).join('\n') + (r.messages.length ? '\n' : ''));
  const rows: SummaryRow[] = r.parties.map((p) => {
    const file = `party-${p.index}.onnx`;
    rd.write(file, p.onnx);
    return {
      role: `party-${p.index}`,
      model: p.model,
      testAccuracy: p.accuracy,
      testLoss: 0,
      agreement: null,
      agreeWith: null,
      parameters: p.parameters,
      fileBytes: p.onnx.length,
      latencyMs: [],
      file,
    };
  });
  rows.push({
    role: 'consensus',
    model: f.algorithm === 'fedavg' ? 'global model' : "mean of the parties' scores",
    testAccuracy: r.consensusAccuracy,
    testLoss: Number.NaN,
    agreement: null,
    agreeWith: null,
    fileBytes: 0,
    latencyMs: [],
    file: '',
  });
  return {
    name: cfg.name,
    seed: cfg.seed,
    dataset: cfg.dataset.name,
    trainSamples: pool.n,
    validationSamples: data.val?.n ?? 0,
    testSamples: data.test.n,
    ...(data.test.classNames ? { classNames: [...data.test.classNames] } : {}),
    rows,
    seconds: Math.round((Date.now() - t0) / 1000),
    federated: {
      algorithm: f.algorithm,
      rounds: f.rounds,
      publicSamples: publicX ? publicX.length / data.test.sampleShape.reduce((a, b) => a * b, 1) : 0,
      parties: r.parties.map((p) => ({
        samples: p.samples,
        classCounts: p.classCounts,
        bytesUp: p.bytesUp,
        bytesDown: p.bytesDown,
        dropped: p.dropped,
      })),
    },
  };
}
