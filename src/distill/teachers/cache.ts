import { runtime } from '../../runtime/runtime.js';
import type { Teacher } from '../../runtime/teacher.js';
import { join } from '../../util/path.js';
import { KdError } from '../../util/errors.js';
import { decode, encode, formatTag, type StoreFormat } from './codec.js';
import type { Keyed } from './keys.js';
import { openAnswerStore, type AnswerStore } from './answer-store.js';

/** Where teacher caches live unless told otherwise (relative to the working directory). */
export const DEFAULT_CACHE_DIR = '.cache/kdistill/teachers';

/** Where and how precisely a `TeacherCache` stores a teacher's answers. */
export interface TeacherCacheOptions {
  /** The teacher's content key (`onnxKey`, `httpKey`, `functionKey`, …); default: the source's own `cacheKey`. */
  key?: string;
  /** Root directory (default `.cache/kdistill/teachers`). */
  dir?: string;
  /** Stored precision (default float32: answers come back exactly as computed). */
  dtype?: StoreFormat['dtype'];
  /** Store only the top-k probabilities of `logits` (features are always stored whole). */
  topk?: number;
  /** Start a new shard file after this many bytes (default 1 GiB). */
  maxShardBytes?: number;
}

/** Samples answered from disk and samples the teacher had to answer, since the cache was opened. */
export interface CacheStats {
  hits: number;
  misses: number;
  dir: string;
}

/**
 * A teacher source in front of another that keeps every answer on disk, per sample, keyed by the
 * teacher's content key, the sha256 of the sample's bytes and the output name. Answers
 * survive the process, are shared by runs that use the same directory, and a changed teacher (a new key)
 * reads and writes elsewhere. Only unaugmented inputs can hit: an augmented sample has new bytes and is
 * always a miss (and is stored, uselessly), so cache teachers of runs without augmentation.
 */
export class TeacherCache implements Teacher, Keyed {
  readonly cacheKey: string;
  /** Where this teacher's answers are: `<dir>/<key prefix>/`. */
  readonly root: string;
  private readonly stores = new Map<string, AnswerStore>();
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly source: Teacher,
    private readonly o: TeacherCacheOptions = {},
  ) {
    const key = o.key ?? source.cacheKey;
    if (!key)
      throw new KdError(
        'BAD_OPTION',
        "a teacher cache needs the teacher's content key: pass `key` " +
          '(onnxKey(bytes) for an ONNX teacher), or give an HTTP teacher a `version`',
      );
    if (o.topk !== undefined && !(Number.isInteger(o.topk) && o.topk >= 1))
      throw new KdError('BAD_OPTION', `teacher cache: topk must be a positive integer, got ${o.topk}`);
    this.cacheKey = key;
    this.root = join(o.dir ?? DEFAULT_CACHE_DIR, key.slice(0, 32));
  }

  stats(): CacheStats {
    return { hits: this.hits, misses: this.misses, dir: this.root };
  }

  async predictMany(x: Float32Array | BigInt64Array, shape: readonly number[], names: readonly string[]): Promise<Float32Array[]> {
    const n = shape[0],
      per = shape.slice(1).reduce((a, b) => a * b, 1),
      stores = names.map((name) => this.store(name));
    // Hashes (and the copy of missed samples below) are taken before the first await: the caller may reuse `x`.
    const bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength),
      bps = x.BYTES_PER_ELEMENT * per,
      rt = runtime();
    const keys = Array.from({ length: n }, (_, i) => rt.sha256(bytes.subarray(i * bps, (i + 1) * bps)));
    const sizes = stores.map((s) => s.size);
    let outs = sizes.every((s) => s !== undefined) ? sizes.map((s) => new Float32Array(n * s!)) : undefined;
    const missed: number[] = [];
    for (let i = 0; i < n; i++) {
      const hit = outs !== undefined && stores.every((s, k) => s.get(keys[i], outs![k].subarray(i * sizes[k]!, (i + 1) * sizes[k]!)));
      if (!hit) missed.push(i);
    }
    this.hits += n - missed.length;
    this.misses += missed.length;
    if (!missed.length) return outs!;
    const m = missed.length;
    const sub = x instanceof BigInt64Array ? new BigInt64Array(m * per) : new Float32Array(m * per);
    missed.forEach((i, j) => sub.set(x.subarray(i * per, (i + 1) * per) as never, j * per));
    const ans = await this.source.predictMany(sub, [m, ...shape.slice(1)], names);
    const odd = ans.findIndex((a) => a.length % m !== 0);
    if (odd >= 0)
      throw new KdError(
        'SHAPE_MISMATCH',
        `the cached teacher answered ${ans[odd].length} values for '${names[odd]}' of ${m} samples, not a whole number per sample`,
      );
    outs ??= ans.map((a) => new Float32Array((a.length / m) * n));
    stores.forEach((store, k) => {
      const size = outs![k].length / n;
      if (ans[k].length !== m * size)
        throw new KdError(
          'SHAPE_MISMATCH',
          `the cached teacher answered ${ans[k].length / m} values per sample for '${names[k]}', expected ${size}`,
        );
      const rows = missed.map((_, j) => ans[k].subarray(j * size, (j + 1) * size));
      store.put(
        missed.map((i) => keys[i]),
        rows,
      );
      // A lossy format returns what a later hit will return, so a run sees the same values cached or not.
      const lossy = store.format.topk !== undefined || store.format.dtype === 'float16';
      missed.forEach((i, j) => {
        const dst = outs![k].subarray(i * size, (i + 1) * size);
        if (lossy) decode(encode(rows[j], store.format), store.format, dst);
        else dst.set(rows[j]);
      });
    });
    return outs;
  }

  /** Closes the cache's files and releases the teacher behind it. */
  async release(): Promise<void> {
    for (const s of this.stores.values()) s.close();
    this.stores.clear();
    await this.source.release();
  }

  private store(name: string): AnswerStore {
    let s = this.stores.get(name);
    if (!s) {
      // Top-k applies to class scores only; a feature map has no classes to rank.
      const topk = name === 'logits' ? this.o.topk : undefined;
      const format: StoreFormat = { dtype: this.o.dtype ?? 'float32', ...(topk ? { topk } : {}) };
      s = openAnswerStore(join(this.root, `${encodeURIComponent(name)}.${formatTag(format)}`), name, format, this.o.maxShardBytes);
      this.stores.set(name, s);
    }
    return s;
  }
}
