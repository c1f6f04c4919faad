/**
 * MovieLens ratings as shipped by R's `dslabs` package (Debian: `r-cran-dslabs`): the 100,004 ratings of 671 users on
 * 9,066 movies of GroupLens' ml-latest-small (2016 snapshot), a data frame in the package's lazy-load database
 * (`data/Rdata.rdx` + `Rdata.rdb`). Read without R: the index and the object are zlib streams of R's serialization
 * format (src/data/rdata.ts). Importing this module registers `movielens` as an interaction dataset.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync, inflateSync } from 'node:zlib';
import { KdError } from '../../util/errors.js';
import {
  ratingLog,
  registerInteractionsDataset,
  type InteractionLog,
  type InteractionSplits,
  type InteractionsOptions,
  timeSplit,
} from '../interactions.js';
import { lazyLoadBlob, lazyLoadIndex, listField, readRSerialized, type RValue } from '../rdata.js';

/** R library folders searched for `dslabs/data` (Debian's first), before R_LIBS, R_LIBS_SITE and R_LIBS_USER. */
const R_LIBRARIES = [
  '/usr/lib/R/site-library',
  '/usr/local/lib/R/site-library',
  '/usr/lib/R/library',
  '/usr/local/lib/R/library',
  '/Library/Frameworks/R.framework/Resources/library',
];

/** Where the dslabs lazy-load database is: `dir` if given, else the first R library holding dslabs. */
export function dslabsDataDir(dir?: string): string {
  const has = (d: string) => existsSync(path.join(d, 'Rdata.rdx')) && existsSync(path.join(d, 'Rdata.rdb'));
  if (dir) {
    if (!has(dir))
      throw new KdError(
        'DATASET_MISSING',
        `dataset.path: ${dir} holds no Rdata.rdx and Rdata.rdb; give the 'data' folder of the dslabs R package ` +
          '(Debian: /usr/lib/R/site-library/dslabs/data)',
      );
    return dir;
  }
  const env = [process.env.R_LIBS, process.env.R_LIBS_SITE, process.env.R_LIBS_USER].flatMap((v) => (v ? v.split(':') : []));
  for (const lib of [...R_LIBRARIES, ...env]) {
    const d = path.join(lib, 'dslabs', 'data');
    if (has(d)) return d;
  }
  throw new KdError(
    'MISSING_PACKAGE',
    "the dataset movielens is read from R's dslabs package, which is not installed: on Debian or Ubuntu run " +
      '`apt-get install r-cran-dslabs` (R is not needed at run time), or in R `install.packages("dslabs")`; a folder ' +
      'holding its data/Rdata.rdx and Rdata.rdb (e.g. from `dpkg -x` of the .deb) can be given as dataset.path',
  );
}

/** One object of an R package's lazy-load database, read and decompressed. */
export function readLazyLoadObject(dir: string, name: string): RValue {
  const rdxFile = path.join(dir, 'Rdata.rdx');
  const index = lazyLoadIndex(gunzipSync(readFileSync(rdxFile)), rdxFile);
  const at = index.get(name);
  if (!at)
    throw new KdError('DATASET_INVALID', `${rdxFile} has no object '${name}' (it has ${[...index.keys()].slice(0, 8).join(', ')}, …)`);
  const rdbFile = path.join(dir, 'Rdata.rdb');
  const fd = readFileSync(rdbFile);
  const blob = lazyLoadBlob(fd.subarray(at.offset, at.offset + at.length));
  if (blob.method !== 'zlib' && blob.method !== 'none')
    throw new KdError(
      'DATASET_INVALID',
      `${rdbFile} stores '${name}' ${blob.method}-compressed; only zlib (R's default for installed data) is read`,
    );
  return readRSerialized(blob.method === 'zlib' ? inflateSync(blob.data) : blob.data, `${rdbFile} (${name})`);
}

/** The columns of the movielens data frame: userId, movieId, rating, timestamp, title. */
interface MovieLensColumns {
  readonly user: Int32Array;
  readonly item: Int32Array;
  readonly rating: Float64Array;
  readonly time: Int32Array;
  readonly title: readonly (string | null)[];
}

const cache = new Map<string, MovieLensColumns>();

/** The raw columns of dslabs' `movielens` (read once per folder). */
export function movieLensColumns(dir?: string): MovieLensColumns {
  const d = dslabsDataDir(dir);
  const hit = cache.get(d);
  if (hit) return hit;
  const df = readLazyLoadObject(d, 'movielens');
  const col = (name: string, type: RValue['type']) => {
    const c = listField(df, name);
    if (!c || c.type !== type)
      throw new KdError('DATASET_INVALID', `${d}: movielens has no ${type} column '${name}'; is this dslabs' data folder?`);
    return c;
  };
  const ints = (name: string) => (col(name, 'integer') as Extract<RValue, { data: Int32Array }>).data;
  const cols: MovieLensColumns = {
    user: ints('userId'),
    item: ints('movieId'),
    rating: (col('rating', 'double') as Extract<RValue, { type: 'double' }>).data,
    time: ints('timestamp'),
    title: (col('title', 'character') as Extract<RValue, { type: 'character' }>).data,
  };
  cache.set(d, cols);
  return cols;
}

/** MovieLens as an interaction log (users and movies numbered from 0 by ascending id), filtered as `o` says. */
export function movieLensLog(o: InteractionsOptions = {}): InteractionLog {
  const c = movieLensColumns(o.path);
  const titles = new Map<number, string>();
  c.item.forEach((id, r) => {
    if (!titles.has(id) && c.title[r]) titles.set(id, c.title[r]!);
  });
  return ratingLog(
    'movielens',
    { user: c.user, item: c.item, rating: c.rating, time: c.time },
    { minRating: o.minRating, minItemInteractions: o.minItemInteractions, itemName: (id) => titles.get(id) },
  );
}

/** MovieLens split by time within each user (see src/data/interactions.ts). */
export function loadMovieLens(o: InteractionsOptions = {}): InteractionSplits {
  return timeSplit(movieLensLog(o), { test: o.test, validation: o.validation });
}

registerInteractionsDataset('movielens', loadMovieLens);
