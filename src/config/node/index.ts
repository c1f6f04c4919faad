/**
 * The config module for Node: everything `../index.js` offers, plus reading config files, and a
 * `parseConfig` that takes the process's working directory, core count and file system as its context.
 */
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, parseConfig as parseInContext, type ConfigContext, type ConfigRegistry, type ResolvedConfig } from '../index.js';

export * from '../index.js';

// Configs are small; a huge file is a mistake (or an attack) better refused before parsing.
const MAX_BYTES = 1 << 20;

/** Options for loading: where outputs go and whether input files must already exist. */
export interface LoadOptions {
  /** The folder a relative `outDir` (and the default `runs/<name>`) is placed in; default the working directory. */
  readonly cwd?: string;
  /** Check that `dataset.path` and teacher files exist, so a typo fails now rather than after training; default true. */
  readonly checkFiles?: boolean;
}

/** Reads a config file, turning the usual failures into a ConfigError that says what to check. */
export function readConfigFile(file: string): string {
  const abs = path.resolve(file);
  const fail = (message: string) => new ConfigError(file, [{ file, path: '', message }]);
  let size: number;
  try {
    const st = statSync(abs);
    if (st.isDirectory()) throw fail('is a directory, not a config file');
    size = st.size;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fail(`config file not found (looked for ${abs})`);
    throw fail(`cannot read the config file: ${(e as Error).message}`);
  }
  if (size > MAX_BYTES) throw fail(`is ${size} bytes; a config is at most ${MAX_BYTES} bytes`);
  return readFileSync(abs, 'utf8');
}

/** Reads, validates and resolves a config file; every problem is reported at once in a ConfigError (code BAD_CONFIG). */
export function loadConfig(file: string, registry: ConfigRegistry, options: LoadOptions = {}): ResolvedConfig {
  return parseConfig(readConfigFile(file), file, registry, options);
}

/** `loadConfig` for text already in hand (`file` names it in messages and anchors its relative paths). */
export function parseConfig(text: string, file: string, registry: ConfigRegistry, options: LoadOptions = {}): ResolvedConfig {
  return parseInContext(text, file, registry, nodeContext(file, options));
}

/** The context of a config read from `file` by this process. */
export function nodeContext(file: string, options: LoadOptions = {}): ConfigContext {
  return {
    cwd: path.resolve(options.cwd ?? '.'),
    threads: os.availableParallelism(),
    // A relative config file is found from the process's directory even when outputs go elsewhere.
    dir: path.dirname(path.resolve(file)),
    checkFiles: (options.checkFiles ?? true) ? kindOf : undefined,
  };
}

function kindOf(p: string): 'file' | 'directory' | 'other' | undefined {
  try {
    const st = statSync(p);
    return st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other';
  } catch {
    return undefined;
  }
}
