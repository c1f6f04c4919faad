import { KdError } from '../../util/errors.js';
import { ensembleKey, type Keyed } from './keys.js';
import type { Teacher } from '../../runtime/teacher.js';

/** A member of an ensemble: a source and its weight (default 1; weights are normalised to sum to 1). */
export interface EnsembleMember {
  source: Teacher & Keyed;
  weight?: number;
}

/**
 * Several teachers as one source: each member's logits become probabilities, these are averaged with the
 * weights, and the answer is the log of that mixture (so softmax of it is the mixture itself). Members are
 * asked in parallel. It answers `logits` only: features of different teachers do not average.
 */
export class EnsembleTeacher implements Teacher {
  /** Set when every member has a key: the members' keys with their weights. */
  readonly cacheKey?: string;
  private readonly members: { source: Teacher; logw: number }[];

  constructor(members: readonly (EnsembleMember | (Teacher & Keyed))[]) {
    const ms = members.map((m) => ('source' in m ? m : { source: m, weight: 1 }));
    if (ms.length === 0) throw new KdError('BAD_OPTION', 'an ensemble teacher needs at least one member');
    const bad = ms.findIndex((m) => !((m.weight ?? 1) > 0 && Number.isFinite(m.weight ?? 1)));
    if (bad >= 0) throw new KdError('BAD_OPTION', `ensemble member ${bad} has weight ${ms[bad].weight}; weights must be positive numbers`);
    const total = ms.reduce((s, m) => s + (m.weight ?? 1), 0);
    this.members = ms.map((m) => ({ source: m.source, logw: Math.log((m.weight ?? 1) / total) }));
    const keys = ms.map((m) => m.source.cacheKey);
    if (keys.every((k): k is string => k !== undefined))
      this.cacheKey = ensembleKey(keys.map((key, i) => ({ key, weight: ms[i].weight ?? 1 })));
  }

  async predictMany(x: Float32Array | BigInt64Array, shape: readonly number[], names: readonly string[]): Promise<Float32Array[]> {
    const other = names.find((n) => n !== 'logits');
    if (other !== undefined)
      throw new KdError(
        'BAD_OPTION',
        `an ensemble teacher answers only 'logits', and '${other}' was asked for; give feature terms a single teacher`,
      );
    const answers = await Promise.all(this.members.map((m) => m.source.predictMany(x, shape, ['logits']).then((r) => r[0])));
    const n = shape[0],
      C = answers[0].length / n;
    answers.forEach((a, k) => {
      if (a.length !== n * C)
        throw new KdError(
          'SHAPE_MISMATCH',
          `ensemble member ${k} answered ${a.length / n} logits per sample, member 0 answered ${C}; the members must share their classes`,
        );
    });
    const out = new Float32Array(n * C);
    const terms = new Float64Array(this.members.length);
    for (let i = 0; i < n; i++) {
      // log Σ_k w_k softmax_k(c), computed in log space: log w_k + log softmax_k(c), then log-sum-exp over k,
      // so that a class every member finds unlikely keeps a finite, exact log-probability.
      const lse = answers.map((a) => logSumExp(a.subarray(i * C, (i + 1) * C)));
      for (let c = 0; c < C; c++) {
        let mx = -Infinity;
        for (let k = 0; k < terms.length; k++) {
          terms[k] = this.members[k].logw + answers[k][i * C + c] - lse[k];
          mx = Math.max(mx, terms[k]);
        }
        let s = 0;
        for (let k = 0; k < terms.length; k++) s += Math.exp(terms[k] - mx);
        out[i * C + c] = mx + Math.log(s);
      }
    }
    return [out];
  }

  async release(): Promise<void> {
    await Promise.all(this.members.map((m) => m.source.release()));
  }
}

function logSumExp(row: Float32Array): number {
  let mx = -Infinity,
    s = 0;
  for (const v of row) mx = Math.max(mx, v);
  for (const v of row) s += Math.exp(v - mx);
  return mx + Math.log(s);
}
