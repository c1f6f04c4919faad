/**
 * `plugins:` of a config: modules that register methods (`registerMethod`) or zoo models (`registerZooModel`),
 * imported before the config is validated so the names they add validate (and a typo of them gets "did you mean").
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { readConfigFile } from '../../config/node/index.js';
import { KdError } from '../../util/errors.js';

const loaded = new Set<string>();
let tsLoader: Promise<void> | undefined;

/** TypeScript plugins need a loader; tsx's is used when the project has it installed. */
function typescriptLoader(plugin: string): Promise<void> {
  tsLoader ??= (async () => {
    const tsxApi = 'tsx/esm/api';
    try {
      const { register } = (await import(tsxApi)) as { register: () => unknown };
      register();
    } catch {
      tsLoader = undefined;
      throw new KdError(
        'PLUGIN_NEEDS_TSX',
        `plugin ${plugin} is TypeScript, which Node cannot import by itself: \`npm install --save-dev tsx\` in your project ` +
          '(kdistill then loads .ts plugins through it), or compile the plugin to .js',
      );
    }
  })();
  return tsLoader;
}

/**
 * Imports the config file's `plugins` (paths relative to the config's folder), each once per process. A plugin
 * registers on import, or exports `register(kd)` (named or default), which is called with kdistill's API. Returns
 * the absolute paths loaded. Problems name the config file, the `plugins` entry and what to do.
 */
export async function loadPlugins(configFile: string): Promise<string[]> {
  let raw: unknown;
  try {
    raw = parse(readConfigFile(configFile));
  } catch {
    return []; // a config that does not parse is reported by loadConfig, with line and column
  }
  const list = (raw as { plugins?: unknown } | null)?.plugins;
  if (list === undefined) return [];
  if (!Array.isArray(list) || list.some((p) => typeof p !== 'string')) return []; // the schema reports the shape
  const dir = path.dirname(path.resolve(configFile));
  const out: string[] = [];
  for (const [i, rel] of (list as string[]).entries()) {
    const file = path.resolve(dir, rel);
    const where = `${configFile}: plugins[${i}]`;
    if (!existsSync(file)) throw new KdError('MISSING_FILE', `${where}: no file ${file}; the path is relative to the config's folder`);
    out.push(file);
    if (loaded.has(file)) continue;
    if (/\.[cm]?tsx?$/.test(file)) await typescriptLoader(file);
    let mod: { register?: unknown; default?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as typeof mod;
    } catch (e) {
      throw new KdError('BAD_PLUGIN', `${where}: importing ${file} failed: ${(e as Error).message}`);
    }
    const register = typeof mod.register === 'function' ? mod.register : typeof mod.default === 'function' ? mod.default : undefined;
    if (register) {
      try {
        await (register as (kd: unknown) => unknown)(await import('../../portable.js'));
      } catch (e) {
        if (e instanceof KdError) throw new KdError(e.code, `${where}: ${e.message}`);
        throw new KdError('BAD_PLUGIN', `${where}: its register(kd) failed: ${(e as Error).message}`);
      }
    }
    loaded.add(file);
  }
  return out;
}
