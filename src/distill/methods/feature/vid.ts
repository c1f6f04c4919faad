import { z } from 'zod';
import * as op from '../../../graph/ops.js';
import { Conv2d } from '../../../nn/layers/conv.js';
import { Linear } from '../../../nn/layers/linear.js';
import type { Module } from '../../../nn/module.js';
import { KdError } from '../../../util/errors.js';
import { nodePair, pairMethod, requireAux, requireSameSpatial } from './node-options.js';

const options = z
  .object({
    ...nodePair,
    /**
     * Width of the regressor's two hidden layers. Unset: the teacher's channel count, as RepDistiller
     * builds it (`VIDLoss(s, t, t)` in train_student.py passes the teacher width as num_mid_channel).
     */
    midChannels: z.number().int().positive().optional(),
    /** Initial variance of every channel, softplus(log_scale) + eps (RepDistiller's init_pred_var). */
    initVariance: z.number().positive().default(5),
    /** Floor added to the variance so it never reaches 0 (RepDistiller's eps). */
    eps: z.number().positive().default(1e-5),
  })
  .strict()
  .refine((o) => o.initVariance > o.eps, {
    message: 'initVariance must exceed eps (the variance is softplus(·) + eps)',
    path: ['initVariance'],
  });

/**
 * Variational information distillation (Ahn et al., CVPR 2019), following RepDistiller's VIDLoss (the
 * authors' code): a regressor (1×1 conv → ReLU → 1×1 conv → ReLU → 1×1 conv, no biases; linear layers for
 * flat [N, D] features) predicts the mean of a Gaussian over the teacher feature from the student's, with a
 * trainable per-channel variance softplus(log_scale) + eps; the loss is its negative log-likelihood
 * without the constant, 0.5·((μ − t)²/σ² + log σ²), averaged over all elements. Regressor and log_scale
 * are adapters (trained with the student, dropped at export). Unlike RepDistiller, which average-pools
 * the larger map to the smaller, spatial sizes must match: pick nodes of the same resolution.
 */
export const vid = pairMethod<z.infer<typeof options>>({
  name: 'vid',
  kind: 'feature',
  description:
    'Ahn et al. 2019: variational information distillation, Gaussian likelihood of teacher features (adapters dropped at export)',
  options,
  loss({ student, teacher, aux: maybeAux }, o) {
    const aux = requireAux('vid', 'a regressor and per-channel variances', maybeAux);
    const s = student[o.studentNode],
      t = teacher[o.teacherNode];
    const flat = s.rank === 2 && t.rank === 2;
    if (!flat && (s.rank !== 4 || t.rank !== 4))
      throw new KdError(
        'SHAPE_MISMATCH',
        `vid: student node '${o.studentNode}' [${s.shape.join(', ')}] and teacher node '${o.teacherNode}' ` +
          `[${t.shape.join(', ')}] must both be feature maps [N, C, H, W] or both flat [N, D]`,
      );
    if (!flat) requireSameSpatial('vid', o, s, t);
    const cs = s.shape[1] as number,
      ct = t.shape[1] as number,
      cm = o.midChannels ?? ct;
    const layer = (name: string, cin: number, cout: number): Module =>
      flat ? new Linear(name, cin, cout, { bias: false }) : new Conv2d(name, cin, cout, { kernel: 1, bias: false });
    let h = op.relu(layer('regressor1', cs, cm).apply(aux, s));
    h = op.relu(layer('regressor2', cm, cm).apply(aux, h));
    const mean = layer('regressor3', cm, ct).apply(aux, h);
    // softplus⁻¹(initVariance − eps), so that the first step sees exactly initVariance.
    const logScale = aux.param('log_scale', [ct], { kind: 'constant', value: Math.log(Math.expm1(o.initVariance - o.eps)) });
    const variance = op.addScalar(aux.g.node('Softplus', [logScale], {})[0], o.eps); // [C]
    const d = op.sub(mean, t);
    const perElement = op.div(op.mul(d, d), flat ? variance : op.reshape(variance, [ct, 1, 1]));
    // mean over (N, C, H, W) of log σ²_c is the mean over channels: every channel has the same element count.
    const nll = op.add(op.reduceMean(perElement), op.reduceMean(op.log(variance)));
    return op.scale(nll, 0.5, 'vid');
  },
});
