import type { ConfigRegistry } from '../config/index.js';
import { methodRegistry } from '../distill/registry.js';
import { customZooModelNames, isZooModelName } from '../nn/zoo/index.js';

/** What configs are validated against: the registered methods and the zoo's model names. */
export function configRegistry(): ConfigRegistry {
  return {
    methods: methodRegistry(),
    models: isZooModelName,
    modelExamples: [
      'mlp-784-800-800-10',
      'mlp-784-30-30-10',
      'cnn-32-64-128',
      'cnn-8-16',
      'cnn-4-8',
      'lenet5',
      'lenet5-half',
      'resnet8',
      'resnet20',
      'resnet32',
      'text-meanpool',
      'text-conv',
      'transformer',
      ...customZooModelNames(),
    ],
  };
}
