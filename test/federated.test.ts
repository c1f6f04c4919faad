import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configRegistry } from '../src/cli/run.js';
import { configToYaml } from '../src/config/index.js';
import { ConfigError, parseConfig } from '../src/config/node/index.js';
import { bundledDataset } from '../src/data/bundled.js';
import { take } from '../src/data/index.js';
import { WorkerParty } from '../src/distill/federated/node/worker-party.js';
import type { ProtocolMessage } from '../src/distill/federated/protocol.js';
import { type FederatedAlgorithm, runFederated } from '../src/distill/federated/run.js';
import { splitParties } from '../src/distill/federated/split.js';
import { runExperiment } from '../src/frontends/run-config.js';
import { RunDir } from '../src/train/run-dir.js';

const dir = mkdtempSync(join(tmpdir(), 'kd-federated-'));
const train = take(bundledDataset('fashion-mnist', 'train'), 1200);
const test = take(bundledDataset('fashion-mnist', 'test'), 300);
const PARTIES = 4,
  K = 10,
  PUBLIC = 200,
  PER_ROUND = 100;
const publicX = Float32Array.from((take(bundledDataset('mnist', 'train'), PUBLIC).x as Uint8Array).subarray(0), (v) => v / 255);

function run(
  algorithm: FederatedAlgorithm,
  models = new Array<string>(PARTIES).fill('mlp-784-32-10'),
  pub: { publicX: Float32Array; publicY?: Int32Array } = { publicX },
) {
  return runFederated({
    algorithm,
    models,
    split: { dirichlet: 0.3 },
    rounds: 3,
    options: { localEpochs: 1, initEpochs: 1, digestEpochs: 1, publicPerRound: PER_ROUND, distillWeight: 1, publicEpochs: 2 },
    // Party 1 misses round 2: the round goes on without it, and nothing it would have sent is counted.
    drop: { probability: 0, rounds: [[2, 1]] },
    seed: 0,
    concurrency: 2,
    batchSize: 64,
    lr: 3e-3,
    train,
    ...pub,
    test,
    start: (s, m) => WorkerParty.start(s, m),
  });
}

/** Every message a party sent, by round. */
const ups = (ms: readonly ProtocolMessage[], round: number) => ms.filter((m) => m.direction === 'up' && m.round === round);

describe('federated: what leaves a party is only what the protocol says', () => {
  it('non-IID splits: every sample dealt once, Dirichlet skewed, k classes per party exact', () => {
    const parts = splitParties(train.y, K, PARTIES, { dirichlet: 0.3 }, 0);
    const all = parts.flatMap((p) => [...p]).sort((a, b) => a - b);
    assert.deepEqual(
      all,
      Array.from({ length: train.n }, (_, i) => i),
    );
    // At α = 0.3 some party holds under a third of the mean share of some class it has.
    const shares = parts.map((p) => Array.from({ length: K }, (_, c) => p.filter((i) => train.y[i] === c).length));
    assert.ok(shares.some((row) => row.some((v) => v === 0 || v < train.n / K / PARTIES / 3)));
    const two = splitParties(train.y, K, 5, { classesPerParty: 2 }, 0);
    two.forEach((p, k) =>
      assert.deepEqual(
        [...new Set(Array.from(p, (i) => train.y[i]))].sort((a, b) => a - b),
        [2 * k, 2 * k + 1],
      ),
    );
  });

  it('FedMD: parties of different architectures send only public-set scores, and a dropped party sends nothing', async () => {
    const r = await run('fedmd', ['mlp-784-32-10', 'cnn-8-16', 'mlp-784-64-10', 'cnn-8-16']);
    for (const round of [1, 2, 3]) {
      const sent = ups(r.messages, round);
      assert.deepEqual(sent.map((m) => m.party).sort(), round === 2 ? [0, 2, 3] : [0, 1, 2, 3]);
      for (const m of sent) {
        assert.equal(m.kind, 'logits');
        assert.deepEqual(m.fields, { logits: PER_ROUND * K }, 'class scores of the round’s public samples, nothing else');
        assert.equal(m.bytes, PER_ROUND * K * 4);
      }
    }
    assert.deepEqual(r.parties[1].dropped, [2]);
    assert.equal(r.parties[1].bytesUp[1], 0);
    assert.equal(r.parties[0].bytesUp[1], PER_ROUND * K * 4);
    for (const p of r.parties) assert.ok(p.accuracy > 0.2, `party ${p.index}: ${p.accuracy}`);
  });

  it('a labelled public set: every party learns from it first, sending nothing for it, and knows more classes', async () => {
    // 300 more Fashion-MNIST images with labels, IID, as FedMD's public data (the paper's transfer-learning phase).
    const extra = take(bundledDataset('fashion-mnist', 'test'), 600);
    const x = Float32Array.from((extra.x as Uint8Array).subarray(300 * 784), (v) => v / 255);
    const y = Int32Array.from(extra.y.subarray(300));
    const plain = await run('alone'),
      pre = await run('alone', undefined, { publicX: x, publicY: y });
    assert.equal(pre.messages.length, plain.messages.length, 'public training is local');
    const mean = (r: typeof plain) => r.parties.reduce((a, p) => a + p.accuracy, 0) / r.parties.length;
    assert.ok(mean(pre) > mean(plain) + 0.05, `parties' mean accuracy ${mean(plain)} → ${mean(pre)} with the labelled public set`);
    const md = await run('fedmd', undefined, { publicX: x, publicY: y });
    for (const m of md.messages.filter((m) => m.direction === 'up')) assert.deepEqual(m.fields, { logits: PER_ROUND * K });
  });

  it('FD: parties send K × K per-label mean scores and K counts', async () => {
    const r = await run('fd');
    for (const m of r.messages.filter((x) => x.direction === 'up')) {
      assert.equal(m.kind, 'label-logits');
      assert.deepEqual(m.fields, { means: K * K, counts: K });
    }
    assert.deepEqual(
      ups(r.messages, 2)
        .map((m) => m.party)
        .sort(),
      [0, 2, 3],
    );
    // From round 2 on, present parties get the others' per-label means (K × K) and nothing else.
    for (const m of r.messages.filter((x) => x.direction === 'down')) assert.deepEqual(m.fields, { global: K * K });
  });

  it('FedAvg: whole parameter vectors travel, and every party ends with the global model', async () => {
    const r = await run('fedavg');
    const params = 784 * 32 + 32 + 32 * 10 + 10;
    for (const m of ups(r.messages, 1)) assert.equal(m.bytes, params * 4);
    // The coordinator's starting point is party 0's initialisation, and that message is logged too.
    assert.deepEqual(
      ups(r.messages, 0).map((m) => [m.party, m.kind, m.bytes]),
      [[0, 'init-params', params * 4]],
    );
    const accs = new Set(r.parties.map((p) => p.accuracy));
    assert.equal(accs.size, 1);
    assert.equal(r.consensusAccuracy, r.parties[0].accuracy);
    assert.ok(r.consensusAccuracy > 0.4, `global model: ${r.consensusAccuracy}`);
  });
});

