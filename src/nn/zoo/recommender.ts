/**
 * Recommenders for interaction data (src/data/interactions.ts): a user id in (int64 [N, 1]), a score for every item
 * out (`logits` [N, items]), so the classifier core trains them with a softmax over items and every response-based
 * method distils them. `mf-<d>` is matrix factorisation, the score of item i the dot product of the user's embedding
 * with the item's plus the item's bias (the item embeddings are the weights of a `Linear` layer, [d, items]);
 * `mf-<d>-<h…>-<k>` puts an MLP (ReLU between layers) on the user's embedding first, a deeper user tower scored
 * against k-wide item embeddings.
 */
import * as op from '../../graph/ops.js';
import { KdError } from '../../util/errors.js';
import { Embedding } from '../layers/embedding.js';
import { Linear } from '../layers/linear.js';
import type { ModelDef } from '../model.js';
import type { ZooShape } from './registry.js';

const NAME = /^mf-[1-9]\d*(-[1-9]\d*)*$/;

/** Whether `name` names a recommender of this family (`mf-16`, `mf-64-256-64`). */
export function isRecommenderName(name: string): boolean {
  return NAME.test(name);
}

export interface RecommenderOptions {
  users: number;
  items: number;
  /** The user embedding's width, then the user tower's layer widths; the last is the width of the item embeddings. */
  widths: readonly number[];
  name?: string;
}

/** A factorisation model over `users` and `items` (see the file's comment). */
export function recommender(o: RecommenderOptions): ModelDef {
  const w = o.widths;
  return {
    name: o.name ?? `mf-${w.join('-')}`,
    inputs: { user: { dtype: 'int64', shape: ['N', 1] } },
    forward(ctx, { user }) {
      let h = op.reshape(new Embedding('user_embed', o.users, w[0]).apply(ctx, user), [0, -1], 'user_vec');
      for (let i = 1; i < w.length; i++) {
        const last = i === w.length - 1;
        h = new Linear(`tower${i}`, w[i - 1], w[i], { init: last ? 'glorot' : 'he' }).apply(ctx, h);
        if (!last) h = op.relu(h, `tower${i}_relu`);
      }
      // Glorot-scaled item embeddings keep the first scores near 0 against N(0, 1) user embeddings: a flat softmax.
      const scores = new Linear('items', w[w.length - 1], o.items).apply(ctx, h);
      return { logits: op.identity(scores, 'logits'), features: h };
    },
  };
}

/** The zoo's builder for `mf-…` names: users come as the data's vocabulary, items as its classes. */
export function recommenderFromName(name: string, shape: ZooShape): ModelDef {
  if (!shape.vocab || shape.inputShape.length !== 1 || shape.inputShape[0] !== 1)
    throw new KdError(
      'UNKNOWN_MODEL',
      `model '${name}' scores items for a user id: use it with an interaction dataset (dataset: { name: movielens })`,
    );
  return recommender({ users: shape.vocab, items: shape.classes, widths: name.slice(3).split('-').map(Number), name });
}
