import { z } from 'zod';
import * as op from '../../../graph/ops.js';
import { peerScope } from '../../schemes/cohort.js';
import { STALE } from '../../schemes/stale-copies.js';
import { KdError } from '../../../util/errors.js';
import type { DistillMethod } from '../../method.js';
import { logSoftmaxT, mutualKl, peerLogits, peerOptions, sumPerPeer } from './peers.js';

const options = z.object({ ...peerOptions, temperature: z.number().positive().default(1) }).strict();

/**
 * Codistillation (Anil, Pereyra, Passos, Ormándi, Dahl & Hinton, ICLR 2018, "Large scale distributed
 * neural network training through online distillation"): like DML, each peer k of a cohort minimises
 * CE(y, p_k) + 1/(K−1)·Σ_{l≠k} KL(p_l ‖ p_k), but the targets p_l come from a *stale* copy of peer l
 * (its parameters as of the latest refresh, every `refreshEvery` steps), not from its live parameters.
 * In the paper the copies are checkpoints exchanged between distributed replicas, so the replicas need
 * not communicate every step; here all peers live in one graph and the copies are buffers of the cohort
 * (distill/schemes/stale-copies.ts `codistillationCohort`), which keeps the method's semantics: targets that lag and then jump.
 *
 * Differences from the paper, on purpose:
 * - The paper adds the distillation term only after a burn-in of plain training; here it is on from the
 *   first step (the stale copies start as the live initial values). Run a `ce` stage first and `init`
 *   from it for a burn-in.
 * - The paper's distillation loss is the cross-entropy with the teachers' mean prediction. CE is linear in
 *   its target, so that equals 1/(K−1)·Σ_{l≠k} CE(p_l, p_k), which differs from the KL form here only by
 *   the teachers' entropies, constants for the student: same gradients, and a term that is 0 when p_k = p_l.
 * - `temperature` (default 1, as in the paper) softens both sides with Hinton's T² factor when not 1.
 */
export const codistill: DistillMethod<z.infer<typeof options>> = {
  name: 'codistill',
  kind: 'online',
  description:
    'Anil et al. 2018 (codistillation): DML with stale peers, Σ_k CE + ' +
    '1/(K−1)·Σ_{l≠k} KL(p_l^stale ‖ p_k), copies refreshed every N steps',
  options,
  teacherOutputs: () => [],
  needs: () => ({ staleCopies: true }),
  loss({ student, labels }, o) {
    const zs = peerLogits(student, o.peers, 'codistill');
    const T = o.temperature;
    const stale = zs.map((_, l) => student[`${STALE}/${peerScope(l)}/logits`]);
    if (stale.some((v) => !v))
      throw new KdError(
        'BAD_LOSS',
        `codistill reads the peers' stale predictions (${STALE}/peer0/logits, …), the student has none; train ` +
          `a codistillation cohort (a stage with 'cohort' and 'refreshEvery', or codistillationCohort in code)`,
      );
    const lp = zs.map((zk) => logSoftmaxT(zk, T));
    // The cohort already detaches the stale pass; stopping here too keeps the term right for any student.
    const target = stale.map((zl) => op.stopGradient(logSoftmaxT(zl, T)));
    const kl = mutualKl(target, lp, T);
    return sumPerPeer(kl, zs, labels, o.withCe, 'codistill');
  },
};
