/**
 * Quantisation-aware models: a model definition whose Conv and Linear layers read fake-quantised inputs and weights, and
 * the quantisation parameters it learned, as the int8 exporter takes them from an exported file's metadata.
 */
import { Graph } from '../../graph/graph.js';
import { parseOnnx } from '../../graph/onnx.js';
import { KdError } from '../../util/errors.js';
import { rint } from '../../util/rint.js';
import { emitModel, type Model, type ModelDef } from '../model.js';
import { ACT_LEVELS, type QuantSpec } from './spec.js';

/** `def` trained with fake quantisation as `q` says; `quantization.float` is the same model in float (what is exported). */
export function withQuantization(def: ModelDef, q: QuantSpec): ModelDef {
  if (def.quantization) throw new KdError('BAD_CONFIG', `model '${def.name}' is already quantisation-aware`);
  return {
    ...def,
    quantization: { spec: q, float: def },
    forward(ctx, ins) {
      const before = ctx.quant;
      ctx.quant = q;
      try {
        const out = def.forward(ctx, ins);
        if (!ctx.quantLayers.length)
          throw new KdError(
            'BAD_CONFIG',
            `model '${def.name}' has no Conv2d or Linear layer for quantisation-aware training to quantise; ` +
              'build it from kdistill layers, or remove quantize',
          );
        return out;
      } finally {
        ctx.quant = before;
      }
    },
  };
}

/** The metadata key of an exported quantisation-aware model: JSON {@link QatParams}. */
export const QAT_KEY = 'kdistill.qat';

/** Whether an exported model was trained quantisation-aware (its file carries what it learned). */
export function isQuantizationAware(bytes: Uint8Array): boolean {
  return parseOnnx(bytes).metadataProps.some((p) => p.key === QAT_KEY);
}

/** What a quantisation-aware model learned, keyed as its exported float graph names the activations. */
export interface QatParams {
  readonly bits: 8 | 4;
  readonly weights: 'per-channel';
  /** Scale and zero point of each fake-quantised activation (uint8), by the name of the tensor it quantises. */
  readonly activations: Readonly<Record<string, { readonly scale: number; readonly zeroPoint: number }>>;
}

const f = Math.fround;

/** Scale and uint8 zero point from a range, in float32 step by step as the training graph computes them. */
export function rangeParams(min: number, max: number): { scale: number; zeroPoint: number } {
  const lo = Math.min(f(min), 0),
    hi = Math.max(f(max), 0);
  const range = f(hi - lo);
  if (!(range > 0)) return { scale: 1, zeroPoint: 0 };
  const scale = f(range / ACT_LEVELS.max);
  return { scale, zeroPoint: Math.min(ACT_LEVELS.max, Math.max(0, rint(f(-lo / scale)))) };
}

/** The quantisation parameters `model` (quantisation-aware) holds now; undefined for a float model. */
export function qatParams(model: Model): QatParams | undefined {
  const q = model.def.quantization;
  if (!q) return undefined;
  // The sites are named as the eval graph names what they read (dropout, for one, is gone there).
  const { ctx } = emitModel(model.def, new Graph(model.name), 'eval');
  const activations: Record<string, { scale: number; zeroPoint: number }> = {};
  const value = (name: string) => model.values.get(name)?.[0];
  for (const [site, tensor] of ctx.quantSites) {
    let { scale, zeroPoint } = rangeParams(value(`${site}/min`)!, value(`${site}/max`)!);
    if (q.spec.ranges === 'learned') {
      scale = Math.max(f(scale + value(`${site}/scale_delta`)!), 1e-8);
      zeroPoint = Math.min(ACT_LEVELS.max, Math.max(0, rint(f(zeroPoint + value(`${site}/zero_point_delta`)!))));
    }
    // One tensor read by two layers has two observers; they see the same values, so either serves.
    activations[tensor] = { scale: f(scale), zeroPoint };
  }
  return { bits: q.spec.bits, weights: q.spec.weights, activations };
}
