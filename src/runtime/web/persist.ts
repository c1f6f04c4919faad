import { KdError } from '../../util/errors.js';
import type { MemoryStorage } from '../memory-storage.js';

const DB = 'kdistill';
const STORE = 'files';

/** Paths whose files are written through to IndexedDB (run directories, the inputs a resumed run needs). */
const persisted: string[] = [];
/** Changes not yet in IndexedDB, coalesced by path: a file's latest bytes, or `undefined` for a removal. */
const pending = new Map<string, Uint8Array | undefined>();
let flushing: Promise<void> = Promise.resolve();
let scheduled = false;
let failure: unknown;

const under = (path: string, prefix: string) => path === prefix || path.startsWith(prefix === '/' ? '/' : `${prefix}/`);

function openDb(): Promise<IDBDatabase> {
  return new Promise((ok, fail) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
}

const done = (tx: IDBTransaction) =>
  new Promise<void>((ok, fail) => {
    tx.oncomplete = () => ok();
    tx.onerror = tx.onabort = () => fail(tx.error);
  });

/** The storage change hook of the browser runtime: changes under a persisted prefix are queued for IndexedDB. */
export function recordChange(path: string, bytes: Uint8Array | undefined): void {
  if (!persisted.some((p) => under(path, p))) return;
  pending.set(path, bytes);
  if (scheduled) return;
  scheduled = true;
  // One transaction per turn of the event loop: a checkpoint and the pruning of older ones land together.
  setTimeout(() => {
    scheduled = false;
    flushing = flushing.then(writePending).catch((e) => {
      failure = e;
    });
  }, 0);
}

async function writePending(): Promise<void> {
  if (pending.size === 0) return;
  const batch = [...pending];
  pending.clear();
  const db = await openDb();
  try {
    const tx = db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    for (const [path, bytes] of batch) {
      if (bytes) store.put(bytes, path);
      else {
        store.delete(path);
        // A removed folder takes every file under it.
        store.delete(IDBKeyRange.bound(`${path}/`, `${path}/\uffff`));
      }
    }
    await done(tx);
  } finally {
    db.close();
  }
}

/**
 * Loads what IndexedDB holds under each prefix into `storage`, and from then on writes every change under those
 * prefixes through to IndexedDB, so a run survives a reload and `resume` finds its checkpoints.
 */
export async function restoreStorage(storage: MemoryStorage, prefixes: readonly string[]): Promise<number> {
  const db = await openDb().catch((e) => {
    throw new KdError('NO_STORAGE', `this browser refuses IndexedDB (${String(e)}); runs cannot survive a reload here`);
  });
  let n = 0;
  try {
    for (const prefix of prefixes) {
      const tx = db.transaction(STORE, 'readonly');
      const store = tx.objectStore(STORE);
      const range = IDBKeyRange.bound(prefix, `${prefix}\uffff`);
      const [keys, values] = await Promise.all([request(store.getAllKeys(range)), request(store.getAll(range))]);
      keys.forEach((k, i) => {
        if (under(String(k), prefix)) {
          storage.restore(String(k), new Uint8Array(values[i] as ArrayBuffer));
          n++;
        }
      });
      if (!persisted.includes(prefix)) persisted.push(prefix);
    }
  } finally {
    db.close();
  }
  return n;
}

/** Resolves once IndexedDB holds every change made so far; a failed write (quota) is thrown here. */
export async function flushStorage(): Promise<void> {
  for (;;) {
    await new Promise((r) => setTimeout(r, 0));
    await flushing;
    if (failure) {
      const e = failure;
      failure = undefined;
      throw new KdError('DISK_FULL', `the browser would not store the run in IndexedDB (${String(e)}); free site storage and resume`);
    }
    if (pending.size === 0 && !scheduled) return;
  }
}

/** Removes everything IndexedDB holds under `prefix` (a finished or abandoned run). */
export async function forgetStored(prefix: string): Promise<void> {
  recordChange(prefix, undefined);
  await flushStorage();
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((ok, fail) => {
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
}
