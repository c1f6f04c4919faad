import { z } from 'zod';
import { Rng } from '../../../util/rng.js';
import { classSimilarity, finalLayerWeights } from '../class-similarity.js';
import { dirichlet } from '../dirichlet.js';
import { invertInBatches, inversionGraph } from '../inversion.js';
import type { Synthesizer } from '../synthesizer.js';

const options = z.strictObject({
  /** Dirichlet scalings of the class-similarity concentration; the samples are split evenly among them (the paper: 1.0 and 0.1). */
  beta: z.array(z.number().positive()).min(1).default([1, 0.1]),
  /** Temperature of the teacher's prediction the impressions are optimised against (the paper: 20). */
  temperature: z.number().positive().default(20),
  /** Adam steps per batch (the paper: 1500) and learning rate (the paper: 0.01). */
  steps: z.int().positive().default(1500),
  lr: z.number().positive().default(0.01),
  batchSize: z.int().positive().default(100),
});

/**
 * ZSKD (Nayak et al., ICML 2019, "Zero-Shot Knowledge Distillation in Deep Networks"): data impressions. The class
 * similarity matrix comes from the cosine similarity of the teacher's final-layer weights (each row min-max scaled);
 * for class k, soft targets y ~ Dir(β·s_k) are sampled and inputs, starting from uniform noise, are optimised until
 * the teacher's prediction at temperature 20 matches y (cross-entropy), then the student learns from them by KD at
 * T = 20. Differences from the paper: a zero similarity is floored at 1e-3 so Dir(·) is defined (the paper does not
 * say), and inputs are clipped to the data's range after each step.
 */
export const zskd: Synthesizer<z.infer<typeof options>> = {
  name: 'zskd',
  description: 'Nayak et al. 2019: data impressions from Dirichlet soft targets of the class similarity of the final-layer weights',
  options,
  async synthesize(ctx, o) {
    const sim = classSimilarity(finalLayerWeights(ctx.teacher, ctx.source));
    const K = ctx.classes,
      targets = new Float32Array(ctx.n * K);
    const rng = new Rng(`${ctx.seed}:zskd`);
    // Sample i is of class i mod K and of β index ⌊i / K⌋ mod |β|: every class and β alike, whatever n is.
    for (let i = 0; i < ctx.n; i++) {
      const k = i % K,
        beta = o.beta[Math.floor(i / K) % o.beta.length];
      dirichlet(
        rng,
        sim[k].map((s) => beta * Math.max(s, 1e-3)),
        targets.subarray(i * K, (i + 1) * K),
      );
    }
    const graph = inversionGraph(
      ctx.teacher,
      ctx.sampleShape,
      { target: 1, temperature: o.temperature, bn: 0, firstBn: 1, tv: 0, l2: 0 },
      ctx.source,
    );
    return invertInBatches(ctx, graph, targets, { ...o, method: 'zskd' });
  },
};
