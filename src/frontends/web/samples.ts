import { registerBundledDataset } from '../../data/bundled.js';
import type { Split } from '../../data/dataset.js';
import { unpackDataset } from '../../data/pack.js';
import { KdError } from '../../util/errors.js';

/** The bundled datasets a browser can load, and how many samples of each split its sample files hold. */
export const SAMPLE_DATASETS = {
  mnist: { train: 6000, test: 1000 },
  'fashion-mnist': { train: 6000, test: 1000 },
} as const;

/** A sample dataset's name. */
export type SampleName = keyof typeof SAMPLE_DATASETS;

/** The sample file of one split (`mnist-train.kds`), as scripts/build-web.mjs writes it. */
export const sampleFile = (name: SampleName, split: Split): string => `${name}-${split}.kds`;

/**
 * Fetches the page's own sample files (`<baseUrl>/<name>-<split>.kds`: stratified subsets of the official train
 * and test splits, sizes in {@link SAMPLE_DATASETS}) and registers them as the bundled datasets `mnist` and
 * `fashion-mnist`, so configs name them as on Node. Returns the names registered.
 */
export async function loadSamples(
  baseUrl = './samples/',
  names: readonly SampleName[] = ['mnist', 'fashion-mnist'],
): Promise<SampleName[]> {
  for (const name of names) {
    if (!(name in SAMPLE_DATASETS))
      throw new KdError('UNKNOWN_DATASET', `no sample of '${name}': the samples are ${Object.keys(SAMPLE_DATASETS).join(', ')}`);
    const splits = await Promise.all(
      (['train', 'test'] as const).map(async (split) => {
        const url = new URL(sampleFile(name, split), new URL(baseUrl, globalThis.location?.href)).href;
        const res = await fetch(url).catch((e: unknown) => {
          throw new KdError('DATASET_MISSING', `cannot fetch the ${name} sample ${url}: ${String(e)}`);
        });
        if (!res.ok) throw new KdError('DATASET_MISSING', `cannot fetch the ${name} sample ${url}: HTTP ${res.status}; is the app built?`);
        return [split, unpackDataset(new Uint8Array(await res.arrayBuffer()), url)] as const;
      }),
    );
    const bySplit = new Map<Split, ReturnType<typeof unpackDataset>>(splits);
    registerBundledDataset(name, (split) => {
      const ds = bySplit.get(split);
      if (!ds) throw new KdError('BAD_ARGUMENT', `the ${name} sample has no '${split}' split (it has train and test)`);
      return ds;
    });
  }
  return [...names];
}