describe('federated in a config', () => {
  const config = (extra: string[]) =>
    [
      'seed: 0',
      'threads: 2',
      'dataset: { name: fashion-mnist, trainPerClass: 100 }',
      'epochs: 1',
      'batchSize: 64',
      'optimizer: { name: adam, lr: 0.003 }',
      ...extra,
    ].join('\n');

  it('one row per party and the consensus, bytes per round in the summary, every message in messages.jsonl', async () => {
    const out = join(dir, 'fd');
    const cfg = parseConfig(
      config([
        `outDir: ${out}`,
        'federated: { algorithm: fd, parties: { count: 3, model: mlp-784-32-10 }, rounds: 2, split: { classesPerParty: 4 } }',
      ]),
      join(dir, 'fd.yaml'),
      configRegistry(),
    );
    const s = await runExperiment(cfg, { runDir: new RunDir(cfg.outDir) });
    assert.deepEqual(
      s.rows.map((r) => r.role),
      ['party-0', 'party-1', 'party-2', 'consensus'],
    );
    assert.equal(s.federated!.parties[0].bytesUp.length, 2);
    assert.equal(s.federated!.parties[0].bytesUp[0], (K * K + K) * 4);
    const lines = readFileSync(join(out, 'messages.jsonl'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 3 * 2 + 3);
    // The resolved config (what a run directory keeps) loads again as the same run (resume, seeds).
    const again = parseConfig(configToYaml(cfg), join(out, 'again.yaml'), configRegistry());
    assert.deepEqual(again.federated, cfg.federated);
  });

  it('refuses what a protocol cannot do, naming the field', () => {
    const bad = (extra: string, re: RegExp) =>
      assert.throws(
        () => parseConfig(config([extra]), join(dir, 'bad.yaml'), configRegistry()),
        (e: unknown) => e instanceof ConfigError && re.test(e.message),
      );
    bad(
      'federated: { algorithm: fedmd, parties: { count: 3, model: mlp-784-32-10 }, rounds: 2 }',
      /federated\.public.*FedMD distils on a public/s,
    );
    bad(
      'federated: { algorithm: fedavg, parties: [{ model: mlp-784-32-10 }, { model: cnn-8-16 }], rounds: 2 }',
      /federated\.parties.*fedavg averages parameters/s,
    );
    bad(
      'federated: { algorithm: fd, parties: { count: 3, model: mlp-784-32-10 }, rounds: 2, drop: { rounds: [[3, 0]] } }',
      /past the last round/,
    );
    bad('federated: { algorithm: fedprox, parties: { count: 3, model: mlp-784-32-10 }, rounds: 2 }', /federated\.algorithm/);
  });
});
