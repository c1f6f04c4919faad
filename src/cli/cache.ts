import type { Command } from 'commander';
import { batches, type Split } from '../data/index.js';
import { loadDataset, type DatasetName } from '../data/node/index.js';
import { TeacherCache, DEFAULT_CACHE_DIR } from '../distill/teachers/cache.js';
import { onnxKey } from '../distill/teachers/keys.js';
import { PoolTeacher } from '../distill/teachers/pool.js';
import { defaultThreads } from '../runtime/ort.js';
import { WorkerTeacher } from '../runtime/node/worker-teacher.js';
import { KdError } from '../util/errors.js';
import { readInput } from '../runtime/storage.js';

export interface FillOptions {
  dataset: string;
  split: string;
  workers?: string;
  batch: string;
  dir: string;
  outputs: string;
  dtype: string;
  topk?: string;
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
    .action(async (file: string, o: FillOptions) => {
      await fillCache(file, o);
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
  const ds = loadDataset(o.dataset as DatasetName, o.split as Split);
  const members = await Promise.all(Array.from({ length: workers }, () => WorkerTeacher.start(bytes, 1)));
  const missing = names.find((n) => !members[0].outputs.includes(n));
  if (missing) {
    await Promise.all(members.map((m) => m.release()));
    throw new KdError('BAD_OPTION', `${file} has no output named '${missing}' (its outputs: ${members[0].outputs.join(', ')})`);
  }
  const teacher = new TeacherCache(new PoolTeacher(members), {
    key: onnxKey(bytes),
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
      `cache fill ${o.dataset}/${o.split}: ${done}/${ds.n} (${pct}%) hits ` +
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
    if (!o.quiet)
      console.log(
        `${file} → ${s.dir}: ${ds.n} ${o.dataset}/${o.split} samples, ${s.hits} already cached, ` +
          `${s.misses} computed with ${workers} worker(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    return { hits: s.hits, misses: s.misses };
  } finally {
    await teacher.release();
  }
}
