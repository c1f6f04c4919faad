/**
 * Named groups of samples that are not classes: a corpus' own collections (SpamAssassin's easy ham, hard ham, the two
 * spam drops), scored apart because one class can hold an easy group and a hard one, and a class subset cannot tell
 * them apart.
 */
import { KdError } from '../util/errors.js';
import type { Dataset } from './dataset.js';

/**
 * Each sample's group, indexed by its position in the collection the dataset was cut from (`sourceIndex`, else its own
 * index), so a subset or a split of the dataset keeps the table unchanged and still reads the right group.
 */
export interface SampleGroups {
  readonly names: readonly string[];
  readonly of: Uint8Array;
}

/** The group index of sample `i` of `ds`; -1 when the dataset has no groups. */
export function groupOf(ds: Pick<Dataset, 'groups' | 'sourceIndex'>, i: number): number {
  if (!ds.groups) return -1;
  return ds.groups.of[ds.sourceIndex ? ds.sourceIndex[i] : i];
}

/** Accuracy of `predictions` (one per sample of `ds`) within each group, with the group's sample count, in group order. */
export function groupAccuracy(
  ds: Pick<Dataset, 'groups' | 'sourceIndex' | 'y' | 'n' | 'name'>,
  predictions: ArrayLike<number>,
): Record<string, { n: number; accuracy: number }> {
  const g = ds.groups;
  if (!g) throw new KdError('BAD_ARGUMENT', `dataset '${ds.name}' has no sample groups to score`);
  if (predictions.length !== ds.n)
    throw new KdError('BAD_ARGUMENT', `groupAccuracy of '${ds.name}': ${predictions.length} predictions for ${ds.n} samples`);
  const n = new Array<number>(g.names.length).fill(0);
  const right = new Array<number>(g.names.length).fill(0);
  for (let i = 0; i < ds.n; i++) {
    const k = groupOf(ds, i);
    n[k]++;
    if (predictions[i] === ds.y[i]) right[k]++;
  }
  const out: Record<string, { n: number; accuracy: number }> = {};
  // Groups with no sample here (the training groups, on a test set) are left out rather than reported as 0 of 0.
  for (let k = 0; k < g.names.length; k++) if (n[k]) out[g.names[k]] = { n: n[k], accuracy: +(right[k] / n[k]).toFixed(4) };
  return out;
}
