import type { FedContext } from './context.js';

/**
 * FD (Jeong et al. 2018, "Communication-Efficient On-Device Machine Learning: Federated Distillation and
 * Augmentation under Non-IID Private Data"): each party reports only the mean class scores of its private samples
 * per label (K × K numbers and K counts); the coordinator averages them per label, and each party then trains with
 * cross-entropy plus a distillation term towards the average of the *other* parties' scores for each sample's label.
 * A label no other party reported is distilled towards the party's own mean (the paper does not say).
 */
export async function fd(c: FedContext): Promise<void> {
  const K = c.classes;
  let reports = new Map<number, { means: Float32Array; counts: Int32Array }>();
  for (let round = 1; round <= c.rounds; round++) {
    const present = c.present(round);
    if (!present.length) continue;
    await c.each(present, async (p) => {
      const { global, have } = othersMean(reports, p, K);
      if (!have.some((h) => h)) return c.parties[p].call('trainPrivate', [c.options.localEpochs]);
      return c.parties[p].call('trainWithLabelTargets', [c.options.localEpochs, global, have, c.options.distillWeight], {
        round,
        kind: 'label-targets',
        down: { global },
      });
    });
    const next = new Map<number, { means: Float32Array; counts: Int32Array }>();
    const ups = await c.each(present, (p) =>
      c.parties[p].call<{ means: Float32Array; counts: Int32Array }>('labelLogits', [], { round, kind: 'label-logits', up: (r) => r }),
    );
    present.forEach((p, k) => next.set(p, ups[k]));
    reports = next;
    c.log({ event: 'round', algorithm: 'fd', round, present });
  }
}

/** Per label, the count-weighted mean of the other parties' reported scores, and which labels any other party reported. */
function othersMean(reports: ReadonlyMap<number, { means: Float32Array; counts: Int32Array }>, self: number, K: number) {
  const global = new Float32Array(K * K),
    total = new Float64Array(K);
  for (const [q, r] of reports) {
    if (q === self) continue;
    for (let l = 0; l < K; l++) {
      if (!r.counts[l]) continue;
      total[l] += r.counts[l];
      for (let k = 0; k < K; k++) global[l * K + k] += r.counts[l] * r.means[l * K + k];
    }
  }
  const have = new Uint8Array(K);
  for (let l = 0; l < K; l++)
    if (total[l] > 0) {
      have[l] = 1;
      for (let k = 0; k < K; k++) global[l * K + k] /= total[l];
    }
  return { global, have };
}
