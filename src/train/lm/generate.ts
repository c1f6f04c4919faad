/**
 * Text generation with a language model (any ONNX model taking int64 `ids` [N, L] and returning `logits` [N, L, V]):
 * greedy, or sampling at a temperature from the top-k tokens, seeded so the same seed gives the same text.
 */
import type { Predictor } from '../../runtime/inference.js';
import { ort } from '../../runtime/ort.js';
import { KdError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';

/** How each next token is chosen. */
export interface SampleOptions {
  /** 0: greedy (the most likely token); otherwise sample from softmax(logits / temperature). Default 1. */
  readonly temperature?: number;
  /** Sample among the k most likely tokens only; 0 (default): all. */
  readonly topK?: number;
  readonly seed?: number;
  /** Context the model sees: the last `maxLen` tokens (its position table's size); default: all. */
  readonly maxLen?: number;
}

/** The next token from one row of logits. */
export function sampleToken(logits: Float32Array, o: SampleOptions, rng: Rng): number {
  const t = o.temperature ?? 1;
  if (t < 0 || !Number.isFinite(t)) throw new KdError('BAD_ARGUMENT', `temperature must be ≥ 0, got ${t}`);
  let order = Array.from(logits.keys());
  if (t === 0 || (o.topK ?? 0) > 0) order.sort((a, b) => logits[b] - logits[a] || a - b);
  if (t === 0) return order[0];
  if ((o.topK ?? 0) > 0) order = order.slice(0, o.topK);
  let m = Number.NEGATIVE_INFINITY;
  for (const i of order) m = Math.max(m, logits[i] / t);
  const w = order.map((i) => Math.exp(logits[i] / t - m));
  let u = rng.next() * w.reduce((a, b) => a + b, 0);
  for (let k = 0; k < order.length; k++) {
    u -= w[k];
    if (u <= 0) return order[k];
  }
  return order[order.length - 1];
}

/**
 * Continues each row of `prompts` (all of one length) by `steps` tokens: one model run per new token over the batch.
 * Returns the rows [prompt + continuation] row-major. Row r draws from its own stream `seed:r`, so a row's text does not
 * depend on the batch it ran in.
 */
export async function generateBatch(
  p: Predictor,
  prompts: readonly (readonly number[])[],
  steps: number,
  o: SampleOptions = {},
): Promise<Int32Array> {
  const B = prompts.length,
    P = prompts[0]?.length ?? 0;
  if (!B || !P) throw new KdError('BAD_ARGUMENT', 'generation needs at least one prompt of at least one token');
  if (prompts.some((r) => r.length !== P)) throw new KdError('BAD_ARGUMENT', 'prompts of one batch must have one length');
  const total = P + steps;
  const rows = new Int32Array(B * total);
  prompts.forEach((r, b) => rows.set(r, b * total));
  const rngs = prompts.map((_, b) => new Rng(`${o.seed ?? 0}:${b}`));
  for (let len = P; len < total; len++) {
    const from = o.maxLen ? Math.max(0, len - o.maxLen) : 0,
      n = len - from;
    const ids = new BigInt64Array(B * n);
    for (let b = 0; b < B; b++) for (let i = 0; i < n; i++) ids[b * n + i] = BigInt(rows[b * total + from + i]);
    const logits = (await p.run(new ort.Tensor('int64', ids, [B, n]), ['logits'])).logits;
    const V = logits.dims[2],
      data = logits.data as Float32Array;
    for (let b = 0; b < B; b++) rows[b * total + len] = sampleToken(data.subarray((b * n + n - 1) * V, (b * n + n) * V), o, rngs[b]);
  }
  return rows;
}

/** `prompt` continued by `steps` tokens (see {@link generateBatch}). */
export async function generate(p: Predictor, prompt: readonly number[], steps: number, o: SampleOptions = {}): Promise<number[]> {
  return Array.from(await generateBatch(p, [prompt], steps, o));
}
