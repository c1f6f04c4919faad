import { KdError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { SampleGroups } from './groups.js';
import type { Interactions } from './interactions.js';

/** The two halves of a dataset with a held-out evaluation set. */
export type Split = 'train' | 'test';

/**
 * An in-memory labelled dataset: `n` samples stored row-major in `x` (each `sampleSize(ds)` values,
 * laid out as `sampleShape`, e.g. [1, 28, 28]) with integer class labels in `y`.
 * Uint8 data holds raw pixels (0-255); Float32 data holds features used as they are.
 */
export interface Dataset {
  readonly name: string;
  readonly x: Uint8Array | Float32Array;
  readonly y: Int32Array;
  readonly n: number;
  readonly sampleShape: readonly number[];
  readonly numClasses: number;
  readonly classNames?: readonly string[];
  /**
   * Position of each sample in the collection this dataset was cut from (absent means identity),
   * so splits can be checked for overlap even when the data holds duplicate images.
   */
  readonly sourceIndex?: Int32Array;
  /** What the samples are; absent when not stated (the bundled MNIST loaders hold images). */
  readonly kind?: 'image' | 'tabular' | 'text' | 'interactions';
  /**
   * Token ids (non-negative) of text datasets, `n` rows of `sampleShape[0]` (the sequence length), 0 = padding.
   * Such datasets also hold the same ids as float32 in `x`, so code that only knows `x` keeps working.
   */
  readonly ids?: Int32Array;
  /** Interaction data (`kind: 'interactions'`, ids = users, labels = items): each user's items a ranking skips. */
  readonly interactions?: Interactions;
  /** A corpus' own collections (not classes), scored apart in summaries; indexed by `sourceIndex`, so subsets keep it. */
  readonly groups?: SampleGroups;
}

/** Number of values per sample. */
export function sampleSize(ds: Pick<Dataset, 'sampleShape'>): number {
  let s = 1;
  for (const d of ds.sampleShape) s *= d;
  return s;
}

/**
 * Checks that `ds` has samples and that every label is a class index in [0, classes): a label outside
 * it gets no loss term in ONNX Runtime's cross-entropy (or reads past the logits), so training would
 * go on quietly wrong. Throws EMPTY_DATASET or BAD_LABELS naming the dataset, the first bad sample and value.
 */
export function checkLabels(ds: Pick<Dataset, 'name' | 'n' | 'y'>, classes: number): void {
  if (ds.n === 0)
    throw new KdError('EMPTY_DATASET', `dataset '${ds.name}' is empty (0 samples); check its path, filters and split fractions.`);
  const y = ds.y;
  let first = -1,
    bad = 0,
    max = -Infinity,
    min = Infinity;
  for (let i = 0; i < ds.n; i++) {
    const v = y[i];
    if (v > max) max = v;
    if (v < min) min = v;
    if (v < 0 || v >= classes) {
      bad++;
      if (first < 0) first = i;
    }
  }
  if (first < 0) return;
  const fix = min < 0 ? 'labels must be class indices from 0; fix the labels' : `use a model with ${max + 1} classes or fix the labels`;
  throw new KdError(
    'BAD_LABELS',
    `dataset '${ds.name}': sample ${first} has label ${y[first]}, outside the model's classes 0 to ${classes - 1} ` +
      `(${bad} of ${ds.n} samples out of range); ${fix}.`,
  );
}

/** Samples per class, indexed by label. */
export function classCounts(ds: Dataset): number[] {
  const counts = new Array<number>(ds.numClasses).fill(0);
  for (let i = 0; i < ds.n; i++) counts[ds.y[i]]++;
  return counts;
}

/** A new dataset holding copies of the samples at `indices`, in that order. */
export function subset(ds: Dataset, indices: ArrayLike<number>, name = ds.name): Dataset {
  const m = indices.length;
  const size = sampleSize(ds);
  const x = ds.x instanceof Uint8Array ? new Uint8Array(m * size) : new Float32Array(m * size);
  const y = new Int32Array(m);
  const sourceIndex = new Int32Array(m);
  const ids = ds.ids ? new Int32Array(m * size) : undefined;
  for (let k = 0; k < m; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= ds.n) {
      throw new KdError('INDEX_OUT_OF_RANGE', `subset of '${ds.name}': index ${i} at position ${k} is outside [0, ${ds.n}).`);
    }
    x.set(ds.x.subarray(i * size, (i + 1) * size), k * size);
    ids?.set(ds.ids!.subarray(i * size, (i + 1) * size), k * size);
    y[k] = ds.y[i];
    sourceIndex[k] = ds.sourceIndex ? ds.sourceIndex[i] : i;
  }
  return { ...ds, name, x, y, n: m, sourceIndex, ...(ids ? { ids } : {}) };
}

