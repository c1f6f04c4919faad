import assert from 'node:assert/strict';
import { gradients } from '../../src/autodiff/gradients.js';
import { Graph, type Value } from '../../src/graph/graph.js';
import * as op from '../../src/graph/ops.js';
import { toOnnx } from '../../src/graph/onnx.js';
import { isStatic, type TensorData } from '../../src/graph/types.js';
import { createSession, type ort, toOrt } from '../../src/runtime/ort.js';
import { Rng } from '../../src/util/rng.js';

export interface GradCase {
  /** Named float inputs with their values; gradients are checked for those listed in `wrt` (default: all). */
  inputs: Record<string, { shape: number[]; data?: number[] | Float32Array; int?: boolean }>;
  /** Builds the op under test from the graph inputs; returns the output to differentiate. */
  build: (g: Graph, x: Record<string, Value>) => Value;
  wrt?: string[];
  seed?: number;
  eps?: number;
  rtol?: number;
  atol?: number;
  /** How many coordinates per input to check by finite differences (all when the input is smaller). */
  samples?: number;
}

/**
 * Checks kdistill's reverse-mode gradients of `sum(R ⊙ f(x))` (R random) against central finite
 * differences, both evaluated by ONNX Runtime. Returns the largest relative error seen.
 */
export async function gradCheck(c: GradCase): Promise<number> {
  const rng = new Rng(c.seed ?? 1);
  const g = new Graph('gradcheck');
  const vals: Record<string, Value> = {};
  const feeds: Record<string, TensorData> = {};
  for (const [name, spec] of Object.entries(c.inputs)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.int) {
      vals[name] = g.input(name, 'int64', spec.shape);
      feeds[name] = { dtype: 'int64', shape: spec.shape, data: BigInt64Array.from(Array.from(spec.data ?? [], (v) => BigInt(v))) };
      continue;
    }
    vals[name] = g.input(name, 'float32', spec.shape);
    const data = spec.data ? Float32Array.from(spec.data) : Float32Array.from({ length: n }, () => rng.normal());
    feeds[name] = { dtype: 'float32', shape: spec.shape, data };
  }
  const y = c.build(g, vals);
  assert.ok(isStatic(y.shape), `test output must have a static shape, got ${y.shape}`);
  const r = g.initializer(
    'R',
    op.f32(
      Array.from({ length: (y.shape as number[]).reduce((a, b) => a * b, 1) }, () => rng.normal()),
      y.shape as number[],
    ),
  );
  const loss = op.reduceSum(op.mul(y, r), undefined, false, 'loss');
  const wrt = c.wrt ?? Object.keys(c.inputs).filter((k) => !c.inputs[k].int);
  const grads = gradients(
    loss,
    wrt.map((k) => vals[k]),
  );
  g.output(loss, ...wrt.map((k) => grads.get(vals[k].name)!));
  const sess = await createSession(toOnnx(g), { threads: 1, optimization: 'disabled' });
  const ortFeeds = () => Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, toOrt(t)]));
  const out = await sess.run(ortFeeds());
  const eps = c.eps ?? 1e-2,
    rtol = c.rtol ?? 2e-2,
    atol = c.atol ?? 2e-3;
  let worst = 0;
  for (const k of wrt) {
    const analytic = out[grads.get(vals[k].name)!.name].data as Float32Array;
    const x = feeds[k].data as Float32Array;
    assert.equal(analytic.length, x.length, `gradient of ${k} has ${analytic.length} elements, input has ${x.length}`);
    const idx = x.length <= (c.samples ?? 24) ? [...x.keys()] : Array.from({ length: c.samples ?? 24 }, () => rng.int(x.length));
    for (const i of idx) {
      const x0 = x[i];
      x[i] = x0 + eps;
      const lp = ((await sess.run(ortFeeds(), ['loss'])).loss as ort.Tensor).data[0] as number;
      x[i] = x0 - eps;
      const lm = ((await sess.run(ortFeeds(), ['loss'])).loss as ort.Tensor).data[0] as number;
      x[i] = x0;
      const fd = (lp - lm) / (2 * eps);
      const err = Math.abs(fd - analytic[i]);
      const tol = atol + rtol * Math.max(Math.abs(fd), Math.abs(analytic[i]));
      worst = Math.max(worst, err / tol);
      assert.ok(
        err <= tol,
        `d loss/d ${k}[${i}]: autodiff ${analytic[i]} vs finite difference ` +
          `${fd} (|err| ${err.toExponential(2)} > tol ${tol.toExponential(2)})`,
      );
    }
  }
  await sess.release();
  return worst;
}

/** Values bounded away from 0 so kinks (Relu, Abs) are not crossed by the finite-difference step. */
export function awayFromZero(n: number, seed = 7, margin = 0.1): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const v = rng.normal();
    return Math.sign(v || 1) * (Math.abs(v) + margin);
  });
}

/** Distinct values (shuffled ramp) so max/argmax ties never occur within a finite-difference step. */
export function distinct(n: number, seed = 11, step = 0.05): number[] {
  const rng = new Rng(seed);
  const a = Array.from({ length: n }, (_, i) => (i - n / 2) * step);
  return rng.shuffle(a);
}
