import * as op from '../../graph/ops.js';
import type { Node } from '../../graph/types.js';
import { registerGrad } from '../rule.js';
import { noGrad } from './conv.js';

const str = (node: Node, key: string, def: string): string => {
  const a = node.attrs[key];
  return a?.kind === 'string' ? a.value : def;
};

/**
 * Whether nearest sampling with integer factors reads input index ⌊i / k⌋ for output index i, so each
 * input element is copied into one k×… block. asymmetric maps i to i/k, which only `floor` rounds to
 * ⌊i/k⌋; half_pixel maps it to ⌊i/k⌋ + (r + ½)/k − ½ with |…| < ½, which only round-to-nearest does.
 */
function replicatesBlocks(node: Node): boolean {
  const ct = str(node, 'coordinate_transformation_mode', 'half_pixel'),
    nm = str(node, 'nearest_mode', 'round_prefer_floor');
  if (ct === 'asymmetric') return nm === 'floor';
  return (ct === 'half_pixel' || ct === 'pytorch_half_pixel') && nm.startsWith('round_prefer_');
}

/*
 * Resize in nearest mode by integer scale factors (upsampling by block replication, as PyTorch's
 * F.interpolate(mode='nearest') does): every output element is a copy of one input element, so the
 * gradient sums dy over each input element's block. dy is reshaped so each scaled axis splits into
 * (input index, offset in block) and the offsets are summed away — exact sums, one pass.
 * Other modes, fractional or downscaling factors, and `sizes`-driven resizes are refused by name.
 */
registerGrad('Resize', (c, [dy]) => {
  const node = c.node,
    x = c.x(0);
  const mode = str(node, 'mode', 'nearest');
  if (mode !== 'nearest') noGrad(node, `gradient is implemented for mode 'nearest' only, got '${mode}'`);
  if (node.attrs.axes) noGrad(node, "gradient needs scales for every axis (no 'axes' attribute)");
  const sc = node.inputs[2] ? c.g.constant(node.inputs[2]) : undefined;
  if (!sc) noGrad(node, 'gradient needs constant scales (not sizes)');
  const k = Array.from(sc.data as Float32Array, Number);
  if (k.length !== x.rank || k.some((s) => !Number.isInteger(s) || s < 1))
    noGrad(node, `gradient needs one integer scale ≥ 1 per axis, got [${k.join(', ')}]`);
  if (k.every((s) => s === 1)) return [dy];
  if (!replicatesBlocks(node))
    noGrad(
      node,
      `with integer scales the gradient needs coordinate_transformation_mode 'asymmetric' + nearest_mode 'floor' ` +
        `or 'half_pixel' + 'round_prefer_*', got '${str(node, 'coordinate_transformation_mode', 'half_pixel')}' + ` +
        `'${str(node, 'nearest_mode', 'round_prefer_floor')}'`,
    );
  // Axes before the first scaled one are copied (Reshape's 0, so a symbolic batch passes); from there on
  // sizes must be fixed because the split shifts later axes.
  const first = k.findIndex((s) => s !== 1);
  const target: number[] = x.shape.slice(0, first).map(() => 0);
  const sumAxes: number[] = [];
  for (let i = first; i < x.rank; i++) {
    const d = x.shape[i];
    if (typeof d !== 'number')
      noGrad(node, `gradient needs a fixed size on axis ${i} (at or after the first scaled axis), got ${x.toString()}`);
    target.push(d);
    if (k[i] !== 1) {
      sumAxes.push(target.length);
      target.push(k[i]);
    }
  }
  return [op.reduceSum(op.reshape(dy!, target), sumAxes, false)];
});
