// Online distillation on Fashion-MNIST (not CI): two cnn-8-16-32 peers trained together with dml, or with
// peer_ensemble (the detached mean of the peers' logits teaches both), against the same two networks trained
// alone (same initial weights, same data order). Reports mean ± std over seeds of each peer's test accuracy
// and of the two-peer ensemble (mean logits). Without `ce` beside them, both methods include every peer's CE.
// Usage: npx tsx bench/online.ts [--seeds 0,1,2] [--epochs 8] [--train-per-class 1000] [--configs alone,dml,peer_ensemble]
import '../src/node-setup.js';
import { parseArgs } from 'node:util';
import { batches, stratifiedSplit, type Dataset } from '../src/data/index.js';
import { loadDataset } from '../src/data/node/index.js';
import type { LossTerm } from '../src/distill/loss.js';
import { cohort, peerModel } from '../src/distill/schemes/cohort.js';
import { Model } from '../src/nn/model.js';
import { zooModel } from '../src/nn/zoo/index.js';
import { Predictor } from '../src/runtime/inference.js';
import { ort } from '../src/runtime/ort.js';
import { fitClassifier } from '../src/train/classifier.js';

const { values: a } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    epochs: { type: 'string', default: '8' },
    'train-per-class': { type: 'string', default: '1000' },
    configs: { type: 'string', default: 'alone,dml,peer_ensemble' },
    threads: { type: 'string', default: '2' },
  },
});
const seeds = a.seeds!.split(',').map(Number),
  epochs = Number(a.epochs),
  threads = Number(a.threads);
const PEER = 'cnn-8-16-32';
/** null: each peer alone with plain cross-entropy. */
const CONFIGS: Record<string, LossTerm[] | null> = {
  alone: null,
  dml: [{ method: 'dml', weight: 1 }],
  peer_ensemble: [{ method: 'peer_ensemble', weight: 1 }],
};
const configs = a.configs!.split(',');
for (const c of configs) if (!(c in CONFIGS)) throw new Error(`unknown config '${c}' (have ${Object.keys(CONFIGS).join(', ')})`);

// The same fixed stratified subset as bench/catalog.ts.
const full = loadDataset('fashion-mnist', 'train'),
  test = loadDataset('fashion-mnist', 'test');
const rest = stratifiedSplit(full, { seed: 0, valPerClass: 200 });
const train = stratifiedSplit(rest.train, { seed: 0, valPerClass: Number(a['train-per-class']) }).val;
const recipe = {
  epochs,
  batchSize: 128,
  lr: 2e-3,
  schedule: { kind: 'cosine' as const, total: epochs * Math.ceil(train.n / 128) },
  threads,
};
const t0 = Date.now();
const log = (m: string) => console.error(`[${Math.round((Date.now() - t0) / 1000)} s] ${m}`);

/** Test-set logits [n·C] of a model (its exported inference graph). */
async function logitsOf(m: Model, ds: Dataset): Promise<Float32Array> {
  const p = await Predictor.fromModel(m, { threads });
  const parts: Float32Array[] = [];
  for (const b of batches(ds, { batchSize: 1000, shuffle: false }))
    parts.push(
      Float32Array.from((await p.run(new ort.Tensor('float32', b.x, b.shape as number[]), ['logits'])).logits.data as Float32Array),
    );
  await p.release();
  const out = new Float32Array(parts.reduce((s, q) => s + q.length, 0));
  let o = 0;
  for (const q of parts) {
    out.set(q, o);
    o += q.length;
  }
  return out;
}

/** Top-1 accuracy of logits [n·C] (a sum of logits ranks like their mean). */
function accuracyOf(logits: Float32Array, ds: Dataset): number {
  const C = logits.length / ds.n;
  let correct = 0;
  for (let i = 0; i < ds.n; i++) {
    let arg = 0;
    for (let c = 1; c < C; c++) if (logits[i * C + c] > logits[i * C + arg]) arg = c;
    if (arg === ds.y[i]) correct++;
  }
  return correct / ds.n;
}

interface Result {
  config: string;
  seed: number;
  peers: number[];
  ensemble: number;
  seconds: number;
}
const results: Result[] = [];
const def = zooModel(PEER, train.sampleShape, 10);
for (const seed of seeds) {
  for (const name of configs) {
    const t1 = Date.now();
    const loss = CONFIGS[name];
    const m = new Model(cohort([def, def]), seed);
    let peers: Model[];
    if (loss) {
      await fitClassifier(m, train, { ...recipe, seed, loss });
      peers = [0, 1].map((k) => peerModel(m, k));
    } else {
      // The cohort's initial peers, trained one at a time: the comparison differs only in the loss.
      peers = [0, 1].map((k) => peerModel(m, k));
      for (const p of peers) await fitClassifier(p, train, { ...recipe, seed });
    }
    const logits = await Promise.all(peers.map((p) => logitsOf(p, test)));
    const r = {
      config: name,
      seed,
      peers: logits.map((l) => accuracyOf(l, test)),
      ensemble: accuracyOf(
        logits[0].map((v, i) => v + logits[1][i]),
        test,
      ),
      seconds: Math.round((Date.now() - t1) / 1000),
    };
    results.push(r);
    log(
      `${name} seed ${seed}: peers ${r.peers.map((x) => (x * 100).toFixed(2)).join(' / ')} ` +
        `%, ensemble ${(r.ensemble * 100).toFixed(2)} % (${r.seconds} s)`,
    );
  }
}

const ms = (xs: number[]) => {
  const m = xs.reduce((p, q) => p + q, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((p, q) => p + (q - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return xs.length > 1 ? `${(m * 100).toFixed(2)} ± ${(sd * 100).toFixed(2)}` : (m * 100).toFixed(2);
};
console.log(
  `Two ${PEER} peers on Fashion-MNIST, ${train.n} training images, ${epochs} epochs, seeds ${seeds.join(', ')}; test accuracy %.\n`,
);
console.log('| training | peer 0 | peer 1 | ensemble of the two | s / run |');
console.log('|---|---|---|---|---|');
for (const name of configs) {
  const rs = results.filter((r) => r.config === name);
  console.log(
    `| ${name === 'alone' ? 'each alone (ce)' : name} | ${ms(rs.map((r) => r.peers[0]))} | ${ms(rs.map((r) => r.peers[1]))} ` +
      `| ${ms(rs.map((r) => r.ensemble))} | ${Math.round(rs.reduce((p, r) => p + r.seconds, 0) / rs.length)} |`,
  );
}
