import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { peerCount, peerScope } from '../../schemes/cohort.js';
import { crossEntropy } from '../../../nn/losses.js';
import { KdError } from '../../../util/errors.js';

/** Options every online method shares: how many peers to read, and whether each peer's CE is part of the term. */
export const peerOptions = {
  /** Peers to read (`peer0/logits` … ); default: every peer the student (a cohort) outputs. */
  peers: z.number().int().min(2).optional(),
  /**
   * Add Σ_k CE(y, p_k): the plain `ce` term sees only `logits` (peer 0), so without this the other peers
   * would learn from their peers alone. Leave it on and do not add `ce` beside the term.
   */
  withCe: z.boolean().default(true),
};

/** The peers' logits among the student outputs, checked against the `peers` option. */
export function peerLogits(student: Readonly<Record<string, Value>>, peers: number | undefined, method: string): Value[] {
  const found = peerCount(student);
  const K = peers ?? found;
  if (K < 2 || found < K)
    throw new KdError(
      'BAD_LOSS',
      `${method} reads the logits of ${peers ?? 'at least 2'} peers (peer0/logits, peer1/logits, ` +
        `…), the student has ${found}; train a cohort of that many models (a stage with 'cohort')`,
    );
  return Array.from({ length: K }, (_, k) => student[`${peerScope(k)}/logits`]);
}

/** Mean over the batch of KL(target ‖ student) from log-probabilities [N, C], summed over classes. */
export function klRows(targetLogp: Value, studentLogp: Value): Value {
  return op.reduceMean(op.reduceSum(op.mul(op.exp(targetLogp), op.sub(targetLogp, studentLogp)), [-1]));
}

/** log softmax(z / T) along the classes. */
export function logSoftmaxT(z: Value, T: number): Value {
  return op.logSoftmax(T === 1 ? z : op.scale(z, 1 / T), -1);
}

/**
 * Σ_k (kl[k] + CE(y, z_k) when `withCe`), each peer's parts named (`kl_peer0`, `ce_peer0`, …) so they
 * can be fetched and inspected; the total is named after the method.
 */
export function sumPerPeer(kl: Value[], z: Value[], labels: Value, withCe: boolean, method: string): Value {
  let total: Value | undefined;
  kl.forEach((v, k) => {
    const named = op.identity(v, `kl_peer${k}`);
    const own = withCe ? op.add(named, crossEntropy(z[k], labels, `ce_peer${k}`)) : named;
    total = total ? op.add(total, own) : own;
  });
  return op.identity(total!, method);
}

/**
 * Per peer k: T²/(K−1)·Σ_{l≠k} KL(target_l ‖ p_k), the mutual term of DML and codistillation (`targets`
 * are the other peers' detached log-probabilities, live or stale; `logp` the peers' own).
 */
export function mutualKl(targets: readonly Value[], logp: readonly Value[], T: number): Value[] {
  const K = logp.length;
  return logp.map((lk, k) => {
    let sum: Value | undefined;
    for (let l = 0; l < K; l++) if (l !== k) sum = sum ? op.add(sum, klRows(targets[l], lk)) : klRows(targets[l], lk);
    return op.scale(sum!, (T * T) / (K - 1));
  });
}
