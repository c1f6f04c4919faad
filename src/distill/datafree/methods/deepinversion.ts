import { z } from 'zod';
import { invertInBatches, inversionGraph } from '../inversion.js';
import type { Synthesizer } from '../synthesizer.js';

const options = z.strictObject({
  /** Weight of the BatchNorm-statistics term (the official ImageNet script's r_feature: 0.01; this default suits small nets). */
  bnWeight: z.number().nonnegative().default(1),
  /** Extra weight of the first BatchNorm (official: 10). */
  firstBnMultiplier: z.number().nonnegative().default(10),
  /** Total-variation (ℓ2) prior (official tv_l2: 1e-4) and ℓ2 prior (official l2: 1e-5). */
  tvWeight: z.number().nonnegative().default(1e-4),
  l2Weight: z.number().nonnegative().default(1e-5),
  /** Adam steps per batch (official: 2000) and learning rate (official ImageNet: 0.25). */
  steps: z.int().positive().default(500),
  lr: z.number().positive().default(0.1),
  batchSize: z.int().positive().default(128),
});

/**
 * DeepInversion (Yin et al., CVPR 2020, "Dreaming to Distill"): inputs optimised from noise through the frozen
 * teacher so it predicts a chosen class (cross-entropy, each class equally often) while the batch statistics
 * entering every BatchNorm match its running statistics, with total-variation and ℓ2 priors. A teacher exported
 * with BatchNorm folded into its convolutions has no statistics to match: the run says so and uses the class term and
 * the priors only. Differences from the official code: no random jitter or flips of the batch between steps, no
 * multi-resolution schedule, and Adaptive DeepInversion's competition term with the student is not built yet.
 */
export const deepinversion: Synthesizer<z.infer<typeof options>> = {
  name: 'deepinversion',
  description: 'Yin et al. 2020: inputs optimised through the teacher to match its BatchNorm statistics, with TV and l2 priors',
  options,
  async synthesize(ctx, o) {
    const graph = inversionGraph(
      ctx.teacher,
      ctx.sampleShape,
      { target: 1, temperature: 1, bn: o.bnWeight, firstBn: o.firstBnMultiplier, tv: o.tvWeight, l2: o.l2Weight },
      ctx.source,
    );
    if (o.bnWeight > 0 && graph.bnLayers === 0)
      ctx.log?.({
        event: 'warning',
        message:
          `${ctx.source} has no BatchNormalization nodes (BatchNorm folded into its convolutions at export, or none at all): ` +
          "DeepInversion's feature-statistics term cannot apply, so only the class term and the TV and l2 priors are used. " +
          'Export the teacher with BatchNorm kept (PyTorch: torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE); ' +
          "kdistill: give the teacher's stage `export: { foldBatchNorm: false }`) for the full method.",
      });
    const K = ctx.classes,
      targets = new Float32Array(ctx.n * K);
    for (let i = 0; i < ctx.n; i++) targets[i * K + (i % K)] = 1;
    return invertInBatches(ctx, graph, targets, { ...o, method: 'deepinversion' });
  },
};
