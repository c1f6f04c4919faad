import { KdError } from '../../util/errors.js';
import type { ModelDef } from '../model.js';
import { cnn, lenet5 } from './cnn.js';
import { mlp } from './mlp.js';
import { resnet } from './resnet.js';
import { textClassifier, transformerClassifier } from './text.js';

export { cnn, lenet5, mlp, resnet, textClassifier, transformerClassifier };

/** The two reference pairs of kdistill's benchmark (engine.md): teacher → student. */
export const referencePairs = {
  mlp: { teacher: () => mlp([784, 1200, 1200, 10]), student: () => mlp([784, 800, 800, 10]), inputShape: [784] },
  cnn: { teacher: () => cnn([32, 64, 128]), student: () => cnn([8, 16]), inputShape: [1, 28, 28] },
} as const;

/** Zoo models by name, for configs and the CLI: 'mlp-784-800-800-10', 'cnn-8-16', 'lenet5', 'lenet5-half', 'resnet20'. */
export function zooModel(name: string, inputShape: readonly number[] = [1, 28, 28], classes = 10): ModelDef {
  const m = /^(mlp|cnn)-(\d+(?:-\d+)*)$/.exec(name);
  if (m && m[2].split('-').some((w) => Number(w) < 1)) throw new KdError('UNKNOWN_MODEL', `model '${name}': every width must be a positive integer`);
  if (m) {
    const nums = m[2].split('-').map(Number);
    if (m[1] === 'mlp') return mlp(nums, { inputShape: [...inputShape] });
    return cnn(nums, { inputShape: inputShape as [number, number, number], classes });
  }
  if (name === 'lenet5' || name === 'lenet5-half') return lenet5({ half: name.endsWith('half'), classes, inputShape: inputShape as [number, number, number] });
  const r = /^resnet(\d+)$/.exec(name);
  if (r) return resnet({ depth: Number(r[1]), inputShape: inputShape as [number, number, number], classes });
  throw new KdError('UNKNOWN_MODEL', `unknown model '${name}'; try mlp-784-800-800-10, cnn-8-16, lenet5, lenet5-half, resnet8, resnet20`);
}
