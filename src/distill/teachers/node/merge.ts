import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { KdError } from '../../../util/errors.js';
import type { StoreFormat } from '../codec.js';
import { MANIFESTS, readManifests, type FillManifest } from './fill-manifest.js';
import { ShardStore } from './store.js';

/** What `mergeCaches` did for one output store of the teacher. */
export interface MergedStore {
  /** The store's directory name, e.g. `logits.f32`. */
  store: string;
  /** Samples in the merged store, of which `added` were copied now and `duplicates` were found in more than one input. */
  entries: number;
  added: number;
  duplicates: number;
}

/** The outcome of a merge: the teacher's directory in the output, its stores, and which shards the manifests cover. */
export interface MergeReport {
  teacherDir: string;
  stores: MergedStore[];
  /** From the fill manifests: the shard count, the shards present, and those missing (killed, or not copied). */
  shards?: { count: number; present: number[]; missing: number[] };
}

const KEY_DIR = /^[0-9a-f]{32}$/;
const COPY_BATCH = 4096;

/** The teacher directories (`<dir>/<32 hex>/`) of one cache directory. */
function teacherDirs(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new KdError('BAD_CACHE', `${dir} is not a directory; give the cache directories that 'cache fill --dir' wrote`);
  return readdirSync(dir).filter((f) => KEY_DIR.test(f) && statSync(join(dir, f)).isDirectory());
}

/** The stores of one teacher directory, by directory name, with what their meta.json says. */
function storesOf(teacherDir: string): Map<string, { name: string; size: number; format: StoreFormat }> {
  const out = new Map<string, { name: string; size: number; format: StoreFormat }>();
  for (const f of readdirSync(teacherDir)) {
    const meta = join(teacherDir, f, 'meta.json');
    if (f !== MANIFESTS && existsSync(meta)) out.set(f, JSON.parse(readFileSync(meta, 'utf8')));
  }
  return out;
}

/** Manifests of several inputs must describe shards of one fill: one teacher, split, shard count and format. */
function checkManifests(all: { path: string; manifest: FillManifest }[]): MergeReport['shards'] {
  if (!all.length) return undefined;
  const a = all[0];
  const same = (m: FillManifest) =>
    [
      ['teacher', m.teacher.key, a.manifest.teacher.key],
      ['dataset', m.dataset, a.manifest.dataset],
      ['split', m.split, a.manifest.split],
      ['shard count', m.shard.count, a.manifest.shard.count],
      ['outputs', m.outputs.join(','), a.manifest.outputs.join(',')],
      ['format', JSON.stringify(m.format), JSON.stringify(a.manifest.format)],
    ] as const;
  for (const b of all.slice(1))
    for (const [what, x, y] of same(b.manifest))
      if (x !== y)
        throw new KdError(
          'CACHE_MISMATCH',
          `cache merge: ${b.path} and ${a.path} are not shards of one fill (${what}: ${x} vs ${y}); ` +
            'merge shards filled with the same teacher, dataset, split, --outputs, --dtype/--topk and shard count N',
        );
  const present = [...new Set(all.map((m) => m.manifest.shard.index))].sort((x, y) => x - y);
  const count = a.manifest.shard.count;
  return { count, present, missing: Array.from({ length: count }, (_, i) => i).filter((i) => !present.includes(i)) };
}

/**
 * Combines the teacher caches in `inputs` (directories `cache fill --dir` wrote, e.g. one per shard) into `out`:
 * the answers of one teacher, each sample once. Nothing is written unless the whole merge can go through: inputs
 * of different teachers, shards of different fills, or a sample answered differently in two places (including
 * what `out` already holds) are refused with both places named. Records are copied as stored, bit for bit.
 */
