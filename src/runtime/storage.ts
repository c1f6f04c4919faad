import { runtime } from './runtime.js';

/**
 * The descriptor-level file calls an atomic write makes. Tests replace some of them to simulate a full or
 * read-only disk; a runtime without file descriptors ignores them.
 */
export interface AtomicIo {
  openSync(path: string, flags: string): number;
  writeSync(fd: number, b: Uint8Array, off: number, len: number): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
}

/** Options of {@link Storage.writeAtomic}. */
export interface WriteAtomicOptions {
  /** What the file is, for error messages ('checkpoint'); default 'file'. */
  what?: string;
  /** Overrides of the file calls (fault injection in tests). */
  io?: Partial<AtomicIo>;
}

/**
 * The small synchronous file API checkpoints, run directories and teacher caches need. Paths are
 * '/'-separated. Failures the user can act on are KdErrors that name the file and what it was for.
 */
export interface Storage {
  /** A whole file; a missing or unreadable one is a MISSING_FILE error saying what it was meant to be (`what`, may be ''). */
  read(path: string, what: string): Uint8Array;
  /**
   * Writes the chunks to a temporary file, flushes it and renames it over `path`, so a crash leaves either the
   * old file or the new one; a full disk or read-only location is a DISK_FULL / NOT_WRITABLE error.
   */
  writeAtomic(path: string, chunks: readonly (string | Uint8Array)[], opts?: WriteAtomicOptions): void;
  /** Appends to a file, creating it if absent (metrics logs). */
  append(path: string, data: string | Uint8Array): void;
  exists(path: string): boolean;
  /** What is at a path: a file, a directory, something else, or nothing. */
  kind(path: string): 'file' | 'directory' | 'other' | undefined;
  /** Names of the entries of a directory (not paths), in no particular order. */
  list(dir: string): string[];
  /** Removes a file or directory tree; nothing happens when it is absent. */
  remove(path: string): void;
  /** Creates a directory and its missing parents. */
  mkdirp(dir: string): void;
  /** Size of a file in bytes. */
  size(path: string): number;
}

/** Reads a file the user named, through the registered runtime's storage (see {@link Storage.read}). */
export function readInput(path: string, what: string): Uint8Array {
  return runtime().storage.read(path, what);
}

/** Writes a file atomically through the registered runtime's storage (see {@link Storage.writeAtomic}). */
export function writeAtomic(path: string, chunks: readonly (string | Uint8Array)[], opts: WriteAtomicOptions = {}): void {
  runtime().storage.writeAtomic(path, chunks, opts);
}

/** A file's text (UTF-8) through the registered runtime's storage. */
export function readText(path: string, what: string): string {
  return new TextDecoder().decode(readInput(path, what));
}
