import { KdError } from '../util/errors.js';
import type { Dataset, Split } from './dataset.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadMnist } from './mnist.js';

export {
  checkLabels,
  classCounts,
  sampleSize,
  stratifiedSplit,
  subset,
  take,
  type Dataset,
  type Split,
  type SplitOptions,
} from './dataset.js';
export { loadMnist } from './mnist.js';
export { FASHION_CLASS_NAMES, FASHION_SPLIT_SEED, loadFashionMnist, type FashionMnistOptions } from './fashion-mnist.js';
export { BatchIterator, batches, type Batch, type BatchOptions, type BatchState, type PartnerSampler } from './batches.js';
export { normaliseAugment, type AugmentOptions, type AugmentParams } from './augment.js';
export { loadImageFolder, type ImageFolderDataset, type ImageFolderOptions } from './image-folder.js';
export { encodeLabels, featureStats, loadCsv, type CsvDataset, type CsvOptions, type FeatureStats } from './csv.js';
export { loadJsonl, type JsonlOptions, type TextDataset } from './jsonl.js';
export {
  encodeText,
  fitTokenizer,
  parseTokenizer,
  tokenizerSize,
  PAD_ID,
  UNK_ID,
  type TokenizerKind,
  type TokenizerOptions,
  type TokenizerSpec,
} from './text.js';

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
