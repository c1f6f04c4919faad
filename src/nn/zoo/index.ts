import { KdError } from '../../util/errors.js';
import type { ModelDef } from '../model.js';
import { cnn, lenet5 } from './cnn.js';
import { mlp } from './mlp.js';
import { resnet } from './resnet.js';
import { customZooModel } from './registry.js';
import { isRecommenderName, recommenderFromName } from './recommender.js';
import { causalLm, convLm } from './lm.js';
import { textClassifier, transformerClassifier } from './text.js';

export { cnn, lenet5, mlp, resnet, textClassifier, transformerClassifier };
export { customZooModelNames, registerModuleModel, registerZooModel, type ZooBuilder, type ZooShape } from './registry.js';

/** The two reference pairs of kdistill's benchmark (docs/engine.md): teacher → student. */
export const referencePairs = {
  mlp: { teacher: () => mlp([784, 1200, 1200, 10]), student: () => mlp([784, 800, 800, 10]), inputShape: [784] },
  cnn: { teacher: () => cnn([32, 64, 128]), student: () => cnn([8, 16]), inputShape: [1, 28, 28] },
} as const;

/** `lm-<layers>x<dim>` (causal transformer) and `convlm-<layers>x<dim>` (causal convolutions): language models. */
const LM_NAME = /^(lm|convlm)-([1-9]\d*)x([1-9]\d*)$/;
/** `transformer-<layers>x<dim>`: the text classifier `transformer` (four heads, mean pooling) with more blocks or width. */
const TRANSFORMER_NAME = /^transformer-([1-9]\d*)x([1-9]\d*)$/;

/**
 * Zoo models by name, for configs and the CLI: 'mlp-784-800-800-10', 'cnn-8-16', 'lenet5', 'lenet5-half',
 * 'resnet20', and for token-id inputs 'text-meanpool', 'text-conv', 'transformer' (these need `vocab`), for user ids
 * 'mf-16', 'mf-64-256-64' (`vocab` = users, `classes` = items), and any model registered with `registerZooModel`.
 */
export function zooModel(name: string, inputShape: readonly number[] = [1, 28, 28], classes = 10, vocab?: number): ModelDef {
  const own = customZooModel(name);
  if (own) return own({ inputShape, classes, vocab });
  if (isRecommenderName(name)) return recommenderFromName(name, { inputShape, classes, vocab });
  const lm = LM_NAME.exec(name);
  if (lm) {
    if (!vocab || inputShape.length !== 1)
      throw new KdError('UNKNOWN_MODEL', `model '${name}' is a language model: use it with a text corpus dataset (udhr-text)`);
    const [layers, dim] = [Number(lm[2]), Number(lm[3])];
    if (lm[1] === 'convlm') return convLm({ vocab, dim, layers });
    // One head per 32 channels (at least one), as small GPT-style models; the position table fits the data's windows.
    return causalLm({ vocab, dim, layers, heads: Math.max(1, Math.floor(dim / 32)), maxLen: inputShape[0] });
  }
  const tf = TRANSFORMER_NAME.exec(name);
  if (tf) {
    if (!vocab || inputShape.length !== 1)
      throw new KdError('UNKNOWN_MODEL', `model '${name}' reads token ids: use it with a text dataset (jsonl, spam-assassin)`);
    return transformerClassifier({ vocab, seqLen: inputShape[0], classes, layers: Number(tf[1]), dim: Number(tf[2]) });
  }
  if (name === 'text-meanpool' || name === 'text-conv' || name === 'transformer') {
    if (!vocab || inputShape.length !== 1)
      throw new KdError('UNKNOWN_MODEL', `model '${name}' reads token ids: use it with a text (jsonl) dataset`);
    if (name === 'transformer') return transformerClassifier({ vocab, seqLen: inputShape[0], classes });
    return textClassifier({ vocab, seqLen: inputShape[0], classes, kind: name === 'text-conv' ? 'conv' : 'meanpool' });
  }
  const m = /^(mlp|cnn)-(\d+(?:-\d+)*)$/.exec(name);
  if (m?.[2].split('-').some((w) => Number(w) < 1))
    throw new KdError('UNKNOWN_MODEL', `model '${name}': every width must be a positive integer`);
  if (m) {
    const nums = m[2].split('-').map(Number);
    if (m[1] === 'mlp') {
      const inputs = inputShape.reduce((a, b) => a * b, 1);
      if (nums[0] !== inputs || nums[nums.length - 1] !== classes)
        throw new KdError(
          'SHAPE_MISMATCH',
          `model '${name}' maps ${nums[0]} inputs to ${nums[nums.length - 1]} classes, but the data has ${inputs} ` +
            `inputs per sample and ${classes} classes; try mlp-${inputs}-${nums.slice(1, -1).join('-') || '64'}-${classes}`,
        );
      return mlp(nums, { inputShape: [...inputShape] });
    }
    return cnn(nums, { inputShape: inputShape as [number, number, number], classes });
  }
  if (name === 'lenet5' || name === 'lenet5-half')
    return lenet5({ half: name.endsWith('half'), classes, inputShape: inputShape as [number, number, number] });
  const r = /^resnet(\d+)$/.exec(name);
  if (r) return resnet({ depth: Number(r[1]), inputShape: inputShape as [number, number, number], classes });
  throw new KdError(
    'UNKNOWN_MODEL',
    `unknown model '${name}'; try mlp-784-800-800-10, cnn-8-16, lenet5, ` +
      'lenet5-half, resnet8, resnet20, text-meanpool, text-conv, transformer, mf-16 (user ids → item scores)',
  );
}

/** Whether `name` names a zoo model (syntax only: whether it fits a dataset is checked when it is built). */
export function isZooModelName(name: string): boolean {
  return (
    customZooModel(name) !== undefined ||
    isRecommenderName(name) ||
    LM_NAME.test(name) ||
    TRANSFORMER_NAME.test(name) ||
    /^(mlp|cnn)-[1-9]\d*(-[1-9]\d*)*$/.test(name) ||
    /^resnet\d+$/.test(name) ||
    ['lenet5', 'lenet5-half', 'text-meanpool', 'text-conv', 'transformer'].includes(name)
  );
}
