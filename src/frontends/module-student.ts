import type { ModelDef } from '../nn/model.js';
import { registerModuleModel, type ZooShape } from '../nn/zoo/index.js';
import { KdError } from '../util/errors.js';
import { moduleModelName } from '../config/module-ref.js';

const isModelDef = (v: unknown): v is ModelDef =>
  !!v && typeof v === 'object' && typeof (v as ModelDef).forward === 'function' && typeof (v as ModelDef).inputs === 'object';

/**
 * Registers the export of an imported module as the student model `moduleModelName(path, exportName)`: a `ModelDef`,
 * or a function of the data's shape (`{ inputShape, classes, vocab }`) that returns one. `where` names the config key.
 */
export function registerModuleStudent(mod: Record<string, unknown>, path: string, exportName: string, where: string): string {
  const value = mod[exportName];
  const what = `${where}: ${path}#${exportName}`;
  if (value === undefined)
    throw new KdError(
      'BAD_MODULE',
      `${what}: the module has no export '${exportName}' (it exports ${Object.keys(mod).join(', ') || 'nothing'}); ` +
        'write `module: <file>#<export>` with the name of a ModelDef or of a function returning one',
    );
  if (typeof value !== 'function' && !isModelDef(value))
    throw new KdError('BAD_MODULE', `${what} is neither a ModelDef (with inputs and forward) nor a function returning one`);
  const name = moduleModelName(path, exportName);
  registerModuleModel(name, (shape: ZooShape) => {
    const def = typeof value === 'function' && !isModelDef(value) ? (value as (s: ZooShape) => unknown)(shape) : value;
    if (!isModelDef(def))
      throw new KdError(
        'BAD_MODULE',
        `${what} returned ${def === null ? 'null' : typeof def}, not a ModelDef; return a model (e.g. new Sequential(...)) ` +
          'whose forward gives logits',
      );
    return def;
  });
  return name;
}
