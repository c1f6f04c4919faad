/**
 * Fake quantisation as graph ops: the value a tensor takes after QuantizeLinear → DequantizeLinear, computed in float so
 * any bit width fits (a 4-bit weight is the same ops with narrower levels), with a straight-through gradient.
 */
import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { weightLevels } from './spec.js';

/** The integer levels a fake-quantised tensor may take. */
export interface Levels {
  readonly min: number;
  readonly max: number;
}

/** With a learned scale and zero point: their gradients are summed over the tensor and multiplied by this factor. */
export interface LearnedRange {
  readonly gradScale: Value;
}

/**
 * y = (clamp(round(x / s) + z, min, max) − z) · s, with z rounded and clamped to the levels: exactly what ONNX's
 * QuantizeLinear (x / s, round half to even, add the zero point, saturate) and DequantizeLinear ((q − z) · s) compute.
 * Gradient: the straight-through estimator, dy where round(x / s) + z lies within the levels and 0 where it was clamped
 * (PyTorch's fake_quantize_per_channel_affine). With `learned`, also the gradients of s and z as PyTorch's
 * _fake_quantize_learnable_per_tensor_affine gives them (LSQ+): inside the levels (y − x) / s for s and 0 for z; where
 * clamped, (level − z) for s and −s for z; each summed and multiplied by `gradScale`.
 */
export function fakeQuant(x: Value, s: Value, z: Value, levels: Levels, learned?: LearnedRange, name?: string): Value {
  const g = x.graph;
  const lo = op.scalar(g, levels.min, 'qmin'),
    hi = op.scalar(g, levels.max, 'qmax');
  const clamp = (v: Value) => op.min(op.max(v, lo), hi);
  let raw: Value | undefined;
  let zr: Value | undefined;
  const y = g.customGradient(
    learned ? [x, s, z] : [x],
    () => {
      zr = clamp(op.round(z));
      raw = op.add(op.round(op.div(x, s)), zr);
      return op.mul(op.sub(clamp(raw), zr), s, name);
    },
    (dy) => {
      const below = op.less(raw!, lo),
        above = op.greater(raw!, hi);
      const inside = op.not(op.or(below, above));
      const zero = op.scalar(g, 0);
      const dx = op.where(inside, dy, zero);
      if (!learned) return [dx];
      const dsClamped = op.where(below, op.sub(lo, zr!), op.sub(hi, zr!));
      const ds = op.mul(dy, op.where(inside, op.div(op.sub(y, x), s), dsClamped));
      const dz = op.mul(dy, op.where(inside, zero, op.neg(s)));
      const total = (v: Value) => op.mul(op.reduceSum(v), learned.gradScale);
      return [dx, total(ds), total(dz)];
    },
  );
  return y;
}

/**
 * Symmetric per-channel fake quantisation of a weight along `axis` (its output channels): scale max|w_c| / (2^(bits−1) − 1),
 * zero point 0, an all-zero channel scale 1, as the int8 exporter writes the weight. The scale follows the weight and
 * carries no gradient (PyTorch's observer-based fake quantisation).
 */
export function fakeQuantWeight(w: Value, axis: number, bits: number): Value {
  const g = w.graph;
  const q = weightLevels(bits);
  const axes = w.shape.map((_, i) => i).filter((i) => i !== axis);
  const amax = op.reduceMax(op.abs(w), axes, true);
  // Divided, not multiplied by 1/q: the exporter divides, and the two differ in float32's last bit.
  const scale = op.where(op.greater(amax, op.scalar(g, 0)), op.div(amax, op.scalar(g, q, 'levels')), op.scalar(g, 1));
  return fakeQuant(w, scale, op.scalar(g, 0, 'zero_point'), { min: -q, max: q }, undefined, 'weight_fq');
}
