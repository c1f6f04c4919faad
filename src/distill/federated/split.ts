import { Rng } from '../../util/rng.js';
import { KdError } from '../../util/errors.js';
import { dirichlet } from '../datafree/dirichlet.js';

/** How private data is dealt to parties: by a Dirichlet over parties per class (α small: skewed), or k classes each. */
export type PartySplit = { readonly dirichlet: number } | { readonly classesPerParty: number };

/**
 * Deals the sample indices of `labels` to `parties` parties, non-IID, seeded. Dirichlet: each class's samples are
 * divided among the parties in proportions drawn from Dir(α, …, α) (Hsu et al. 2019). Classes per party: party p
 * gets classes p·k … p·k + k − 1 (mod the class count), and each class's samples are divided evenly among the
 * parties that have it. Every party gets at least one sample, or the split is refused.
 */
export function splitParties(labels: Int32Array, classes: number, parties: number, split: PartySplit, seed: number): Int32Array[] {
  const rng = new Rng(`${seed}:parties`);
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  labels.forEach((y, i) => byClass[y].push(i));
  for (const c of byClass) rng.shuffle(c);
  const out: number[][] = Array.from({ length: parties }, () => []);
  if ('dirichlet' in split) {
    for (const idx of byClass) {
      const p = dirichlet(rng, new Array<number>(parties).fill(split.dirichlet));
      let start = 0,
        acc = 0;
      p.forEach((share, k) => {
        acc += share;
        const end = k === parties - 1 ? idx.length : Math.round(acc * idx.length);
        out[k].push(...idx.slice(start, end));
        start = end;
      });
    }
  } else {
    const k = split.classesPerParty;
    if (!(Number.isInteger(k) && k >= 1 && k <= classes))
      throw new KdError('BAD_CONFIG', `federated.split.classesPerParty: give 1 … ${classes}, got ${k}`);
    const holders: number[][] = Array.from({ length: classes }, () => []);
    for (let p = 0; p < parties; p++) for (let j = 0; j < k; j++) holders[(p * k + j) % classes].push(p);
    byClass.forEach((idx, c) => {
      const hs = holders[c];
      hs.forEach((p, j) =>
        out[p].push(...idx.slice(Math.round((j * idx.length) / hs.length), Math.round(((j + 1) * idx.length) / hs.length))),
      );
    });
  }
  const empty = out.findIndex((o) => o.length === 0);
  if (empty >= 0)
    throw new KdError(
      'BAD_CONFIG',
      `federated.split: party ${empty} gets no samples (${parties} parties); raise the Dirichlet α, or give fewer parties or more data`,
    );
  return out.map((o) => Int32Array.from(o.sort((a, b) => a - b)));
}
