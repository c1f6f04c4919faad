import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { KdError } from '../../util/errors.js';
import type { AtomicIo, Storage, WriteAtomicOptions } from '../storage.js';

const REAL_IO: AtomicIo = { openSync, writeSync: (fd, b, off, len) => writeSync(fd, b, off, len), fsyncSync, closeSync, renameSync };

/**
 * Writes chunks to a temporary file, flushes it and renames it over `path`, so a crash leaves either
 * the old file or the new one, never a torn one. The temporary file is removed if writing fails, and
 * a failure the user can act on (full disk, read-only location, missing directory) is a KdError that
 * says so: a stack trace from deep inside a training loop would hide that the earlier file is intact.
 */
function writeAtomic(path: string, chunks: readonly (string | Uint8Array)[], opts: WriteAtomicOptions = {}): void {
  const io = { ...REAL_IO, ...opts.io };
  const what = opts.what ?? 'file';
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = io.openSync(tmp, 'w');
    for (const c of chunks) {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      // writeSync may write less than asked (e.g. on a full disk it throws, on some filesystems it is partial).
      for (let off = 0; off < b.byteLength; ) off += io.writeSync(fd, b, off, b.byteLength - off);
    }
    io.fsyncSync(fd);
    const f = fd;
    fd = undefined;
    io.closeSync(f);
    io.renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        io.closeSync(fd);
      } catch {
        // The write error is the one worth reporting.
      }
    }
    rmSync(tmp, { force: true });
    throw writeError(e, path, what);
  }
}

/** A user-facing error for a failed write; errors without an errno code (bugs) pass through unchanged. */
function writeError(e: unknown, path: string, what: string): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code !== 'string' || e instanceof KdError) return e;
  const kept = `any previous ${what} at that path is kept unchanged`;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new KdError(
        'DISK_FULL',
        `cannot write ${what} ${path}: the disk is full (${code}); ${kept}. Free some space or write to another disk.`,
      );
    case 'EROFS':
    case 'EACCES':
    case 'EPERM':
      return new KdError(
        'NOT_WRITABLE',
        `cannot write ${what} ${path}: the location is not writable (${code}); ` +
          `${kept}. Check the permissions or choose another output directory.`,
      );
    case 'ENOENT':
    case 'ENOTDIR':
      return new KdError('NOT_WRITABLE', `cannot write ${what} ${path}: its directory does not exist (${code}).`);
    default:
      return new KdError('WRITE_FAILED', `cannot write ${what} ${path}: ${(e as Error).message}; ${kept}.`);
  }
}

/** Reads a file the user named; a missing or unreadable one is a MISSING_FILE error saying what it was meant to be. */
function read(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new KdError(
      'MISSING_FILE',
      `cannot read ${what ? `${what} ` : ''}${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/** Node's file system as kdistill's {@link Storage}. */
export const nodeStorage: Storage = {
  read,
  writeAtomic,
  append: (path, data) => appendFileSync(path, data),
  exists: (path) => existsSync(path),
  kind: (path) => {
    try {
      const st = statSync(path);
      return st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other';
    } catch {
      return undefined;
    }
  },
  list: (dir) => readdirSync(dir),
  remove: (path) => rmSync(path, { recursive: true, force: true }),
  mkdirp: (dir) => {
    mkdirSync(dir, { recursive: true });
  },
  size: (path) => statSync(path).size,
};
