/**
 * A federated run simulated on one machine: the training split dealt to parties (non-IID), each party in a worker
 * of its own (node/worker-party.ts), one algorithm's protocol between them, every message logged with its size.
 */
import { subset, type Dataset } from '../../data/dataset.js';
import { Rng } from '../../util/rng.js';
import { argmaxRows } from '../../util/argmax.js';
import { KdError } from '../../util/errors.js';
import { alone } from './algorithms/alone.js';
import type { FedContext, FedOptions } from './algorithms/context.js';
import { fd } from './algorithms/fd.js';
import { fedavg } from './algorithms/fedavg.js';
import { fedmd } from './algorithms/fedmd.js';
import type { PartySetup } from './party.js';
import type { PartyLink, ProtocolMessage } from './protocol.js';
import { splitParties, type PartySplit } from './split.js';

export const FEDERATED_ALGORITHMS = ['fedmd', 'fd', 'fedavg', 'alone'] as const;
export type FederatedAlgorithm = (typeof FEDERATED_ALGORITHMS)[number];

/** Who misses which round: each party independently with a probability (seeded), and/or listed [round, party] pairs. */
export interface DropSpec {
  readonly probability: number;
  readonly rounds: readonly (readonly [number, number])[];
}

/** Everything a federated run needs; `start` makes a party's link (a worker on Node). */
export interface FederatedSpec {
  readonly algorithm: FederatedAlgorithm;
  readonly models: readonly string[];
  readonly split: PartySplit;
  readonly rounds: number;
  readonly options: FedOptions;
  readonly drop: DropSpec;
  readonly seed: number;
  /** Parties training at once (the machine's cores); each party's ONNX Runtime uses one thread. */
  readonly concurrency: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly train: Dataset;
  /** The public transfer set's samples (unlabeled), as float32 in the data's range. */
  readonly publicX?: Float32Array;
  /** Its labels, when every party pre-trains on it (FedMD's transfer learning; `public.labelled`). */
  readonly publicY?: Int32Array;
  readonly test: Dataset;
  readonly start: (setup: PartySetup, messages: ProtocolMessage[]) => Promise<PartyLink>;
  readonly log?: (event: Record<string, unknown>) => void;
}

export interface PartyResult {
  readonly index: number;
  readonly model: string;
  readonly samples: number;
  /** Classes of its private split with their sample counts. */
  readonly classCounts: number[];
  readonly accuracy: number;
  readonly parameters: number;
  readonly onnx: Uint8Array;
  /** Bytes it sent (up) and received (down) in each round, 1-based rounds at index r − 1. */
  readonly bytesUp: number[];
  readonly bytesDown: number[];
  /** Rounds it missed. */
  readonly dropped: number[];
}

export interface FederatedResult {
  readonly parties: PartyResult[];
  /** The mean of the parties' test scores (FedMD, FD, alone), or the global model (FedAvg: every party holds it). */
  readonly consensusAccuracy: number;
  readonly messages: ProtocolMessage[];
}

export async function runFederated(s: FederatedSpec): Promise<FederatedResult> {
  const n = s.models.length;
  if (s.algorithm === 'fedmd' && !s.publicX)
    throw new KdError('BAD_CONFIG', "federated.public: FedMD needs a public transfer set (e.g. public: { dataset: 'mnist', n: 5000 })");
  const parts = splitParties(s.train.y, s.train.numClasses, n, s.split, s.seed);
  const dropRng = new Rng(`${s.seed}:drops`);
  const dropped = Array.from(
    { length: s.rounds },
    (_, r) =>
      new Set(
        Array.from({ length: n }, (_, p) => p).filter(
          (p) => dropRng.next() < s.drop.probability || s.drop.rounds.some(([rr, pp]) => rr === r + 1 && pp === p),
        ),
      ),
  );
  const messages: ProtocolMessage[] = [];
  const parties: PartyLink[] = [];
  try {
    for (let p = 0; p < n; p++)
      parties.push(
        await s.start(
          {
            index: p,
            model: s.models[p],
            seed: s.seed,
            private: subset(s.train, parts[p], `party ${p}`),
            publicX: s.algorithm === 'fedmd' || s.publicY ? s.publicX : undefined,
            publicY: s.publicY,
            test: s.test,
            batchSize: s.batchSize,
            lr: s.lr,
            threads: 1,
          },
          messages,
        ),
      );
    const ctx: FedContext = {
      parties,
      rounds: s.rounds,
      present: (r) => Array.from({ length: n }, (_, p) => p).filter((p) => !dropped[r - 1].has(p)),
      classes: s.train.numClasses,
      sampleCounts: parts.map((p) => p.length),
      publicSize: s.publicX ? s.publicX.length / s.test.sampleShape.reduce((a, b) => a * b, 1) : 0,
      options: s.options,
      rng: new Rng(`${s.seed}:${s.algorithm}`),
      each: (items, f) => mapLimit(items, s.concurrency, f),
      log: (e) => s.log?.(e),
    };
    // Public data is public: each party learns from its labels on its own, before the protocol starts.
    if (s.publicY)
      await ctx.each(
        ctx.parties.map((p) => p.index),
        (p) => parties[p].call('trainPublic', [s.options.publicEpochs]),
      );
    if (s.algorithm === 'fedmd') await fedmd(ctx);
    else if (s.algorithm === 'fd') await fd(ctx);
    else if (s.algorithm === 'fedavg') await fedavg(ctx, s.models);
    else await alone(ctx);
    const evals = await mapLimit(
      parties.map((p) => p.index),
      s.concurrency,
      (p) => parties[p].call<{ accuracy: number; logits: Float32Array; onnx: Uint8Array; parameters: number }>('evaluate', []),
    );
    const K = s.test.numClasses;
    const sum = new Float64Array(s.test.n * K);
    for (const e of evals) for (let j = 0; j < sum.length; j++) sum[j] += e.logits[j];
    const consensus = argmaxRows(sum, K);
    const correct = consensus.reduce((a, c, i) => a + (c === s.test.y[i] ? 1 : 0), 0);
    const bytes = (p: number, dir: 'up' | 'down') =>
      Array.from({ length: s.rounds }, (_, r) =>
        messages.filter((m) => m.party === p && m.round === r + 1 && m.direction === dir).reduce((a, m) => a + m.bytes, 0),
      );
    return {
      parties: evals.map((e, p) => ({
        index: p,
        model: s.models[p],
        samples: parts[p].length,
        classCounts: Array.from({ length: K }, (_, c) => parts[p].filter((i) => s.train.y[i] === c).length),
        accuracy: e.accuracy,
        parameters: e.parameters,
        onnx: e.onnx,
        bytesUp: bytes(p, 'up'),
        bytesDown: bytes(p, 'down'),
        dropped: dropped.flatMap((d, r) => (d.has(p) ? [r + 1] : [])),
      })),
      consensusAccuracy: correct / s.test.n,
      messages,
    };
  } finally {
    await Promise.all(parties.map((p) => p.release()));
  }
}

/** Runs `f` over `items` with at most `limit` in flight; results in the items' order. */
async function mapLimit<T>(items: readonly number[], limit: number, f: (p: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await f(items[k]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
