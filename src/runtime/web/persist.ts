import { KdError } from '../../util/errors.js';
import type { MemoryStorage } from '../memory-storage.js';

const DB = 'kdistill';
const STORE = 'files';

/** Paths whose files are written through to IndexedDB (run directories, the inputs a resumed run needs). */
const persisted: string[] = [];
/** Changes not yet in IndexedDB, coalesced by path: a file's latest bytes, or `undefined` for a removal. */
const pending = new Map<string, Uint8Array | undefined>();
/** Bytes appended to files since their last whole write, kept as records of their own (a log is not rewritten per line). */
const appends = new Map<string, Uint8Array[]>();
/**
 * Appended bytes are stored under `<path>\u0000<seq>`: keys sort in append order, and a whole write or a removal of
 * the path deletes them. `seq` continues past the highest one restored, so appends after a reload sort after earlier ones.
 */
const SEP = '\u0000';
let seq = 0;
const chunkKey = (path: string) => `${path}${SEP}${String(seq++).padStart(12, '0')}`;
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
export function recordChange(path: string, bytes: Uint8Array | undefined, appended?: Uint8Array): void {
  if (!persisted.some((p) => under(path, p))) return;
  if (appended && !pending.has(path)) {
    // slice: the storage's buffer is reused by later appends.
    const list = appends.get(path) ?? [];
    list.push(appended.slice());
    appends.set(path, list);
  } else {
    // A whole write replaces whatever was appended before it; slice keeps the buffer's spare capacity out of the copy.
    pending.set(path, bytes?.slice());
    appends.delete(path);
  }
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
  if (pending.size === 0 && appends.size === 0) return;
  const batch = [...pending];
  const added = [...appends];
  pending.clear();
  appends.clear();
  const db = await openDb();
  try {
    const tx = db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    for (const [path, bytes] of batch) {
      store.delete(IDBKeyRange.bound(`${path}${SEP}`, `${path}${SEP}\uffff`));
      if (bytes) store.put(bytes, path);
      else {
        store.delete(path);
        // A removed folder takes every file under it.
        store.delete(IDBKeyRange.bound(`${path}/`, `${path}/\uffff`));
      }
    }
    for (const [path, chunks] of added) store.put(concat(chunks), chunkKey(path));
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
      // Keys sort as strings: a file comes before its appended chunks, and the chunks in append order.
      const files = new Map<string, Uint8Array[]>();
      keys.forEach((k, i) => {
        const key = String(k);
        const cut = key.indexOf(SEP);
        const path = cut < 0 ? key : key.slice(0, cut);
        if (cut >= 0) seq = Math.max(seq, Number(key.slice(cut + 1)) + 1);
        if (!under(path, prefix)) return;
        const list = files.get(path) ?? [];
        list.push(new Uint8Array(values[i] as ArrayBuffer));
        files.set(path, list);
      });
      for (const [path, parts] of files) storage.restore(path, concat(parts));
      n += files.size;
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
    if (pending.size === 0 && appends.size === 0 && !scheduled) return;
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

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}