export function mergeCaches(inputs: readonly string[], out: string): MergeReport {
  if (!inputs.length) throw new KdError('BAD_OPTION', 'cache merge: give the cache directories to merge');
  const keyDirs = inputs.map((d) => ({ dir: d, keys: teacherDirs(d) }));
  const empty = keyDirs.find((k) => !k.keys.length);
  if (empty) throw new KdError('BAD_CACHE', `${empty.dir} holds no teacher cache (no <dir>/<32 hex characters>/ folder in it)`);
  const many = keyDirs.find((k) => k.keys.length > 1);
  const key = keyDirs[0].keys[0];
  const other = keyDirs.find((k) => k.keys[0] !== key);
  if (many || other)
    throw new KdError(
      'CACHE_MISMATCH',
      `cache merge: the inputs hold answers of more than one teacher ` +
        `(${keyDirs.map((k) => `${k.dir}: ${k.keys.join(', ')}`).join('; ')}); ` +
        'merge the caches of one teacher at a time',
    );
  const target = join(out, key);
  // Merging into one of the inputs is allowed: that input is then the output, read once.
  const sources = [...new Set(inputs.map((d) => resolve(d, key)))].filter((s) => s !== resolve(target));
  const shards = checkManifests([...sources, target].flatMap(readManifests));

  // Every store any input has, with one meta agreed by all.
  const metas = new Map<string, { name: string; size: number; format: StoreFormat; from: string }>();
  for (const src of [...sources, ...(existsSync(target) ? [target] : [])])
    for (const [store, meta] of storesOf(src)) {
      const seen = metas.get(store);
      if (!seen) metas.set(store, { ...meta, from: src });
      else if (seen.size !== meta.size || JSON.stringify(seen.format) !== JSON.stringify(meta.format))
        throw new KdError(
          'CACHE_MISMATCH',
          `cache merge: '${store}' holds ${meta.size} values per sample in ${src} and ${seen.size} in ${seen.from}; ` +
            'the teacher changed without its key changing, so these caches cannot be merged',
        );
    }

  // First pass: read and compare everything; the second copies, so a refused merge writes nothing.
  const plans = [...metas].map(([store, meta]) => {
    const opened = [...(existsSync(join(target, store)) ? [target] : []), ...sources.filter((s) => existsSync(join(s, store)))].map(
      (dir) => ({ dir, store: new ShardStore(join(dir, store), meta.name, meta.format) }),
    );
    const first = new Map<string, number>();
    let duplicates = 0;
    opened.forEach((o, k) => {
      for (const sample of o.store.keys()) {
        const j = first.get(sample);
        if (j === undefined) {
          first.set(sample, k);
          continue;
        }
        duplicates++;
        const x = opened[j].store.record(sample),
          y = o.store.record(sample);
        if (!x || !y || !Buffer.from(x).equals(Buffer.from(y))) {
          for (const p of opened) p.store.close();
          throw new KdError(
            'CACHE_CONFLICT',
            `cache merge: sample ${sample.slice(0, 16)}… has different '${meta.name}' answers in ${opened[j].dir} and ${o.dir}; ` +
              'they were filled by different teachers or data under one key, or the teacher is not deterministic. Nothing was merged',
          );
        }
      }
    });
    return { store, meta, opened, first, duplicates };
  });

  mkdirSync(target, { recursive: true });
  const stores = plans.map(({ store, meta, opened, first, duplicates }) => {
    const already = opened[0]?.dir === target ? opened[0].store : undefined;
    const dst = already ?? new ShardStore(join(target, store), meta.name, meta.format);
    let added = 0,
      keys: string[] = [],
      recs: Uint8Array[] = [];
    const flush = () => {
      dst.putRecords(keys, recs, meta.size);
      added += keys.length;
      keys = [];
      recs = [];
    };
    for (const [sample, k] of first) {
      if (opened[k].store === dst) continue;
      keys.push(sample);
      recs.push(opened[k].store.record(sample)!);
      if (keys.length >= COPY_BATCH) flush();
    }
    flush();
    const entries = dst.entries;
    for (const o of opened) o.store.close();
    dst.close();
    return { store, entries, added, duplicates };
  });
  for (const src of sources)
    for (const m of readManifests(src)) {
      mkdirSync(join(target, MANIFESTS), { recursive: true });
      copyFileSync(m.path, join(target, MANIFESTS, basename(m.path)));
    }
  return { teacherDir: target, stores, ...(shards ? { shards } : {}) };
}
