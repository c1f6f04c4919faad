/**
 * A model that normalises its own input: `(x − mean) / std` per channel as the first nodes of its graph, so it trains
 * on the data as the core feeds it (pixels in [0, 1]) and its exported ONNX takes that data too, with no separate
 * preprocessing to keep in step with it.
 */
import * as op from '../graph/ops.js';
import { KdError } from '../util/errors.js';
import type { ModelDef } from './model.js';

/** Per-channel normalisation of a model's input: one value for all channels, or one per channel. */
export interface InputNorm {
  readonly mean?: number | readonly number[];
  readonly std?: number | readonly number[];
}

/** `def` reading its (single, float) input normalised; `key` is where the normalisation is written, in messages. */
export function withInputNorm(def: ModelDef, norm: InputNorm, key = 'student.input'): ModelDef {
  if (norm.mean === undefined && norm.std === undefined) return def;
  const inputs = Object.entries(def.inputs);
  if (inputs.length !== 1)
    throw new KdError('BAD_ADAPTER', `${key}: model '${def.name}' takes ${inputs.length} inputs; mean and std normalise a model with one`);
  const [name, spec] = inputs[0];
  if (spec.dtype !== 'float32')
    throw new KdError('BAD_ADAPTER', `${key}: model '${def.name}' takes ${spec.dtype} (token ids); mean and std normalise float samples`);
  const channels = spec.shape[1];
  // One value broadcasts as a scalar; one per channel as [C, 1, …] against the sample's channel axis.
  const constant = (v: number | readonly number[], what: 'mean' | 'std') => {
    const values = typeof v === 'number' ? [v] : [...v];
    if (what === 'std' && values.some((s) => !(s > 0)))
      throw new KdError('BAD_ADAPTER', `${key}.std: [${values.join(', ')}] must all be positive`);
    if (values.length === 1) return op.f32(values, []);
    if (typeof channels === 'number' && values.length !== channels)
      throw new KdError(
        'BAD_ADAPTER',
        `${key}.${what} has ${values.length} values but model '${def.name}' takes ${channels} channels; ` +
          'give one per channel, or one for all',
      );
    return op.f32(values, [values.length, ...new Array<number>(Math.max(0, spec.shape.length - 2)).fill(1)]);
  };
  const mean = norm.mean === undefined ? undefined : constant(norm.mean, 'mean');
  const std = norm.std === undefined ? undefined : constant(norm.std, 'std');
  return {
    ...def,
    forward(ctx, ins) {
      let x = ins[name];
      if (mean) x = op.sub(x, ctx.g.initializer('input_norm/mean', mean), 'input_norm/sub');
      if (std) x = op.div(x, ctx.g.initializer('input_norm/std', std), 'input_norm/div');
      return def.forward(ctx, { ...ins, [name]: x });
    },
  };
}
