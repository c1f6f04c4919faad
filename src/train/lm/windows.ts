/**
 * A token stream cut into training windows for a language model: window w holds tokens [w·L, w·L + L] (L + 1 of them),
 * its input the first L and its labels the last L, so every position has a next token and none is padding.
 */
import { KdError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';

/** Windows of one stream: `ids` [W, L] inputs and `labels` [W, L] next tokens, both row-major. */
export interface Windows {
  readonly count: number;
  readonly length: number;
  readonly ids: Int32Array;
  readonly labels: Int32Array;
}

/** Non-overlapping windows of `length` over `tokens` (the tail that fills no window is dropped). */
export function windowsOf(tokens: Int32Array, length: number, what = 'the text'): Windows {
  const count = Math.floor((tokens.length - 1) / length);
  if (count < 1)
    throw new KdError(
      'EMPTY_DATASET',
      `${what} has ${tokens.length} tokens: too few for one window of ${length} + 1; use a shorter seqLen`,
    );
  const ids = new Int32Array(count * length),
    labels = new Int32Array(count * length);
  for (let w = 0; w < count; w++) {
    ids.set(tokens.subarray(w * length, w * length + length), w * length);
    labels.set(tokens.subarray(w * length + 1, w * length + length + 1), w * length);
  }
  return { count, length, ids, labels };
}

/** Window order of one epoch: a seeded permutation. */
export function epochOrder(count: number, seed: number, epoch: number): Int32Array {
  const order = Int32Array.from({ length: count }, (_, i) => i);
  const rng = new Rng(`${seed}:lm-epoch:${epoch}`);
  for (let i = count - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Rows `rows` of a [W, L] array as int64 (what the model's `ids` and the step's `labels` take). */
export function gatherRows(src: Int32Array, length: number, rows: ArrayLike<number>): BigInt64Array {
  const out = new BigInt64Array(rows.length * length);
  for (let r = 0; r < rows.length; r++) for (let l = 0; l < length; l++) out[r * length + l] = BigInt(src[rows[r] * length + l]);
  return out;
}
