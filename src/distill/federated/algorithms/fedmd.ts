import type { FedContext } from './context.js';
import { weightedMean } from './context.js';

/**
 * FedMD (Li & Wang 2019, "FedMD: Heterogenous Federated Learning via Model Distillation"): parties of any
 * architecture first train on their private data; then each round a random subset of the public, unlabeled transfer
 * set is scored by every present party (communicate), the scores are averaged (aggregate), each party trains
 * towards the consensus on those samples (digest) and then on its private data again (revisit). Only class scores
 * on public samples leave a party. The paper's first phase, training on a labelled public set, is
 * `public: { labelled: true }` (run.ts does it for every algorithm, so baselines get it too). Differences from the
 * paper: the digest regresses the scores by mean squared error where the official code uses mean absolute error,
 * and the paper trains each phase to convergence where the config's epochs set the budget.
 */
export async function fedmd(c: FedContext): Promise<void> {
  const all = c.parties.map((p) => p.index);
  await c.each(all, (p) => c.parties[p].call('trainPrivate', [c.options.initEpochs]));
  for (let round = 1; round <= c.rounds; round++) {
    const present = c.present(round);
    if (!present.length) continue;
    const order = c.rng.shuffle(Int32Array.from({ length: c.publicSize }, (_, i) => i));
    const indices = Int32Array.from(order.subarray(0, Math.min(c.options.publicPerRound, c.publicSize))).sort();
    const scores = await c.each(present, (p) =>
      c.parties[p].call<Float32Array>('publicLogits', [indices], {
        round,
        kind: 'logits',
        down: { indices },
        up: (logits) => ({ logits }),
      }),
    );
    const consensus = weightedMean(
      scores,
      scores.map(() => 1),
    );
    await c.each(present, async (p) => {
      await c.parties[p].call('digest', [indices, consensus, c.options.digestEpochs], { round, kind: 'consensus', down: { consensus } });
      await c.parties[p].call('trainPrivate', [c.options.localEpochs]);
    });
    c.log({ event: 'round', algorithm: 'fedmd', round, present, publicSamples: indices.length });
  }
}
