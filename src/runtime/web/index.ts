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
  const dir = path.slice(0, path.lastIndexOf('/')) || '/';
  webStorage.mkdirp(dir);
  webStorage.writeAtomic(path, [data]);
}
