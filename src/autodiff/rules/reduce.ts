import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { attrInt, normAxis, shapeInput } from '../../graph/shape-infer.js';
import { registerGrad, type GradContext } from '../rule.js';

/** Reduced axes of a Reduce* node (all axes when none are given), normalised to be non-negative. */
function reducedAxes(c: GradContext): number[] {
  const x = c.x(0);
  const ax = c.node.inputs[1] ? (shapeInput(c.g, c.node.inputs[1]) as number[]) : [];
  return ax.length ? ax.map((a) => normAxis(a, x.rank)) : x.shape.map((_, i) => i);
}

/** Brings a reduced gradient back to the input's shape: re-insert dropped axes, then broadcast. */
function spread(c: GradContext, dy: Value): Value {
  const keep = attrInt(c.node, 'keepdims', 1) === 1;
  const d = keep ? dy : op.unsqueeze(dy, reducedAxes(c));
  return op.expandLike(d, c.x(0));
}

/** Number of elements each output averages, as a float scalar (static when the reduced dims are). */
function count(c: GradContext): Value {
  const x = c.x(0);
  const dims = reducedAxes(c).map((a) => x.shape[a]);
  if (dims.every((d) => typeof d === 'number'))
    return op.scalar(
      c.g,
      (dims as number[]).reduce((p, q) => p * q, 1),
    );
  return op.div(op.cast(c.g.node('Size', [x])[0], 'float32'), op.cast(c.g.node('Size', [c.y(0)])[0], 'float32'));
}

registerGrad('ReduceSum', (c, [dy]) => [spread(c, dy!)]);
registerGrad('ReduceMean', (c, [dy]) => [op.div(spread(c, dy!), count(c))]);
registerGrad('ReduceSumSquare', (c, [dy]) => [op.mul(spread(c, dy!), op.scale(c.x(0), 2))]);
for (const kind of ['ReduceMax', 'ReduceMin'])
  registerGrad(kind, (c, [dy]) => {
    // Ties share the gradient equally (PyTorch's amax/amin convention).
    const mask = op.cast(op.equal(c.x(0), spread(c, c.y(0))), 'float32');
    const ties = c.g.node('ReduceSum', c.node.inputs[1] ? [mask, c.node.inputs[1]] : [mask], c.node.attrs)[0];
    return [op.mul(mask, spread(c, op.div(dy!, ties)))];
  });

registerGrad('Softmax', (c, [dy]) => {
  const y = c.y(0);
  const axis = attrInt(c.node, 'axis', -1);
  return [op.mul(y, op.sub(dy!, op.reduceSum(op.mul(dy!, y), [axis], true)))];
});
registerGrad('LogSoftmax', (c, [dy]) => {
  const axis = attrInt(c.node, 'axis', -1);
  return [op.sub(dy!, op.mul(op.exp(c.y(0)), op.reduceSum(dy!, [axis], true)))];
});
