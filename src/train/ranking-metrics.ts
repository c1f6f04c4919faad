/**
 * Top-k ranking quality of a recommender on held-out interactions: per user, every item is ranked by the model's
 * score except the user's known items (`Interactions.known`: for the test split the training and validation items),
 * and the held-out items are the relevant ones. NDCG@k = DCG/IDCG with binary relevance and 1/log2(position + 2);
 * Recall@k = relevant items in the top k / relevant items (with one held-out item per user, the hit rate). Both are
 * averaged over the users with held-out items. Ties go to the lower item index.
 */
import type { Dataset } from '../data/dataset.js';
import type { Interactions } from '../data/interactions.js';
import { KdError } from '../util/errors.js';

/** NDCG@k and Recall@k averaged over the users with held-out items. */
export interface RankingMetrics {
  readonly k: number;
  readonly ndcg: number;
  readonly recall: number;
  readonly users: number;
}

/** The held-out items of each user in `ds` (users in ascending order). */
export function heldOutByUser(ds: Dataset): Map<number, number[]> {
  if (!ds.ids || !ds.interactions)
    throw new KdError('BAD_ARGUMENT', `ranking metrics need interaction data; '${ds.name}' holds no users and items`);
  const by = new Map<number, number[]>();
  for (let i = 0; i < ds.n; i++) {
    const u = ds.ids[i];
    if (!by.has(u)) by.set(u, []);
    by.get(u)!.push(ds.y[i]);
  }
  return new Map([...by.entries()].sort((a, b) => a[0] - b[0]));
}

/**
 * NDCG@k and Recall@k from `scores` [users.length, items] (row j scores every item for `users[j]`), the relevant items
 * of each of those users and the known items to leave out.
 */
export function rankingMetrics(
  scores: Float32Array,
  users: ArrayLike<number>,
  relevant: ReadonlyMap<number, readonly number[]>,
  inter: Pick<Interactions, 'items' | 'known'>,
  k = 10,
): RankingMetrics {
  const I = inter.items;
  if (scores.length !== users.length * I)
    throw new KdError('BAD_ARGUMENT', `ranking metrics: ${scores.length} scores for ${users.length} users × ${I} items`);
  const { offsets, items } = inter.known;
  const skip = new Uint8Array(I);
  const top = new Int32Array(k);
  let ndcg = 0,
    recall = 0;
  for (let j = 0; j < users.length; j++) {
    const u = users[j];
    const rel = relevant.get(u) ?? [];
    const row = scores.subarray(j * I, (j + 1) * I);
    for (let q = offsets[u]; q < offsets[u + 1]; q++) skip[items[q]] = 1;
    // The k best unknown items by insertion into a sorted list: k is small, items are thousands.
    let m = 0;
    for (let i = 0; i < I; i++) {
      if (skip[i]) continue;
      const v = row[i];
      if (m === k && !(v > row[top[k - 1]])) continue;
      let p = m < k ? m++ : k - 1;
      while (p > 0 && v > row[top[p - 1]]) {
        top[p] = top[p - 1];
        p--;
      }
      top[p] = i;
    }
    for (let q = offsets[u]; q < offsets[u + 1]; q++) skip[items[q]] = 0;
    const want = new Set(rel);
    let dcg = 0,
      hits = 0;
    for (let p = 0; p < m; p++)
      if (want.has(top[p])) {
        dcg += 1 / Math.log2(p + 2);
        hits++;
      }
    let idcg = 0;
    for (let p = 0; p < Math.min(want.size, k); p++) idcg += 1 / Math.log2(p + 2);
    ndcg += idcg > 0 ? dcg / idcg : 0;
    recall += want.size ? hits / want.size : 0;
  }
  const n = Math.max(1, users.length);
  return { k, ndcg: ndcg / n, recall: recall / n, users: users.length };
}

/** Scores every item for a batch of user ids (int64 [n, 1]); row-major [n, items]. */
export type ScoreUsers = (users: BigInt64Array) => Promise<Float32Array>;

/** NDCG@k and Recall@k of a model (through `score`) on the held-out interactions of `ds`. */
export async function evaluateRanking(score: ScoreUsers, ds: Dataset, k = 10, batch = 256): Promise<RankingMetrics> {
  const relevant = heldOutByUser(ds);
  const users = Int32Array.from(relevant.keys());
  const I = ds.interactions!.items;
  const scores = new Float32Array(users.length * I);
  for (let s = 0; s < users.length; s += batch) {
    const part = users.subarray(s, s + batch);
    const out = await score(BigInt64Array.from(part, (u) => BigInt(u)));
    if (out.length !== part.length * I)
      throw new KdError('SHAPE_MISMATCH', `the model scores ${out.length / part.length} items per user; '${ds.name}' has ${I}`);
    scores.set(out, s * I);
  }
  return rankingMetrics(scores, users, relevant, ds.interactions!, k);
}
