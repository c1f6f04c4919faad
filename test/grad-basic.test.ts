import { describe, it } from 'node:test';
import * as op from '../src/graph/ops.js';
import { awayFromZero, distinct, gradCheck } from './helpers/gradcheck.js';

const pos = (n: number) => awayFromZero(n).map((v) => Math.abs(v) + 0.5);
/** Twelve values: below, between and above the given kinks, none within 0.2 of one. */
const kinks = (at: number[]) => awayFromZero(12).map((v, i) => at[i % at.length] + (v < 0 ? v - 0.2 : v + 0.2) * 1.5);

describe('gradient rules: elementwise', () => {
  const unary: [string, (x: op.Dim extends never ? never : Parameters<typeof op.relu>[0]) => ReturnType<typeof op.relu>, number[]?][] = [
    ['Relu', (x) => op.relu(x), awayFromZero(12)],
    ['Sigmoid', (x) => op.sigmoid(x)],
    ['Tanh', (x) => op.tanh(x)],
    ['Exp', (x) => op.exp(x)],
    ['Log', (x) => op.log(x), pos(12)],
    ['Sqrt', (x) => op.sqrt(x), pos(12)],
    ['Neg', (x) => op.neg(x)],
    ['Abs', (x) => op.abs(x), awayFromZero(12)],
    ['Erf', (x) => op.erf(x)],
    ['Reciprocal', (x) => op.reciprocal(x), pos(12)],
    ['Identity', (x) => op.identity(x)],
    ['Softplus', (x) => x.graph.node('Softplus', [x])[0]],
    ['LeakyRelu', (x) => x.graph.node('LeakyRelu', [x], { alpha: { kind: 'float', value: 0.2 } })[0], awayFromZero(12)],
    // Values on both sides of every kink and away from them (ReLU6's 0 and 6, hardsigmoid's ±3, Elu's 0).
    ['Clip (ReLU6)', (x) => x.graph.node('Clip', [x, op.scalar(x.graph, 0), op.scalar(x.graph, 6)])[0], kinks([0, 6])],
    ['Clip (max only)', (x) => x.graph.node('Clip', [x, '', op.scalar(x.graph, 0.5)])[0], kinks([0.5])],
    ['HardSigmoid', (x) => x.graph.node('HardSigmoid', [x], { alpha: { kind: 'float', value: 1 / 6 } })[0], kinks([-3, 3])],
    ['HardSwish', (x) => x.graph.node('HardSwish', [x])[0], kinks([-3, 3])],
    ['Elu', (x) => x.graph.node('Elu', [x], { alpha: { kind: 'float', value: 0.7 } })[0], kinks([0])],
  ];
  for (const [name, f, data] of unary) {
    it(name, async () => {
      await gradCheck({ inputs: { x: { shape: [3, 4], data } }, build: (_g, v) => f(v.x) });
    });
  }

  const binary: [string, (a: Parameters<typeof op.add>[0], b: Parameters<typeof op.add>[0]) => ReturnType<typeof op.add>][] = [
    ['Add', op.add],
    ['Sub', op.sub],
    ['Mul', op.mul],
    ['Div', op.div],
    ['Max', op.max],
    ['Min', op.min],
  ];
  for (const [name, f] of binary) {
    it(`${name} with broadcasting`, async () => {
      await gradCheck({
        inputs: {
          a: { shape: [2, 3, 4], data: distinct(24, 3) },
          b: { shape: [3, 1], data: name === 'Div' ? pos(3) : distinct(3, 5, 0.37) },
        },
        build: (_g, v) => f(v.a, v.b),
      });
    });
  }
  it('Pow (both operands)', async () => {
    await gradCheck({
      inputs: { a: { shape: [2, 3], data: pos(6) }, b: { shape: [3], data: [0.5, 2, 1.5] } },
      build: (_g, v) => op.pow(v.a, v.b),
    });
  });
  it('Where', async () => {
    await gradCheck({
      inputs: { a: { shape: [2, 3] }, b: { shape: [3] }, c: { shape: [2, 3], data: awayFromZero(6) } },
      wrt: ['a', 'b'],
      build: (_g, v) => op.where(op.greater(v.c, op.scalar(v.c.graph, 0)), v.a, v.b),
    });
  });
});

describe('gradient rules: matmul', () => {
  it('MatMul 2D', async () => {
    await gradCheck({ inputs: { a: { shape: [3, 4] }, b: { shape: [4, 5] } }, build: (_g, v) => op.matmul(v.a, v.b) });
  });
  it('MatMul batched × shared weight', async () => {
    await gradCheck({ inputs: { a: { shape: [2, 3, 4] }, b: { shape: [4, 5] } }, build: (_g, v) => op.matmul(v.a, v.b) });
  });
  it('MatMul batched × batched with broadcast', async () => {
    await gradCheck({ inputs: { a: { shape: [2, 3, 4] }, b: { shape: [1, 4, 2] } }, build: (_g, v) => op.matmul(v.a, v.b) });
  });
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ]) {
    it(`Gemm transA=${ta} transB=${tb} with bias`, async () => {
      await gradCheck({
        inputs: { a: { shape: ta ? [4, 3] : [3, 4] }, b: { shape: tb ? [5, 4] : [4, 5] }, c: { shape: [5] } },
        build: (_g, v) => op.gemm(v.a, v.b, v.c, { transA: ta, transB: tb, alpha: 0.7, beta: 1.3 }),
      });
    });
  }
});

