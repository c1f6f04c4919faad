import { parseOnnx } from '../../graph/onnx.js';
import { KdError } from '../../util/errors.js';
import { declaredInputs } from '../inference.js';
import { exposeOutputs } from '../expose.js';
import { createSession, ort } from '../ort.js';

/** The observed range of a float tensor over the calibration data. */
export interface TensorRange {
  min: number;
  max: number;
}

export interface CalibrationOptions {
  /** Shape of one sample; default: the model's declared input shape without its batch dimension. */
  sampleShape?: readonly number[];
  threads?: number;
  source?: string;
}

/** The one float32 input of a model and the shape of one of its samples. */
export function floatInput(bytes: Uint8Array, o: CalibrationOptions): { name: string; sampleShape: number[] } {
  const source = o.source ?? 'model';
  const ins = declaredInputs(parseOnnx(bytes, source));
  if (ins.length !== 1 || (ins[0].dtype && ins[0].dtype !== 'float32')) {
    throw new KdError(
      'UNSUPPORTED_MODEL',
      `int8 quantization needs a model with one float32 input; ${source} takes ` +
        `${ins.map((i) => `'${i.name}' (${i.dtype ?? '?'})`).join(', ') || 'none'}`,
    );
  }
  const dims = ins[0].dims?.slice(1);
  const sampleShape = o.sampleShape ? [...o.sampleShape] : dims?.every((d) => typeof d === 'number') ? (dims as number[]) : undefined;
  if (!sampleShape)
    throw new KdError('UNSUPPORTED_MODEL', `${source} declares input '${ins[0].name}' without fixed sample dims; pass sampleShape`);
  return { name: ins[0].name, sampleShape };
}

/**
 * Min/max of each named tensor (node outputs or the graph input) over the calibration batches: the
 * model is run with those tensors exposed as outputs (ORT's MinMax calibrator does the same). Tensors
 * that turn out not to be float32 (shapes, indices) are left out of the result.
 */
export async function collectRanges(
  bytes: Uint8Array,
  names: readonly string[],
  calibration: readonly Float32Array[],
  o: CalibrationOptions = {},
): Promise<Map<string, TensorRange>> {
  const source = o.source ?? 'model';
  const { name: input, sampleShape } = floatInput(bytes, o);
  const per = sampleShape.reduce((a, b) => a * b, 1);
  if (!calibration.length || calibration.every((b) => b.length === 0))
    throw new KdError(
      'EMPTY_DATASET',
      `no calibration samples for ${source}: int8 quantization needs some inputs to measure activation ranges`,
    );
  const nodeNames = names.filter((n) => n !== input);
  const s = await createSession(exposeOutputs(bytes, nodeNames, source), { threads: o.threads });
  const ranges = new Map<string, TensorRange>();
  const see = (name: string, d: Float32Array) => {
    let lo = Infinity,
      hi = -Infinity;
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const r = ranges.get(name);
    if (!r) ranges.set(name, { min: lo, max: hi });
    else ranges.set(name, { min: Math.min(r.min, lo), max: Math.max(r.max, hi) });
  };
  try {
    for (const b of calibration) {
      if (b.length % per !== 0)
        throw new KdError(
          'SHAPE_MISMATCH',
          `calibration batch of ${b.length} values is not a whole number of samples of [${sampleShape.join(', ')}] for ${source}`,
        );
      if (!b.length) continue;
      if (names.includes(input)) see(input, b);
      if (!nodeNames.length) continue;
      const r = (await s.run({ [input]: new ort.Tensor('float32', b, [b.length / per, ...sampleShape]) }, nodeNames)) as Record<
        string,
        ort.Tensor
      >;
      for (const n of nodeNames) if (r[n].type === 'float32') see(n, r[n].data as Float32Array);
    }
  } finally {
    await s.release();
  }
  return ranges;
}
