/**
 * The code a config names: `plugins:` (modules that register methods with `registerMethod` or zoo models with
 * `registerZooModel`) and `student: { module }` (a model in code), imported before the config is validated so the
 * names they add validate (and a typo of them gets "did you mean").
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { readConfigFile } from '../../config/node/index.js';
import { parseModuleRef } from '../../config/module-ref.js';
import { registerModuleStudent } from '../module-student.js';
import { KdError } from '../../util/errors.js';

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
 * Imports the config file's `plugins` and its `student.module` (paths relative to the config's folder), each once per
 * process. A plugin registers on import, or exports `register(kd)` (named or default), which is called with kdistill's
 * API; a student module's export (a ModelDef, or a function of the data's shape returning one) becomes the model the
 * config's student names. Returns the absolute paths loaded. Problems name the config file, the key and what to do.
 */
export async function loadPlugins(configFile: string): Promise<string[]> {
  let raw: unknown;
  try {
    raw = parse(readConfigFile(configFile));
  } catch {
    return []; // a config that does not parse is reported by loadConfig, with line and column
  }
  const dir = path.dirname(path.resolve(configFile));
  const out: string[] = [];
  const list = (raw as { plugins?: unknown } | null)?.plugins;
  // A list of anything but paths is the schema's to report.
  if (Array.isArray(list) && list.every((p) => typeof p === 'string'))
    for (const [i, rel] of (list as string[]).entries()) {
      const file = path.resolve(dir, rel);
      const mod = await importOnce(file, `${configFile}: plugins[${i}]`);
      out.push(file);
      const register = typeof mod.register === 'function' ? mod.register : typeof mod.default === 'function' ? mod.default : undefined;
      if (register && !registered.has(file)) {
        registered.add(file);
        try {
          await (register as (kd: unknown) => unknown)(await import('../../portable.js'));
        } catch (e) {
          registered.delete(file);
          if (e instanceof KdError) throw new KdError(e.code, `${configFile}: plugins[${i}]: ${e.message}`);
          throw new KdError('BAD_PLUGIN', `${configFile}: plugins[${i}]: its register(kd) failed: ${(e as Error).message}`);
        }
      }
    }
  const ref = (raw as { student?: { module?: unknown } } | null)?.student?.module;
  if (typeof ref === 'string') {
    const { path: rel, exportName } = parseModuleRef(ref);
    const file = path.resolve(dir, rel);
    const where = `${configFile}: student.module`;
    registerModuleStudent(await importOnce(file, where), file, exportName, where);
    out.push(file);
  }
  return out;
}

const modules = new Map<string, Record<string, unknown>>();
const registered = new Set<string>();

/** A module by absolute path, imported once per process (TypeScript through the project's tsx); `where` names the config key. */
async function importOnce(file: string, where: string): Promise<Record<string, unknown>> {
  const known = modules.get(file);
  if (known) return known;
  if (!existsSync(file)) throw new KdError('MISSING_FILE', `${where}: no file ${file}; the path is relative to the config's folder`);
  if (/\.[cm]?tsx?$/.test(file)) await typescriptLoader(file);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    throw new KdError('BAD_PLUGIN', `${where}: importing ${file} failed: ${(e as Error).message}`);
  }
  modules.set(file, mod);
  return mod;
}