describe('gradient rules: reductions and softmax', () => {
  for (const keep of [true, false]) {
    it(`ReduceSum keepdims=${keep}`, async () => {
      await gradCheck({ inputs: { x: { shape: [2, 3, 4] } }, build: (_g, v) => op.reduceSum(v.x, [0, 2], keep) });
    });
    it(`ReduceMean keepdims=${keep}`, async () => {
      await gradCheck({ inputs: { x: { shape: [2, 3, 4] } }, build: (_g, v) => op.reduceMean(v.x, [1], keep) });
    });
    it(`ReduceMax keepdims=${keep}`, async () => {
      await gradCheck({ inputs: { x: { shape: [2, 3, 4], data: distinct(24) } }, build: (_g, v) => op.reduceMax(v.x, [2], keep) });
    });
  }
  it('ReduceSumSquare', async () => {
    await gradCheck({
      inputs: { x: { shape: [2, 3, 4] } },
      build: (g, v) => g.node('ReduceSumSquare', [v.x, op.ints(g, [1])], { keepdims: { kind: 'int', value: 0 } })[0],
    });
  });
  it('Cast float → float passes the gradient through', async () => {
    await gradCheck({ inputs: { x: { shape: [3, 4] } }, build: (_g, v) => op.tanh(op.cast(v.x, 'float32')) });
  });
  it('ReduceMean over all axes', async () => {
    await gradCheck({ inputs: { x: { shape: [2, 3] } }, build: (_g, v) => op.unsqueeze(op.reduceMean(v.x), [0]) });
  });
  it('ReduceMin', async () => {
    await gradCheck({ inputs: { x: { shape: [3, 4], data: distinct(12) } }, build: (_g, v) => op.reduceMin(v.x, [0], true) });
  });
  for (const axis of [-1, 0]) {
    it(`Softmax axis=${axis}`, async () => {
      await gradCheck({ inputs: { x: { shape: [3, 5] } }, build: (_g, v) => op.softmax(v.x, axis) });
    });
    it(`LogSoftmax axis=${axis}`, async () => {
      await gradCheck({ inputs: { x: { shape: [3, 5] } }, build: (_g, v) => op.logSoftmax(v.x, axis) });
    });
  }
});

describe('gradient rules: shape ops', () => {
  it('Reshape', async () => {
    await gradCheck({ inputs: { x: { shape: [2, 3, 4] } }, build: (_g, v) => op.mul(op.reshape(v.x, [0, -1]), op.reshape(v.x, [2, 12])) });
  });
  it("Reshape to a target computed from the input's Shape (PyTorch's x.view(x.size(0), -1))", async () => {
    await gradCheck({
      inputs: { x: { shape: [2, 3, 4] } },
      build: (g, v) => {
        const n = op.unsqueeze(
          g.node('Gather', [g.node('Shape', [v.x])[0], g.initializer('zero', { dtype: 'int64', shape: [], data: BigInt64Array.of(0n) })], {
            axis: { kind: 'int', value: 0 },
          })[0],
          [0],
        );
        return op.tanh(g.node('Reshape', [v.x, op.concat([n, op.ints(g, [-1], 'rest')], 0)])[0]);
      },
    });
  });
  it('Pad (constant, uneven on two axes)', async () => {
    await gradCheck({
      inputs: { x: { shape: [2, 3, 4] } },
      build: (g, v) => {
        const p = g.node('Pad', [v.x, op.ints(g, [0, 1, 0, 0, 2, 3], 'pads'), op.scalar(g, 0.5)])[0];
        return op.mul(p, op.tanh(p));
      },
    });
  });
  it('Flatten', async () => {
    await gradCheck({ inputs: { x: { shape: [2, 3, 2] } }, build: (_g, v) => op.sigmoid(op.flatten(v.x)) });
  });
  it('Transpose', async () => {
    await gradCheck({
      inputs: { x: { shape: [2, 3, 4] } },
      build: (_g, v) => op.mul(op.transpose(v.x, [2, 0, 1]), op.transpose(v.x, [2, 0, 1])),
    });
  });
  it('Squeeze/Unsqueeze', async () => {
    await gradCheck({ inputs: { x: { shape: [2, 1, 3] } }, build: (_g, v) => op.unsqueeze(op.tanh(op.squeeze(v.x, [1])), [0]) });
  });
  it('Concat', async () => {
    await gradCheck({ inputs: { a: { shape: [2, 3] }, b: { shape: [2, 2] } }, build: (_g, v) => op.tanh(op.concat([v.a, v.b, v.a], 1)) });
  });
  it('Slice', async () => {
    await gradCheck({ inputs: { x: { shape: [4, 6] } }, build: (_g, v) => op.slice(v.x, [1, -4], [3, 5], [0, 1]) });
  });
  it('Expand', async () => {
    await gradCheck({ inputs: { x: { shape: [3, 1] } }, build: (_g, v) => op.expand(v.x, [2, 3, 4]) });
  });
  it('Split', async () => {
    await gradCheck({
      inputs: { x: { shape: [2, 6] } },
      build: (g, v) => {
        const [a, , c] = g.node('Split', [v.x, op.ints(g, [2, 3, 1])], { axis: { kind: 'int', value: 1 } }, { nOut: 3 });
        return op.concat([op.tanh(a), c], 1);
      },
    });
  });
  it('Gather (embedding rows, repeated indices)', async () => {
    await gradCheck({
      inputs: { w: { shape: [5, 3] }, idx: { shape: [2, 3], int: true, data: [0, 4, 4, 1, 0, 4] } },
      build: (_g, v) => op.gather(v.w, v.idx),
    });
  });
  it('Gather along a middle axis (class columns, repeated, 2-D indices)', async () => {
    await gradCheck({
      inputs: { x: { shape: [2, 5, 3] }, idx: { shape: [2, 2], int: true, data: [4, 0, 4, 2] } },
      build: (_g, v) => op.tanh(op.gather(v.x, v.idx, 1)),
    });
  });
});
