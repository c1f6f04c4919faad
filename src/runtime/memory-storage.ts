import { KdError } from '../util/errors.js';
import { dirname, resolve } from '../util/path.js';
import type { Storage, WriteAtomicOptions } from './storage.js';

/**
 * A change to a {@link MemoryStorage}: a file's new bytes, or `undefined` when the path (and what is under it) was
 * removed; for an append, `appended` holds just the bytes added (so a metrics log need not be persisted whole each step).
 */
export type StorageChange = (path: string, bytes: Uint8Array | undefined, appended?: Uint8Array) => void;

/** A file's bytes in a buffer that grows by doubling, so appending a line to a long log does not copy the log. */
interface FileBuf {
  buf: Uint8Array;
  len: number;
}
const view = (f: FileBuf) => f.buf.subarray(0, f.len);

const enc = new TextEncoder();
const bytesOf = (c: string | Uint8Array): Uint8Array => (typeof c === 'string' ? enc.encode(c) : c);

/** '/a/b/', 'a//b' and '/a/./b' are the same folder as '/a/b': one spelling per path, so lookups in the maps agree. */
const norm = (path: string): string => resolve('/', path);

/**
 * A file system in memory, with the semantics of Node's that kdistill relies on (a write needs its folder to
 * exist, a replaced file is replaced whole). It is the browser runtime's storage, and a test's: `onChange` sees
 * every write and removal, which is how the browser persists runs to IndexedDB.
 */
export class MemoryStorage implements Storage {
  private readonly files = new Map<string, FileBuf>();
  private readonly dirs = new Set<string>(['/']);

  constructor(private readonly onChange?: StorageChange) {}

  read(path: string, what: string): Uint8Array {
    const f = this.files.get(norm(path));
    if (!f) throw new KdError('MISSING_FILE', `cannot read ${what ? `${what} ` : ''}${path}: ENOENT (no such file)`);
    // A view: later appends write past its end (or into a new buffer), so what the caller holds never changes.
    return view(f);
  }

  writeAtomic(path: string, chunks: readonly (string | Uint8Array)[], opts: WriteAtomicOptions = {}): void {
    const p = norm(path);
    if (!this.dirs.has(dirname(p)))
      throw new KdError('NOT_WRITABLE', `cannot write ${opts.what ?? 'file'} ${path}: its directory does not exist (ENOENT).`);
    if (this.dirs.has(p)) throw new KdError('NOT_WRITABLE', `cannot write ${opts.what ?? 'file'} ${path}: it is a directory.`);
    const parts = chunks.map(bytesOf);
    const out = new Uint8Array(parts.reduce((n, b) => n + b.byteLength, 0));
    let off = 0;
    for (const b of parts) {
      out.set(b, off);
      off += b.byteLength;
    }
    this.files.set(p, { buf: out, len: out.byteLength });
    this.onChange?.(p, out);
  }

  append(path: string, data: string | Uint8Array): void {
    const p = norm(path);
    const f = this.files.get(p);
    const add = bytesOf(data);
    if (!f) {
      this.writeAtomic(p, [add]);
      return;
    }
    if (f.len + add.byteLength > f.buf.byteLength) {
      const grown = new Uint8Array(Math.max(2 * f.buf.byteLength, f.len + add.byteLength, 4096));
      grown.set(view(f));
      f.buf = grown;
    }
    f.buf.set(add, f.len);
    f.len += add.byteLength;
    this.onChange?.(p, view(f), add);
  }

  exists(path: string): boolean {
    return this.kind(path) !== undefined;
  }

  kind(path: string): 'file' | 'directory' | undefined {
    const p = norm(path);
    return this.files.has(p) ? 'file' : this.dirs.has(p) ? 'directory' : undefined;
  }

  list(dir: string): string[] {
    const d = norm(dir);
    if (!this.dirs.has(d)) throw new KdError('MISSING_FILE', `cannot list ${dir}: no such directory`);
    const prefix = d === '/' ? '/' : `${d}/`;
    const names = new Set<string>();
    for (const p of [...this.files.keys(), ...this.dirs])
      if (p.startsWith(prefix) && p !== d) names.add(p.slice(prefix.length).split('/')[0]);
    return [...names];
  }

  remove(path: string): void {
    const p = norm(path);
    if (!this.exists(p)) return;
    const under = `${p}/`;
    for (const f of [...this.files.keys()]) if (f === p || f.startsWith(under)) this.files.delete(f);
    for (const d of [...this.dirs]) if (d !== '/' && (d === p || d.startsWith(under))) this.dirs.delete(d);
    this.onChange?.(p, undefined);
  }

  mkdirp(dir: string): void {
    for (let d = norm(dir); !this.dirs.has(d); d = dirname(d)) {
      if (this.files.has(d)) throw new KdError('NOT_WRITABLE', `cannot create directory ${dir}: ${d} is a file`);
      this.dirs.add(d);
    }
  }

  size(path: string): number {
    return this.read(path, '').byteLength;
  }

  /** Every file whose path starts with `prefix`, for persisting a run directory. */
  *entries(prefix = '/'): IterableIterator<[string, Uint8Array]> {
    const p = norm(prefix);
    for (const [k, f] of this.files) if (k === p || k.startsWith(p === '/' ? '/' : `${p}/`)) yield [k, view(f)];
  }

  /** Puts a file back without telling `onChange` (restoring what persistence already holds); its folders are created. */
  restore(path: string, bytes: Uint8Array): void {
    const p = norm(path);
    this.mkdirp(dirname(p));
    this.files.set(p, { buf: bytes, len: bytes.byteLength });
  }
}
