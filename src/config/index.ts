/**
 * Declarative experiment configs for `kdistill run config.yaml`: parse and validate the YAML, resolve
 * it (every default filled in, every path absolute) and check that its input files exist. This module
 * reads no files and asks nothing of the process: what it needs comes in a `ConfigContext`; the Node
 * loader in `./node/` reads files and supplies the working directory, core count and file checks.
 */
import { ConfigError, formatPath, parseConfigText, type ConfigProblem, type SourcePositions } from './load.js';
import type { ConfigContext, ConfigRegistry, ResolvedConfig } from './schema.js';

export { ConfigError, formatPath, parseConfigText, SourcePositions, type ConfigProblem, type ParsedConfig } from './load.js';
export { configToYaml } from './to-yaml.js';
export { configSchema, DATASET_NAMES } from './schema.js';
export type * from './schema.js';
export { COMBINE_MODES } from './stages.js';
export { closest, didYouMean, editDistance } from './suggest.js';

/**
 * Validates and resolves config text read from `file` (named in messages, its folder anchors relative
 * inputs); every problem is reported at once in a ConfigError (code BAD_CONFIG).
 */
export function parseConfig(text: string, file: string, registry: ConfigRegistry, context: ConfigContext): ResolvedConfig {
  const { config, positions } = parseConfigText(text, file, registry, context);
  if (context.checkFiles) checkInputs(config, file, positions, context.checkFiles);
  return config;
}

/** The dataset path and teacher files must exist, so a typo fails now rather than after training. */
function checkInputs(c: ResolvedConfig, file: string, positions: SourcePositions, kindOf: NonNullable<ConfigContext['checkFiles']>): void {
  const problems: ConfigProblem[] = [];
  const need = (p: string, kind: 'file' | 'directory', where: PropertyKey[]) => {
    const found = kindOf(p);
    if (found === kind) return;
    const message = found ? `${p} is not a ${kind}` : `no such ${kind}: ${p} (relative paths start at the config file's folder)`;
    problems.push({ file, ...positions.position(where), path: formatPath(where), message });
  };
  if ('path' in c.dataset && c.dataset.path !== undefined) {
    const folder = c.dataset.name === 'image-folder' || c.dataset.name === 'movielens';
    need(c.dataset.path, folder ? 'directory' : 'file', ['dataset', 'path']);
  }
  if (c.student && 'file' in c.student && c.student.file) need(c.student.file, 'file', ['student', 'file']);
  if (c.teacher && 'file' in c.teacher) need(c.teacher.file, 'file', ['teacher', 'file']);
  else if (!c.teacher)
    c.stages.forEach((st, i) => {
      if (st.file) need(st.file, 'file', ['stages', i, 'file']);
      if (st.student) need(st.student.file, 'file', ['stages', i, 'student', 'file']);
      st.teachers.forEach((t, j) => t.file && need(t.file, 'file', ['stages', i, 'teachers', j, 'file']));
    });
  if (problems.length) throw new ConfigError(file, problems);
}
