import { KdError } from '../../util/errors.js';
import type { StoreFormat } from './codec.js';

/** A teacher's stored answers for one output: rows keyed by the input's hash, kept across runs. */
export interface AnswerStore {
  readonly format: StoreFormat;
  /** Values per row, once known (the first row written or read fixes it). */
  readonly size: number | undefined;
  /** Rows stored. */
  readonly entries: number;
  /** Copies the row stored under `key` into `out`; false when there is none. */
  get(key: string, out: Float32Array): boolean;
  put(keys: readonly string[], values: readonly Float32Array[]): void;
  close(): void;
}

/** Opens (or creates) the store at `path` for output `name`, new shards starting after `maxShardBytes`. */
export type AnswerStoreFactory = (path: string, name: string, format: StoreFormat, maxShardBytes?: number) => AnswerStore;

let factory: AnswerStoreFactory | undefined;

/** Registers how teacher caches store answers in this runtime (Node's sharded files register on `import 'kdistill'`). */
export function registerAnswerStore(f: AnswerStoreFactory): void {
  factory = f;
}

/** Opens an answer store; a runtime without one (a browser, for now) is a NO_CACHE error saying what to change. */
export function openAnswerStore(path: string, name: string, format: StoreFormat, maxShardBytes?: number): AnswerStore {
  if (!factory)
    throw new KdError(
      'NO_CACHE',
      `teacher answer caches need a file system with random access (Node); this runtime has none, so remove 'cache' from the ` +
        `teacher (its answers are recomputed each epoch) (cache ${path})`,
    );
  return factory(path, name, format, maxShardBytes);
}
