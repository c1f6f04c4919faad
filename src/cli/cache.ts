import type { Command } from 'commander';
import { batches, subset, type Dataset, type Split } from '../data/index.js';
import { loadDataset, type DatasetName } from '../data/node/index.js';
import { TeacherCache, DEFAULT_CACHE_DIR } from '../distill/teachers/cache.js';
import { onnxKey } from '../distill/teachers/keys.js';
import { PoolTeacher } from '../distill/teachers/pool.js';
import { defaultThreads } from '../runtime/ort.js';
import { WorkerTeacher } from '../runtime/node/worker-teacher.js';
import { KdError } from '../util/errors.js';
import { readInput } from '../runtime/storage.js';
import { runtime } from '../runtime/runtime.js';
import { keysDigest, parseShard, shardOf, writeManifest } from '../distill/teachers/node/fill-manifest.js';
import { mergeCaches } from '../distill/teachers/node/merge.js';
import { fillLocalShards } from './cache-local.js';

export interface FillOptions {
  dataset: string;
  split: string;
  workers?: string;
  batch: string;
  dir: string;
  outputs: string;
  dtype: string;
  topk?: string;
  /** `i/N`: fill only shard i of N (a deterministic partition by sample content). */
  shard?: string;
  /** With `local`: N processes on this machine, one per shard, into the same directory. */
  shards?: string;
  local?: boolean;
  /** No progress or summary lines (in-process use). */
  quiet?: boolean;
}

const positive = (v: string, flag: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new KdError('BAD_OPTION', `--${flag} must be a positive integer, got '${v}'`);
  return n;
};

/** `cache fill`: a dataset's teacher outputs computed once, by several worker threads, into the teacher cache. */
export function registerCache(program: Command): void {
  const cache = program.command('cache').description('the on-disk cache of teacher outputs');
  cache
    .command('fill <teacher.onnx>')
    .description("precompute a dataset's teacher outputs into the cache (unaugmented samples, as training without augmentation reads them)")
    .option('--dataset <name>', 'mnist | fashion-mnist', 'mnist')
    .option('--split <split>', 'train | test', 'train')
    .option('--workers <n>', 'teacher worker threads (default: all cores)')
    .option('--batch <n>', 'samples per teacher call', '256')
    .option('--dir <dir>', 'cache directory', DEFAULT_CACHE_DIR)
    .option('--outputs <names>', 'teacher outputs to cache, comma-separated', 'logits')
    .option('--dtype <type>', 'float32 | float16', 'float32')
    .option('--topk <k>', 'store only the k most probable classes of logits')
    .option(
      '--shard <i/N>',
      'fill only shard i of N (0-based; the same partition on every machine), e.g. $JOB_COMPLETION_INDEX/8 in an Indexed Job',
    )
    .option('--shards <N>', 'with --local: fill all N shards, one process each, into --dir')
    .option('--local', 'run the --shards processes on this machine')
    .action(async (file: string, o: FillOptions) => {
      if (o.shards !== undefined) {
        if (!o.local)
          throw new KdError(
            'BAD_OPTION',
            `--shards ${o.shards} runs the shards here with --local; to spread them over machines run one ` +
              "'cache fill --shard i/N' per machine (deploy/kubernetes/ has an Indexed Job that does) and 'cache merge' their directories",
          );
        if (o.shard) throw new KdError('BAD_OPTION', '--shard i/N fills one shard, --shards N all of them: give one of the two');
        await fillLocalShards(file, o, positive(o.shards, 'shards'));
      } else await fillCache(file, o);
    });
  cache
    .command('merge <cache-dir...>')
    .description('combine teacher caches (e.g. one per shard) into one, checking they come from one teacher and fill')
    .requiredOption('--out <dir>', 'the merged cache directory (may be one of the inputs)')
    .action((dirs: string[], o: { out: string }) => {
      const r = mergeCaches(dirs, o.out);
      for (const s of r.stores)
        console.log(`${r.teacherDir}/${s.store}: ${s.entries} samples (${s.added} added, ${s.duplicates} found in more than one input)`);
      if (r.shards)
        console.log(
          `shards present: ${r.shards.present.join(', ')} of ${r.shards.count}` +
            (r.shards.missing.length ? `; missing: ${r.shards.missing.join(', ')} (fill them with --shard i/${r.shards.count})` : ''),
        );
    });
}

