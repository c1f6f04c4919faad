import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomic } from '../../../runtime/storage.js';
import { runtime } from '../../../runtime/runtime.js';
import { KdError } from '../../../util/errors.js';
import type { StoreFormat } from '../codec.js';

/**
 * Which shard of `count` a sample belongs to, from its content key (the sha256 the cache files it under): the
 * same partition on every machine and in any order of the data, and duplicates of a sample always land together.
 */
export const shardOf = (key: string, count: number): number => Number.parseInt(key.slice(0, 8), 16) % count;

/** Reads `i/N` (0 ≤ i < N) as a shard; anything else is a BAD_OPTION naming the flag. */
export function parseShard(v: string, flag = '--shard'): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const index = m ? Number(m[1]) : NaN,
    count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count)
    throw new KdError('BAD_OPTION', `${flag} must be i/N with 0 <= i < N (shard i of N, counted from 0), got '${v}'`);
  return { index, count };
}

/**
 * What one finished `cache fill` wrote, kept beside the answers (`<teacher dir>/fills/`): which teacher, data and
 * shard, and a digest of the sample keys, so `cache merge` can check shards belong together and see which are missing.
 * It is written last, so a fill that was killed has none.
 */
export interface FillManifest {
  version: 1;
  /** The teacher's full content key, and the file it was read from (for messages only). */
  teacher: { key: string; file: string };
  dataset: string;
  split: string;
  shard: { index: number; count: number };
  /** Samples of this shard, and of the whole split. */
  samples: number;
  splitSamples: number;
  outputs: string[];
  format: StoreFormat;
  /** sha256 of this shard's sample keys, sorted and joined by newlines. */
  keysSha256: string;
  finishedAt: string;
}

export const MANIFESTS = 'fills';

export const manifestName = (m: Pick<FillManifest, 'dataset' | 'split' | 'shard'>) =>
  `${encodeURIComponent(m.dataset)}-${m.split}-shard-${m.shard.index}-of-${m.shard.count}.json`;

/** The digest of a set of sample keys, whatever their order. */
export const keysDigest = (keys: readonly string[]): string => runtime().sha256(new TextEncoder().encode([...keys].sort().join('\n')));

export function writeManifest(teacherDir: string, m: FillManifest): string {
  const path = join(teacherDir, MANIFESTS, manifestName(m));
  mkdirSync(join(teacherDir, MANIFESTS), { recursive: true });
  writeAtomic(path, [`${JSON.stringify(m, null, 1)}\n`], { what: 'cache fill manifest' });
  return path;
}

/** The manifests of one teacher's directory, with the file each came from. */
export function readManifests(teacherDir: string): { path: string; manifest: FillManifest }[] {
  const dir = join(teacherDir, MANIFESTS);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const path = join(dir, f);
      try {
        return { path, manifest: JSON.parse(readFileSync(path, 'utf8')) as FillManifest };
      } catch (e) {
        throw new KdError('BAD_CACHE', `${path} is not a readable cache fill manifest (${(e as Error).message}); delete it and fill again`);
      }
    });
}
