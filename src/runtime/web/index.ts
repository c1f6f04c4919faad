import { dirname, join } from '../../util/path.js';
import type { MemoryStorage } from '../memory-storage.js';
import { setRuntime } from '../runtime.js';
import { flushStorage, forgetStored, restoreStorage as restoreInto } from './persist.js';
import { webRuntime, webStorage } from './runtime.js';

// Importing this module is what makes kdistill run in a browser: `kdistill/browser` loads it first.
setRuntime(webRuntime);

export { configureWeb, webInfo, webRuntime, webStorage, type WebInfo, type WebOptions } from './runtime.js';
export { flushStorage, forgetStored };

/**
 * Loads the files IndexedDB keeps under `prefixes` (default '/runs') into the browser's storage and writes every
 * later change under them through, so a reloaded page can resume a run. Returns how many files were restored.
 */
export function restoreStorage(prefixes: string | readonly string[] = '/runs'): Promise<number> {
  return restoreInto(webStorage as MemoryStorage, typeof prefixes === 'string' ? [prefixes] : prefixes);
}

/** Writes a file into the browser's storage, creating its folders (how a page hands kdistill the user's files). */
export function writeFile(path: string, data: Uint8Array | string): void {
  webStorage.mkdirp(dirname(path));
  webStorage.writeAtomic(path, [data]);
}

/** What {@link writeFiles} takes: a `File` (from an `<input type=file>`, a drop) or anything shaped like one. */
export interface FileLike {
  readonly name: string;
  /** The path inside a picked folder (`cats/001.png` under `<input webkitdirectory>`), if any. */
  readonly webkitRelativePath?: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * Writes the user's files under `dir` in the browser's storage, keeping the folder structure of a picked folder
 * (so an image folder with one sub-folder per class lands as `dir/<class>/<file>`). Returns the paths written.
 */
export async function writeFiles(dir: string, files: Iterable<FileLike>): Promise<string[]> {
  const paths: string[] = [];
  for (const f of files) {
    const rel = f.webkitRelativePath || f.name;
    // A picked folder's paths start with the folder's own name: drop it, so `dir` is that folder.
    const inner = f.webkitRelativePath ? rel.split('/').slice(1).join('/') : rel;
    const path = join(dir, inner);
    writeFile(path, new Uint8Array(await f.arrayBuffer()));
    paths.push(path);
  }
  return paths;
}
