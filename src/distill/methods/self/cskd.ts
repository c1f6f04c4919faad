import { classPairs } from '../../samplers/class-pairs.js';
import { z } from 'zod';
import * as op from '../../../graph/ops.js';
import { A } from '../../../graph/types.js';
import { kdKl } from '../../../nn/losses.js';
import type { DistillMethod } from '../../method.js';

const options = z
  .object({
    /** Softens both predictions (the official code's --temp, 4). */
    temperature: z.number().positive().default(4),
  })
  .strict();
type Options = z.infer<typeof options>;

/**
 * CS-KD (Yun et al., CVPR 2020, "Regularizing Class-wise Predictions via Self-Knowledge Distillation"):
 * T²·KL(p(x′)^T ‖ p(x)^T) between each anchor x and another sample x′ of its class, the partner's side
 * detached; summed over classes and averaged over the anchors, as the official KDLoss. The method asks
 * for paired batches (`needs().partners`, the same-class sampler in distill/samplers/class-pairs.ts): the first
 * half of the batch are anchors, the second half their partners, so the loss compares the halves row by row. The
 * term weight is the paper's λ (1 there).
 *
 * Two differences from the official train.py, both from running the pair as one batch: its cross-entropy
 * covers the anchors only and the partners pass in a separate no-grad forward (BatchNorm statistics per
 * half), while here `ce` covers both halves and BatchNorm sees the whole paired batch.
 */
export const cskd: DistillMethod<Options> = {
  name: 'cskd',
  kind: 'self',
  description:
    'Yun et al. 2020 (CS-KD): T²·KL between the predictions of two samples ' +
    'of the same class (paired batches, partner detached); needs no teacher',
  options,
  teacherOutputs: () => [],
  needs: () => ({ partners: classPairs }),
  loss({ student }, o) {
    const z = student.logits;
    const [anchor, partner] = z.graph.node('Split', [z], { axis: A.i(0), num_outputs: A.i(2) }, { nOut: 2 });
    return kdKl(anchor, op.stopGradient(partner), o.temperature, 'cskd');
  },
};
