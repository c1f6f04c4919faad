import { KdError } from '../../util/errors.js';

/**
 * How a partial answer (top-k probabilities or a label) becomes full logits. The logits are
 * log-probabilities, so softmax(logits / T) is the answer's distribution sharpened or flattened by T.
 */
export interface PartialOptions {
  /**
   * Top-k answers: where the probability mass the answer does not list goes. 'spread' (default): evenly
   * over the unlisted classes, the maximum-entropy guess. 'drop': the listed probabilities are rescaled to
   * sum to 1 and the unlisted classes get only `floor`.
   */
  rest?: 'spread' | 'drop';
  /** Label answers: smoothing ε of the one-hot (default 0.1): 1 − ε + ε/C on the label, ε/C on every class. */
  labelSmoothing?: number;
  /** The least probability a class gets, so that its log stays finite (default 1e-6). */
  floor?: number;
}

/** Rows of numbers: one per sample (nested arrays, as JSON gives them) or flat row-major. */
export type Rows = Float32Array | readonly (readonly number[])[];

/**
 * What a function or HTTP teacher may answer for a batch of n samples: full `logits` (n rows of C), or
 * instead `topk` (n lists of [classIndex, probability]) or `label` (n class indices); other requested
 * outputs (feature nodes) by name, n rows each. A bare array or Float32Array means `{ logits }`.
 */
export type Answer =
  | Rows
  | { logits?: Rows; topk?: readonly (readonly (readonly [number, number])[])[]; label?: readonly number[]; [name: string]: unknown };

/**
 * Writes the logits (log-probabilities) of a top-k answer into `out` (one row of C): the listed
 * probabilities, the rest per `o.rest`, every class at least `o.floor`, renormalised to sum to 1.
 */
export function expandTopk(out: Float32Array, idx: ArrayLike<number>, prob: ArrayLike<number>, o: PartialOptions = {}): void {
  const C = out.length,
    k = idx.length;
  let listed = 0;
  for (let j = 0; j < k; j++) listed += prob[j];
  const rest = (o.rest ?? 'spread') === 'spread' ? (k < C ? Math.max(0, 1 - listed) / (C - k) : 0) : 0;
  const scale = o.rest === 'drop' && listed > 0 ? 1 / listed : 1;
  out.fill(rest);
  for (let j = 0; j < k; j++) out[idx[j]] = prob[j] * scale;
  toLogProbs(out, o.floor ?? 1e-6);
}

/** In place: probabilities (floored) → log of the renormalised probabilities. */
function toLogProbs(p: Float32Array, floor: number): void {
  let s = 0;
  for (let c = 0; c < p.length; c++) s += p[c] = Math.max(p[c], floor);
  for (let c = 0; c < p.length; c++) p[c] = Math.log(p[c] / s);
}

/**
 * Turns a teacher's answer for `n` samples into one flat Float32Array per requested name. `classes` is
 * the size of a logits row; other outputs take their size from the answer (equal for every sample).
 * Every problem is a BAD_TEACHER_ANSWER error that starts with `who` and says what was wrong.
 */
export function readAnswer(
  answer: unknown,
  n: number,
  names: readonly string[],
  classes: number,
  o: PartialOptions,
  who: string,
): Float32Array[] {
  const bad = (msg: string) => new KdError('BAD_TEACHER_ANSWER', `${who}: ${msg}`);
  const a = (answer instanceof Float32Array || Array.isArray(answer) ? { logits: answer } : answer) as Record<string, unknown>;
  if (typeof a !== 'object' || a === null)
    throw bad(
      `answered ${a === null ? 'null' : typeof a}; expected logits (n rows of ${classes}) or an object with 'logits', 'topk' or 'label'`,
    );
  return names.map((name) => {
    if (name !== 'logits' || a.logits !== undefined) {
      if (a[name] === undefined) throw bad(`the answer has no '${name}' (it has: ${Object.keys(a).join(', ') || 'nothing'})`);
      return rows(a[name], n, name === 'logits' ? classes : undefined, name, bad);
    }
    if (a.topk !== undefined) return fromTopk(a.topk, n, classes, o, bad);
    if (a.label !== undefined) return fromLabels(a.label, n, classes, o, bad);
    throw bad(`the answer has none of 'logits', 'topk', 'label' (it has: ${Object.keys(a).join(', ') || 'nothing'})`);
  });
}

