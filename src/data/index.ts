import { KdError } from '../util/errors.js';
import type { Dataset, Split } from './dataset.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadMnist } from './mnist.js';

export { classCounts, sampleSize, stratifiedSplit, subset, take, type Dataset, type Split, type SplitOptions } from './dataset.js';
export { loadMnist } from './mnist.js';
export { FASHION_CLASS_NAMES, FASHION_SPLIT_SEED, loadFashionMnist, type FashionMnistOptions } from './fashion-mnist.js';
export { BatchIterator, batches, type Batch, type BatchOptions, type BatchState } from './batches.js';

/** Names `loadDataset` accepts. */
export type DatasetName = 'mnist' | 'fashion-mnist';

/** Loads a bundled dataset split by name, for CLI flags and configs. */
export function loadDataset(name: DatasetName, split: Split): Dataset {
  switch (name) {
    case 'mnist':
      return loadMnist(split);
    case 'fashion-mnist':
      return loadFashionMnist(split);
    default:
      throw new KdError('UNKNOWN_DATASET', `Unknown dataset '${String(name)}'; choose 'mnist' or 'fashion-mnist'.`);
  }
}