/** What `cache fill` does, callable in-process; returns the samples found cached and computed. */
export async function fillCache(file: string, o: FillOptions): Promise<{ hits: number; misses: number }> {
  if (o.dataset !== 'mnist' && o.dataset !== 'fashion-mnist')
    throw new KdError('UNKNOWN_DATASET', `--dataset: unknown dataset '${o.dataset}'; choose 'mnist' or 'fashion-mnist'`);
  if (o.split !== 'train' && o.split !== 'test') throw new KdError('BAD_OPTION', `--split must be 'train' or 'test', got '${o.split}'`);
  if (o.dtype !== 'float32' && o.dtype !== 'float16')
    throw new KdError('BAD_OPTION', `--dtype must be 'float32' or 'float16', got '${o.dtype}'`);
  const workers = o.workers ? positive(o.workers, 'workers') : defaultThreads(),
    batch = positive(o.batch, 'batch');
  const names = o.outputs
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bytes = readInput(file, 'teacher');
  const all = loadDataset(o.dataset as DatasetName, o.split as Split);
  const shard = o.shard === undefined ? undefined : parseShard(o.shard);
  const { ds, keys } = shard ? shardSamples(all, shard) : { ds: all, keys: undefined };
  const members = await Promise.all(Array.from({ length: workers }, () => WorkerTeacher.start(bytes, 1)));
  const missing = names.find((n) => !members[0].outputs.includes(n));
  if (missing) {
    await Promise.all(members.map((m) => m.release()));
    throw new KdError('BAD_OPTION', `${file} has no output named '${missing}' (its outputs: ${members[0].outputs.join(', ')})`);
  }
  const key = onnxKey(bytes);
  const teacher = new TeacherCache(new PoolTeacher(members), {
    key,
    dir: o.dir,
    dtype: o.dtype,
    topk: o.topk ? positive(o.topk, 'topk') : undefined,
  });
  const t0 = Date.now(),
    tty = !!process.stderr.isTTY;
  let done = 0,
    lastShown = -1;
  const show = (end = false) => {
    const pct = Math.floor((100 * done) / ds.n),
      s = teacher.stats();
    if (o.quiet || (!end && (tty ? pct === lastShown : pct < lastShown + 10))) return;
    lastShown = pct;
    const line =
      `cache fill ${o.dataset}/${o.split}${shard ? ` shard ${o.shard}` : ''}: ${done}/${ds.n} (${pct}%) hits ` +
      `${s.hits} misses ${s.misses} ${((Date.now() - t0) / 1000).toFixed(1)} s`;
    process.stderr.write(tty ? `\r${line}${end ? '\n' : ''}` : `${line}\n`);
  };
  try {
    // Enough batches in flight to keep every worker busy; the iterator's buffers may be reused as soon
    // as predictMany returns, because the cache hashes and copies what it needs before it awaits.
    const inFlight = new Set<Promise<void>>();
    for (const b of batches(ds, { batchSize: batch, shuffle: false })) {
      const p: Promise<void> = teacher.predictMany(b.x, b.shape, names).then(() => {
        done += b.size;
        inFlight.delete(p);
        show();
      });
      // A failure surfaces through Promise.race / Promise.all; the catch keeps the others from going unhandled.
      p.catch(() => {});
      inFlight.add(p);
      if (inFlight.size >= 2 * workers) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    show(true);
    const s = teacher.stats();
    const format = { dtype: o.dtype, ...(o.topk ? { topk: positive(o.topk, 'topk') } : {}) } as const;
    // Last, so that a fill that was killed leaves no manifest and a merge reports its shard missing.
    writeManifest(s.dir, {
      version: 1,
      teacher: { key, file },
      dataset: o.dataset,
      split: o.split,
      shard: shard ?? { index: 0, count: 1 },
      samples: ds.n,
      splitSamples: all.n,
      outputs: names,
      format,
      keysSha256: keysDigest(keys ?? sampleKeys(all)),
      finishedAt: new Date().toISOString(),
    });
    if (!o.quiet)
      console.log(
        `${file} → ${s.dir}: ${ds.n} ${o.dataset}/${o.split} samples${shard ? ` (shard ${o.shard} of ${all.n})` : ''}, ` +
          `${s.hits} already cached, ${s.misses} computed with ${workers} worker(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    return { hits: s.hits, misses: s.misses };
  } finally {
    await teacher.release();
  }
}

/** Each sample's content key, as the teacher cache computes it (sha256 of the batch's float bytes). */
function sampleKeys(ds: Dataset): string[] {
  const rt = runtime(),
    keys: string[] = [];
  for (const b of batches(ds, { batchSize: 1024, shuffle: false })) {
    const bytes = new Uint8Array(b.x.buffer, b.x.byteOffset, b.x.byteLength),
      per = bytes.length / b.size;
    for (let i = 0; i < b.size; i++) keys.push(rt.sha256(bytes.subarray(i * per, (i + 1) * per)));
  }
  return keys;
}

/** The samples of shard `index` of `count`, by content key, with their keys. */
function shardSamples(ds: Dataset, shard: { index: number; count: number }): { ds: Dataset; keys: string[] } {
  const all = sampleKeys(ds);
  const idx = all.flatMap((k, i) => (shardOf(k, shard.count) === shard.index ? [i] : []));
  return { ds: subset(ds, idx, `${ds.name}[shard ${shard.index}/${shard.count}]`), keys: idx.map((i) => all[i]) };
}
