import { z } from 'zod';
import { count } from './fields.js';

/**
 * `quantize: { bits, weights, activations, ranges }`: the model trains with fake quantisation in its step graph
 * (quantisation-aware training) and its export carries what it learned, so `kdistill export --int8` writes the int8 model
 * it trained to be instead of calibrating one.
 */
export const quantizeSchema = z.strictObject({
  /** Weight bits: 8, or 4 (held in int8 tensors within −7…7: ONNX Runtime has no int4 kernels). */
  bits: z.literal([8, 4]).default(8),
  /** Weight scales: one per output channel, symmetric (the only form, as ONNX Runtime's QLinear kernels take weights). */
  weights: z.literal('per-channel').default('per-channel'),
  /** Also quantise what each Conv/Linear reads (uint8, asymmetric); false: weights only. */
  activations: z.boolean().default(true),
  /** Activation ranges: a moving average of the batch min/max, or observed first and then learned (LSQ+). */
  ranges: z.enum(['minmax', 'learned']).default('minmax'),
  /** With `learned` ranges: steps of observation before the scale and zero point learn. */
  observeSteps: count.default(200),
});