type Bad = (msg: string) => KdError;

function rows(v: unknown, n: number, size: number | undefined, name: string, bad: Bad): Float32Array {
  if (v instanceof Float32Array) {
    if (v.length !== n * (size ?? v.length / n) || !Number.isInteger(v.length / n))
      throw bad(
        `'${name}' has ${v.length} values for ${n} samples${size ? ` of ${size}` : ''}; expected ${size ? n * size : `a multiple of ${n}`}`,
      );
    return v;
  }
  if (!Array.isArray(v)) throw bad(`'${name}' is ${typeof v}, expected an array of ${n} rows`);
  if (v.length !== n) throw bad(`'${name}' has ${v.length} rows for a batch of ${n} samples`);
  const m = size ?? (Array.isArray(v[0]) ? v[0].length : 0);
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    const r = v[i];
    if (!Array.isArray(r)) throw bad(`'${name}' row ${i} is ${JSON.stringify(r)?.slice(0, 40)}, expected an array of numbers`);
    if (r.length !== m)
      throw bad(`'${name}' row ${i} has ${r.length} values, expected ${m}${size ? ` (the teacher's classes)` : ' (as row 0)'}`);
    for (let c = 0; c < m; c++) {
      if (typeof r[c] !== 'number' || !Number.isFinite(r[c]))
        throw bad(`'${name}' row ${i} value ${c} is ${JSON.stringify(r[c])}, expected a finite number`);
      out[i * m + c] = r[c];
    }
  }
  return out;
}

function fromTopk(v: unknown, n: number, C: number, o: PartialOptions, bad: Bad): Float32Array {
  if (!Array.isArray(v) || v.length !== n)
    throw bad(`'topk' must be ${n} lists of [classIndex, probability], got ${Array.isArray(v) ? `${v.length} lists` : typeof v}`);
  const out = new Float32Array(n * C);
  for (let i = 0; i < n; i++) {
    const list = v[i];
    if (!Array.isArray(list) || list.length === 0 || list.length > C)
      throw bad(`'topk' row ${i} must list 1 to ${C} [classIndex, probability] pairs`);
    const idx: number[] = [],
      prob: number[] = [];
    let sum = 0;
    for (const e of list) {
      const ok =
        Array.isArray(e) &&
        e.length === 2 &&
        Number.isInteger(e[0]) &&
        e[0] >= 0 &&
        e[0] < C &&
        typeof e[1] === 'number' &&
        e[1] >= 0 &&
        e[1] <= 1;
      if (!ok) throw bad(`'topk' row ${i} has ${JSON.stringify(e)?.slice(0, 40)}; expected [classIndex 0..${C - 1}, probability 0..1]`);
      if (idx.includes(e[0])) throw bad(`'topk' row ${i} lists class ${e[0]} twice`);
      idx.push(e[0]);
      prob.push(e[1]);
      sum += e[1];
    }
    // A little over 1 is rounding; much more means the answer holds scores, not probabilities.
    if (sum > 1.01) throw bad(`'topk' row ${i} probabilities sum to ${sum.toFixed(3)} > 1; send probabilities, not logits`);
    expandTopk(out.subarray(i * C, (i + 1) * C), idx, prob, o);
  }
  return out;
}

function fromLabels(v: unknown, n: number, C: number, o: PartialOptions, bad: Bad): Float32Array {
  if (!Array.isArray(v) || v.length !== n)
    throw bad(`'label' must be ${n} class indices, got ${Array.isArray(v) ? `${v.length}` : typeof v}`);
  const eps = o.labelSmoothing ?? 0.1;
  const out = new Float32Array(n * C);
  for (let i = 0; i < n; i++) {
    const y = v[i];
    if (!Number.isInteger(y) || y < 0 || y >= C) throw bad(`'label' ${i} is ${JSON.stringify(y)}, expected a class index 0..${C - 1}`);
    const row = out.subarray(i * C, (i + 1) * C);
    row.fill(eps / C);
    row[y] += 1 - eps;
    toLogProbs(row, o.floor ?? 1e-6);
  }
  return out;
}
