import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import type { BuildContext } from '../context.js';
import { fakeQuant } from './fake-quant.js';
import { ACT_LEVELS, RANGE_MOMENTUM, type QuantSpec } from './spec.js';

/** Smallest learned scale: a scale of 0 would divide by zero (PyTorch's _LearnableFakeQuantize clamps at its eps too). */
const MIN_SCALE = 1e-8;

/**
 * Fake-quantises an activation `x` (what a Conv or Linear reads) to uint8 with one scale and zero point, its range kept in
 * buffers `act_min` / `act_max` of the current scope. Training: the batch's min and max update the buffers by a moving
 * average (the first step takes them as they are) and the updated range quantises the batch, as PyTorch's FakeQuantize
 * observes before it quantises; evaluation reads the buffers. Scale and zero point follow from the range exactly as the
 * int8 exporter derives them (the range widened to include 0, so 0 is exact). With `learned` ranges the observation stops
 * after `observeSteps` and two parameters, added to the observed scale and zero point, learn from there.
 */
export function quantizeActivation(ctx: BuildContext, x: Value, q: QuantSpec): Value {
  const g = ctx.g;
  return ctx.scope('act', () => {
    ctx.quantSites.set(ctx.fullName('').replace(/\/$/, ''), x.name);
    let mn = ctx.buffer('min', [], { kind: 'zeros' }),
      mx = ctx.buffer('max', [], { kind: 'zeros' });
    const step = ctx.step();
    if (ctx.training) {
      const observed = (old: Value, batch: Value) => {
        if (!step) return batch;
        const ema = op.add(old, op.scale(op.sub(batch, old), RANGE_MOMENTUM));
        const next = op.where(op.less(step, op.scalar(g, 1.5)), batch, ema);
        return q.ranges === 'learned' ? op.where(op.greater(step, op.scalar(g, q.observeSteps + 0.5)), old, next) : next;
      };
      mn = observed(mn, op.reduceMin(x));
      mx = observed(mx, op.reduceMax(x));
      ctx.updateBuffer('min', mn);
      ctx.updateBuffer('max', mx);
    }
    const lo = op.min(mn, op.scalar(g, 0)),
      hi = op.max(mx, op.scalar(g, 0));
    const range = op.sub(hi, lo);
    const ok = op.greater(range, op.scalar(g, 0));
    let s = op.where(ok, op.div(range, op.scalar(g, ACT_LEVELS.max, 'levels')), op.scalar(g, 1));
    let z = op.where(ok, op.min(op.max(op.round(op.div(op.neg(lo), s)), op.scalar(g, 0)), op.scalar(g, ACT_LEVELS.max)), op.scalar(g, 0));
    if (q.ranges === 'minmax') return fakeQuant(x, s, z, ACT_LEVELS, undefined, 'fq');
    // The learned parts start at 0 and get no gradient while the range is observed, so they move only after it.
    const ds = ctx.param('scale_delta', [], { kind: 'zeros' }),
      dz = ctx.param('zero_point_delta', [], { kind: 'zeros' });
    const gate = step ? op.cast(op.greater(step, op.scalar(g, q.observeSteps + 0.5)), 'float32') : op.scalar(g, 1);
    s = op.max(op.add(op.stopGradient(s), op.mul(ds, gate)), op.scalar(g, MIN_SCALE));
    z = op.add(op.stopGradient(z), op.mul(dz, gate));
    // LSQ's gradient scale 1/√(numel · levels), numel counted per batch as PyTorch's use_grad_scaling does.
    const numel = op.cast(g.node('Size', [x], {}, { name: 'numel' })[0], 'float32');
    const gradScale = op.reciprocal(op.sqrt(op.scale(numel, ACT_LEVELS.max)));
    return fakeQuant(x, s, z, ACT_LEVELS, { gradScale }, 'fq');
  });
}

/**
 * `x` fake-quantised under scope `name` when the model trains quantisation-aware with activations (else `x` itself): for
 * tensors the int8 model reads outside a Conv or Linear, such as a residual Add's inputs or a global pooling's.
 */
export function asQuantized(ctx: BuildContext, x: Value, name: string): Value {
  const q = ctx.quant;
  return q?.activations ? ctx.scope(name, () => quantizeActivation(ctx, x, q)) : x;
}