/**
 * The first `n` samples in dataset order, balanced across classes: each class gets an equal quota
 * (classes with too few samples give their share to the others), so a quick experiment on a
 * small prefix still sees every class. Deterministic, no seed; the result keeps dataset order.
 */
export function take(ds: Dataset, n: number, name = `${ds.name}[:${n}]`): Dataset {
  if (!Number.isInteger(n) || n < 0 || n > ds.n) {
    throw new KdError('BAD_ARGUMENT', `take(${n}) from '${ds.name}': n must be an integer in [0, ${ds.n}].`);
  }
  const avail = classCounts(ds);
  const quota = new Array<number>(ds.numClasses).fill(0);
  // Hand out one slot per class per round so the quotas differ by at most one where data allows.
  for (let left = n; left > 0; ) {
    for (let c = 0; c < ds.numClasses && left > 0; c++) {
      if (quota[c] < avail[c]) {
        quota[c]++;
        left--;
      }
    }
  }
  const picked = new Int32Array(n);
  let k = 0;
  for (let i = 0; i < ds.n && k < n; i++) {
    const c = ds.y[i];
    if (quota[c] > 0) {
      quota[c]--;
      picked[k++] = i;
    }
  }
  return subset(ds, picked, name);
}

/** How many samples per class go to validation: a fixed count, or a fraction of each class. */
export type SplitOptions = { seed: number } & ({ valPerClass: number; valFraction?: never } | { valFraction: number; valPerClass?: never });

/**
 * Splits `ds` into train and validation parts with the same class mix: per class (in label order)
 * the sample indices are shuffled with one `Rng(seed)` stream and the first k go to validation.
 * Both parts keep the original dataset order.
 */
export function stratifiedSplit(ds: Dataset, opts: SplitOptions): { train: Dataset; val: Dataset } {
  const { valPerClass, valFraction } = opts as { valPerClass?: number; valFraction?: number };
  if ((valPerClass === undefined) === (valFraction === undefined)) {
    throw new KdError('BAD_ARGUMENT', 'stratifiedSplit: give exactly one of valPerClass or valFraction.');
  }
  if (valFraction !== undefined && !(valFraction >= 0 && valFraction <= 1)) {
    throw new KdError('BAD_ARGUMENT', `stratifiedSplit: valFraction ${valFraction} is not in [0, 1].`);
  }
  const byClass: number[][] = Array.from({ length: ds.numClasses }, () => []);
  for (let i = 0; i < ds.n; i++) byClass[ds.y[i]].push(i);
  const rng = new Rng(opts.seed);
  const isVal = new Uint8Array(ds.n);
  for (let c = 0; c < ds.numClasses; c++) {
    const idx = byClass[c];
    const k = valFraction !== undefined ? Math.round(valFraction * idx.length) : valPerClass!;
    if (!Number.isInteger(k) || k < 0 || k > idx.length) {
      throw new KdError(
        'BAD_ARGUMENT',
        `stratifiedSplit of '${ds.name}': class ${c} has ${idx.length} samples, cannot take ${k} for validation.`,
      );
    }
    rng.shuffle(idx);
    for (let j = 0; j < k; j++) isVal[idx[j]] = 1;
  }
  const train: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < ds.n; i++) (isVal[i] ? val : train).push(i);
  return { train: subset(ds, train, `${ds.name}/train`), val: subset(ds, val, `${ds.name}/val`) };
}
