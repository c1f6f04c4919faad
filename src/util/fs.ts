import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { KdError } from './errors.js';

/**
 * Writes chunks to a temporary file, flushes it and renames it over `path`, so a crash leaves either
 * the old file or the new one, never a torn one. The temporary file is removed if writing fails.
 */
export function writeAtomic(path: string, chunks: readonly (string | Uint8Array)[]): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    for (const c of chunks) {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      // writeSync may write less than asked (e.g. on a full disk it throws, on some filesystems it is partial).
      for (let off = 0; off < b.byteLength; ) off += writeSync(fd, b, off, b.byteLength - off);
    }
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  renameSync(tmp, path);
}

/** Reads a file the user named; a missing or unreadable one is a MISSING_FILE error saying what it was meant to be. */
export function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new KdError('MISSING_FILE', `cannot read ${what ? `${what} ` : ''}${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
