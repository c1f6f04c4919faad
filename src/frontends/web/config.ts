import { parseConfig, type ResolvedConfig } from '../../config/index.js';
import { runtime } from '../../runtime/runtime.js';
import { KdError } from '../../util/errors.js';
import { join } from '../../util/path.js';
import { configRegistry } from '../config-registry.js';

/** Where a config parsed in a browser finds its inputs and puts its outputs. */
export interface WebConfigOptions {
  /** Folder relative input paths (dataset, teacher files) start at; default '/inputs', where a page writes dropped files. */
  readonly dir?: string;
  /** Folder relative outputs go under; default '/', so runs land in '/runs/<name>'. */
  readonly cwd?: string;
  /** Name of the config in messages; default 'config.yaml' in `dir`. */
  readonly file?: string;
}

/**
 * Validates and resolves config text in a browser with the same schema, registry and messages as Node's
 * `loadConfig`; input files are checked in the browser's storage, so a missing dropped file fails here.
 */
export function parseWebConfig(text: string, o: WebConfigOptions = {}): ResolvedConfig {
  const dir = o.dir ?? '/inputs';
  const rt = runtime();
  const cfg = parseConfig(text, o.file ?? join(dir, 'config.yaml'), configRegistry(), {
    cwd: o.cwd ?? '/',
    dir,
    threads: rt.defaultThreads(),
    checkFiles: (p) => rt.storage.kind(p),
  });
  if (cfg.plugins?.length)
    throw new KdError(
      'NO_PLUGINS',
      `plugins (${cfg.plugins.join(', ')}) are files Node imports; in a browser, import your module in the page and let it ` +
        'call registerMethod / registerZooModel before parseWebConfig, and leave `plugins` out of the config',
    );
  return cfg;
}
