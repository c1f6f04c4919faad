import { KdError } from '../../util/errors.js';
import type { ModelDef } from '../model.js';

/** What a zoo model is built for: the data's sample shape and class count (and vocabulary, for token ids). */
export interface ZooShape {
  readonly inputShape: readonly number[];
  readonly classes: number;
  readonly vocab?: number;
}

/** Builds a model of one's own for the data a config runs on. */
export type ZooBuilder = (shape: ZooShape) => ModelDef;

const custom = new Map<string, ZooBuilder>();
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Adds a model to the zoo under `name`, so configs and the CLI can name it (`student: { model: my-net }`) and a
 * typo of it still gets "did you mean". A plugin (`plugins:` in a config) is the usual place to call this.
 */
export function registerZooModel(name: string, build: ZooBuilder): void {
  if (!NAME.test(name))
    throw new KdError('BAD_ARGUMENT', `registerZooModel: '${name}' is not a model name (letters, digits, '.', '_', '-')`);
  custom.set(name, build);
}

/** The builder registered under `name`, if any. */
export function customZooModel(name: string): ZooBuilder | undefined {
  return custom.get(name);
}

/** Names registered with {@link registerZooModel}, in registration order. */
export function customZooModelNames(): string[] {
  return [...custom.keys()];
}

/**
 * A model from a user's module (`student: { module: ./my-net.mjs#build }`), under the name configs resolve it to
 * (`my-net.mjs#build`). Not for general use: its names may hold characters a zoo name may not.
 */
export function registerModuleModel(name: string, build: ZooBuilder): void {
  custom.set(name, build);
}
