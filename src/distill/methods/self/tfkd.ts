import { z } from 'zod';
import * as op from '../../../graph/ops.js';
import { crossEntropy } from '../../../nn/losses.js';
import type { DistillMethod } from '../../method.js';

// Defaults are the official code's: `correct_prob` is hard-coded to 0.99 there (the paper speaks of
// a ≈ 0.9), and temperature/α/multiplier are its ResNet-18 CIFAR-100 params.json (reg_temperature 20,
// reg_alpha 0.1, multiplier 100; its MobileNetV2 run uses 40, 0.95, 1).
const options = z
  .object({
    /** Probability the virtual teacher puts on the correct class; the rest is spread evenly. */
    correctProb: z.number().gt(0).lt(1).default(0.99),
    /** Divides the virtual teacher's probabilities before its softmax (the student is not softened). */
    temperature: z.number().positive().default(20),
    /** Weight of the regulariser; the cross-entropy gets 1 − α. */
    alpha: z.number().min(0).max(1).default(0.1),
    /** Scales the KL, which the code averages over batch × classes. */
    multiplier: z.number().positive().default(100),
  })
  .strict();
type Options = z.infer<typeof options>;

/**
 * Tf-KD_reg (Yuan et al., CVPR 2020, "Revisiting Knowledge Distillation via Label Smoothing
 * Regularization"): distillation from a hand-made teacher, as `loss_kd_regularization` in the official
 * code computes it: (1 − α)·CE(y, p) + α·multiplier·KL(softmax(u/T) ‖ p), where u is `correctProb` on
 * the label and (1 − correctProb)/(K − 1) elsewhere, p = softmax(logits) at temperature 1, and the KL is
 * averaged over all batch × class elements (nn.KLDivLoss's 'mean'). The paper instead softens both sides
 * at temperature τ; the code's form is followed. The term includes its cross-entropy: use it instead of
 * `ce`, not beside it. No teacher is needed.
 */
export const tfkd: DistillMethod<Options> = {
  name: 'tfkd',
  kind: 'self',
  description:
    'Yuan et al. 2020 (Tf-KD_reg): (1−α)·CE + α·KL to a virtual teacher (correct ' +
    'class correctProb, rest uniform), as the official code; needs no teacher, replaces ce',
  options,
  teacherOutputs: () => [],
  loss({ student, labels }, o) {
    const z = student.logits;
    const K = z.shape[1] as number;
    const other = (1 - o.correctProb) / (K - 1);
    // softmax(u/T) depends only on u's differences, so the one-hot scaled by (a − b)/T gives the same teacher.
    const q = op.softmax(op.scale(op.oneHot(labels, K), (o.correctProb - other) / o.temperature), -1);
    const kl = op.reduceMean(op.mul(q, op.sub(op.log(q), op.logSoftmax(z, -1))));
    const ce = crossEntropy(z, labels, 'tfkd_ce');
    return op.add(op.scale(ce, 1 - o.alpha), op.scale(kl, o.alpha * o.multiplier), 'tfkd');
  },
};
