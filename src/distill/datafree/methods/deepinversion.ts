import { z } from 'zod';
import { Model } from '../../../nn/model.js';
import { zooModel } from '../../../nn/zoo/index.js';
import { KdError } from '../../../util/errors.js';
import { invertCompeting } from '../competition.js';
import { invertInBatches, inversionGraph, invertOptions } from '../inversion.js';
import type { Synthesizer } from '../synthesizer.js';

const competition = z.strictObject({
  /** Weight of 1 − JS(teacher ‖ student) (the official CIFAR-10 script's competitive_scale: 0.01; its flag's default 0). */
  weight: z.number().positive().default(1),
  /** Rounds the samples are made in; the student is distilled after each but the last (the paper: a batch per round). */
  rounds: z.int().min(2).default(10),
  /** The student's KD epochs on all samples so far after each round, its Adam learning rate and KD temperature. */
  epochs: z.int().positive().default(2),
  lr: z.number().positive().default(1e-3),
  kdTemperature: z.number().positive().default(4),
  /** Temperature of both softmaxes in the JS divergence (the official code: 3). */
  temperature: z.number().positive().default(3),
  /** A zoo model to compete with where there is no stage student (`kdistill synth`); a stage uses its own student. */
  student: z.string().min(1).optional(),
});

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
  /** Learning rate over a batch's steps (official ImageNet: cosine; CIFAR-10: constant). */
  schedule: z.enum(['constant', 'cosine']).default('constant'),
  batchSize: z.int().positive().default(128),
  /** Random roll by up to ± this many pixels before each step (official: 30 at 224 × 224, 2 at CIFAR's 32 × 32); 0: off. */
  jitter: z.int().nonnegative().default(0),
  /** Random left-right flip before each step (official: on; off by default here, digits are not mirror-symmetric). */
  flip: z.boolean().default(false),
  /** Adaptive DeepInversion: the competition term with the student, which is trained in rounds between the batches. */
  competition: competition.optional(),
});

/**
 * DeepInversion (Yin et al., CVPR 2020, "Dreaming to Distill"): inputs optimised from noise through the frozen
 * teacher so it predicts a chosen class (cross-entropy, each class equally often) while the batch statistics
 * entering every BatchNorm match its running statistics, with total-variation and ℓ2 priors. A teacher exported
 * with BatchNorm folded into its convolutions has no statistics to match: the run says so and uses the class term and
 * the priors only. `jitter` and `flip` are the official code's augmentation between steps (off by default); there is
 * no multi-resolution schedule, and the best-loss inputs of a batch are not kept (the last ones are).
 *
 * With `competition`, Adaptive DeepInversion (same paper, section 3.3): the objective adds 1 − JS(p_teacher ‖
 * p_student) at temperature 3, so new samples go where the student disagrees with the teacher. The student is the
 * stage's architecture (fresh), distilled by KD on all samples made so far after each of `rounds` rounds; the first
 * round has no competition term (an untrained student's disagreement says nothing). It is a competitor only: the stage
 * then trains its own fresh student on the finished samples. Differences from the paper and official code: JS is the
 * paper's, ½ KL(p_t ‖ m) + ½ KL(p_s ‖ m), where the official code computes ½ KL(m ‖ p_s) + ½ KL(m ‖ p_t) with the
 * probabilities clamped to [0.01, 0.99] and the divergence to [0, 1]; the official student trains between single
 * batches, here between rounds of several.
 */
export const deepinversion: Synthesizer<z.infer<typeof options>> = {
  name: 'deepinversion',
  description: 'Yin et al. 2020: inputs optimised through the teacher to match its BatchNorm statistics, with TV and l2 priors',
  options,
  async synthesize(ctx, o) {
    const terms = { target: 1, temperature: 1, bn: o.bnWeight, firstBn: o.firstBnMultiplier, tv: o.tvWeight, l2: o.l2Weight };
    const graph = inversionGraph(ctx.teacher, ctx.sampleShape, terms, ctx.source);
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
    if (!o.competition) return invertInBatches(ctx, graph, targets, { ...o, method: 'deepinversion' });
    const c = o.competition;
    const student = c.student ? new Model(zooModel(c.student, ctx.sampleShape, K), ctx.seed) : ctx.student?.();
    if (!student)
      throw new KdError(
        'BAD_OPTION',
        'dataFree.competition needs a student to compete with: run it in a stage, or name a zoo model (competition.student)',
      );
    return invertCompeting(ctx, student, terms, targets, { ...invertOptions(o, ctx), batchSize: o.batchSize, method: 'deepinversion' }, c);
  },
};
