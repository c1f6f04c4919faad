import { batches, subset, type Dataset, type Split } from '../data/index.js';
import { loadDataset, type DatasetName } from '../data/node/index.js';
import { TeacherCache } from '../distill/teachers/cache.js';
import { HttpTeacher } from '../distill/teachers/http.js';
import { onnxKey } from '../distill/teachers/keys.js';
import { keysDigest, parseShard, shardOf, writeManifest } from '../distill/teachers/node/fill-manifest.js';
import { PoolTeacher } from '../distill/teachers/pool.js';
import { WorkerTeacher } from '../runtime/node/worker-teacher.js';
import { defaultThreads } from '../runtime/ort.js';
import { runtime } from '../runtime/runtime.js';
import { readInput } from '../runtime/storage.js';
import type { Teacher } from '../runtime/teacher.js';
import { KdError } from '../util/errors.js';

/** `cache fill`'s flags, as commander gives them (strings). */
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
  /** A teacher given by URL: its protocol, served model and version (the version is part of the cache key). */
  protocol?: string;
  model?: string;
  version?: string;
  /** No progress or summary lines (in-process use). */
  quiet?: boolean;
}

export const positive = (v: string, flag: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new KdError('BAD_OPTION', `--${flag} must be a positive integer, got '${v}'`);
  return n;
};

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
  const all = loadDataset(o.dataset as DatasetName, o.split as Split);
  const shard = o.shard === undefined ? undefined : parseShard(o.shard);
  const { ds, keys } = shard ? shardSamples(all, shard) : { ds: all, keys: undefined };
  const { source, key } = await fillTeacher(file, o, names, workers, batch, all.numClasses);
  const teacher = new TeacherCache(source, {
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

/**
 * The teacher a fill asks: an ONNX file in `workers` worker threads, or a server at a URL (`workers` requests in
 * flight, `batch` samples each), with the content key its answers are cached under, the same key a run computes.
 */
async function fillTeacher(
  file: string,
  o: FillOptions,
  names: readonly string[],
  workers: number,
  batch: number,
  classes: number,
): Promise<{ source: Teacher; key: string }> {
  if (/^https?:\/\//.test(file)) {
    if (o.protocol !== 'open-inference' && o.protocol !== 'kdistill')
      throw new KdError('BAD_OPTION', `--protocol must be 'open-inference' or 'kdistill', got '${o.protocol}'`);
    if (!o.version)
      throw new KdError('BAD_OPTION', `${file}: a served teacher's answers are cached under its --version; give the model's version`);
    const t = new HttpTeacher({
      url: file,
      protocol: o.protocol,
      model: o.model,
      version: o.version,
      classes,
      maxBatch: batch,
      concurrency: workers,
    });
    return { source: t, key: t.cacheKey! };
  }
  const bytes = readInput(file, 'teacher');
  const members = await Promise.all(Array.from({ length: workers }, () => WorkerTeacher.start(bytes, 1)));
  const missing = names.find((n) => !members[0].outputs.includes(n));
  if (missing) {
    await Promise.all(members.map((m) => m.release()));
    throw new KdError('BAD_OPTION', `${file} has no output named '${missing}' (its outputs: ${members[0].outputs.join(', ')})`);
  }
  return { source: new PoolTeacher(members), key: onnxKey(bytes) };
}
