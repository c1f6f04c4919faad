import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import type { DistillMethod } from '../../method.js';
import { klRows, logSoftmaxT, peerLogits, peerOptions, sumPerPeer } from './peers.js';

const options = z
  .object({
    ...peerOptions,
    temperature: z.number().positive().default(3),
    /** `mean`: the average of the peers' logits; `best`: per sample, the logits of the peer with the lowest CE (KDCL-Naive). */
    ensemble: z.enum(['mean', 'best']).default('mean'),
  })
  .strict();

/** Per sample, the logits of the peer whose cross-entropy with the label is lowest (first on ties, as argmin). */
function bestPeer(zs: Value[], labels: Value): Value {
  const C = zs[0].shape[1] as number;
  const y = op.oneHot(labels, C);
  const nll = zs.map((zk) => op.neg(op.reduceSum(op.mul(y, op.logSoftmax(zk, -1)), [-1], true)));
  const pick = op.oneHot(op.argMax(op.neg(op.concat(nll, 1)), -1), zs.length);
  return zs.map((zk, k) => op.mul(op.slice(pick, [k], [k + 1], [1]), zk)).reduce((a, b) => op.add(a, b));
}

/**
 * An on-the-fly ensemble of the peers is the teacher of every peer: Σ_k T²·KL(softmax(ens/T) ‖ softmax(z_k/T))
 * with the ensemble detached, plus Σ_k CE(y, z_k) (`withCe`). `mean` averages the logits: ONE's ensemble
 * teacher (Lan, Zhu & Gong, NeurIPS 2018, T = 3 as in its official KLLoss) with a uniform gate over separate
 * peers instead of learned gates over branches of one network; `best` is KDCL-Naive (Guo et al., CVPR 2020).
 * Not included: ONE's CE on the ensemble (it trains the gate, absent here) and its ramp-up of the KL weight
 * over the first 80 epochs (a schedule on the term weight); ONE's 1e-7 added to the target is unneeded here.
 */
export const peerEnsemble: DistillMethod<z.infer<typeof options>> = {
  name: 'peer_ensemble',
  kind: 'online',
  description:
    "ONE / KDCL: the detached ensemble of a cohort's peers (mean logits, or the best peer per sample) teaches each peer, Σ_k CE + T²·KL",
  options,
  teacherOutputs: () => [],
  loss({ student, labels }, o) {
    const zs = peerLogits(student, o.peers, 'peer_ensemble');
    const T = o.temperature;
    const ens =
      o.ensemble === 'best'
        ? bestPeer(zs, labels)
        : op.scale(
            zs.reduce((a, b) => op.add(a, b)),
            1 / zs.length,
          );
    const target = op.stopGradient(logSoftmaxT(ens, T), 'ensemble_logp');
    const kl = zs.map((zk) => op.scale(klRows(target, logSoftmaxT(zk, T)), T * T));
    return sumPerPeer(kl, zs, labels, o.withCe, 'peer_ensemble');
  },
};
