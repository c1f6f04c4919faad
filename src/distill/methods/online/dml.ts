import { z } from 'zod';
import * as op from '../../../graph/ops.js';
import type { DistillMethod } from '../../method.js';
import { logSoftmaxT, mutualKl, peerLogits, peerOptions, sumPerPeer } from './peers.js';

const options = z.object({ ...peerOptions, temperature: z.number().positive().default(1) }).strict();

/**
 * Deep Mutual Learning (Zhang, Xiang, Hospedales & Lu, CVPR 2018): K peers (a cohort) learn together from
 * scratch; peer k minimises CE(y, p_k) + 1/(K−1)·Σ_{l≠k} KL(p_l ‖ p_k) with the other peers' predictions
 * as constants. This term is Σ_k of those objectives: with the targets detached, each peer's parameters get
 * exactly the gradient of its own objective, so one step updates every peer.
 *
 * Differences from the references, on purpose:
 * - The paper (Algorithm 1) updates the peers in turn within a mini-batch, recomputing predictions after
 *   each update, and the official TensorFlow code (YingZhangDUT/Deep-Mutual-Learning) likewise runs each
 *   peer's train op in its own session call. Here all peers step at once from the same predictions (one
 *   graph, one optimizer step): K forward passes per step instead of K², at the cost of targets one update older.
 * - The official code sums the KL terms over l ≠ k; the paper's 1/(K−1) is used (the same for K = 2, the
 *   official scripts' setting). Its 1e-8 guards inside the log are unneeded with log-softmax.
 * - `temperature` (default 1, as in the paper) softens both sides with Hinton's T² factor when not 1.
 */
export const dml: DistillMethod<z.infer<typeof options>> = {
  name: 'dml',
  kind: 'online',
  description: 'Zhang et al. 2018 (DML): every peer of a cohort learns from the others, Σ_k CE + 1/(K−1)·Σ_{l≠k} KL(p_l ‖ p_k)',
  options,
  teacherOutputs: () => [],
  loss({ student, labels }, o) {
    const zs = peerLogits(student, o.peers, 'dml');
    const T = o.temperature;
    const lp = zs.map((zk) => logSoftmaxT(zk, T));
    // Each peer's prediction as a target: a constant to the peer learning from it.
    const target = lp.map((l) => op.stopGradient(l));
    const kl = mutualKl(target, lp, T);
    return sumPerPeer(kl, zs, labels, o.withCe, 'dml');
  },
};
