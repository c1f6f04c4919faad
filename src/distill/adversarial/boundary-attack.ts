/**
 * BSS's attack (Heo et al., AAAI 2019; the official code, bhheo/BSS_distillation): samples the frozen teacher
 * classifies correctly are pushed by gradient steps on its logits from their class b towards a boundary with a class
 * k, giving the transfer samples `bss` distils on. The trainer runs it for every batch before the step; a method
 * only declares it (`MethodNeeds.boundary`). One ONNX graph holds the teacher in eval mode (BatchNorm on its running
 * statistics, so each sample's gradient is its own) with the gradient of Σ (z_k − z_b) with respect to the inputs.
 */
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf/dist/onnx_pb.js';
import { gradients } from '../../autodiff/gradients.js';
import * as op from '../../graph/ops.js';
import { parseOnnx, toOnnx } from '../../graph/onnx.js';
import { importOnnx } from '../../nn/import/onnx-student.js';
import { Model } from '../../nn/model.js';
import { createSession, ort } from '../../runtime/ort.js';
import { argmaxRows } from '../../util/argmax.js';
import { KdError } from '../../util/errors.js';
import type { Rng } from '../../util/rng.js';

/** The official code's ε in the step: the step stays non-zero for a sample already on the boundary. */
const MARGIN_EPS = 1e-4;

/**
 * The attack's graph: inputs `x` [N, ...sample], `base` and `target` int64 [N]; outputs the teacher's `logits` and
 * `grad_x`, the gradient of Σ_n (z_target − z_base) with respect to `x` (row n holds sample n's own gradient).
 */
export function boundaryAttackGraph(teacher: Uint8Array, source = 'teacher'): { bytes: Uint8Array; classes: number } {
  const b = new Model(importOnnx(logitsOnly(teacher, source), { source, name: 'teacher' })).build('eval');
  const g = b.graph;
  g.outputs.length = 0;
  const inputs = Object.values(b.inputs);
  const logits = b.outputs.logits;
  if (inputs.length !== 1 || !logits)
    throw new KdError(
      'BAD_TEACHER',
      `${source}: bss attacks a teacher of one input with a 'logits' output (it has ${inputs.length} inputs)`,
    );
  const x = inputs[0];
  const classes = logits.shape[1];
  if (typeof classes !== 'number') throw new KdError('BAD_TEACHER', `${source}: its class count (logits [${logits.shape}]) is not fixed`);
  const base = g.input('base', 'int64', ['N']),
    target = g.input('target', 'int64', ['N']);
  const toward = op.sub(op.oneHot(target, classes), op.oneHot(base, classes));
  const gap = op.reduceSum(op.mul(toward, logits), undefined, false, 'gap');
  const grad = gradients(gap, [x]).get(x.name)!;
  g.output(op.identity(logits, 'logits_out'), op.identity(grad, 'grad_x'));
  return { bytes: toOnnx(g), classes };
}

/** The teacher with its `logits` as its only output: a teacher file may also export features, which the attack never reads. */
function logitsOnly(bytes: Uint8Array, source: string): Uint8Array {
  const m = parseOnnx(bytes, source);
  const g = m.graph!;
  if (g.output.length <= 1) return bytes;
  const keep = g.output.filter((o) => o.name === 'logits');
  if (!keep.length)
    throw new KdError(
      'NO_LOGITS',
      `${source} has ${g.output.length} outputs (${g.output.map((o) => o.name).join(', ')}) and none is named 'logits'; bss ` +
        'attacks the class scores, so name them logits',
    );
  g.output = keep;
  return toBinary(ModelProtoSchema, m);
}

/** How the attack moves samples (the `bss` options it was given) and where it keeps them. */
export interface BoundaryAttackOptions {
  /** Attack iterations (official code: 10). */
  readonly steps: number;
  /** Step size η (official code: 0.3). */
  readonly stepSize: number;
  /** Per-element bounds of a sample as fed (the pixel range after normalisation); absent: unbounded features. */
  readonly bounds?: { readonly lo: Float32Array; readonly hi: Float32Array };
}

/** One batch's boundary samples, row for row with the batch. */
export interface BoundaryBatch {
  /** The samples: attacked rows moved, the others the clean sample. */
  readonly x: Float32Array;
  /** The teacher's logits on them [N, C]. */
  readonly logits: Float32Array;
  /** 1 for attacked rows (the teacher classified the clean sample correctly), else 0. */
  readonly attacked: Float32Array;
  /** The class each attacked row was pushed towards (−1 elsewhere). */
  readonly targets: Int32Array;
}

/** The attack on an open session of {@link boundaryAttackGraph}. */
export class BoundaryAttack {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly classes: number,
    private readonly o: BoundaryAttackOptions,
  ) {}

  static async open(teacher: Uint8Array, o: BoundaryAttackOptions & { threads?: number; source?: string }): Promise<BoundaryAttack> {
    if (!(o.steps >= 0 && Number.isInteger(o.steps)) || !(o.stepSize > 0))
      throw new KdError('BAD_OPTION', `bss: attackSteps must be a whole number ≥ 0 and stepSize > 0 (got ${o.steps}, ${o.stepSize})`);
    const graph = boundaryAttackGraph(teacher, o.source);
    return new BoundaryAttack(await createSession(graph.bytes, { threads: o.threads }), graph.classes, o);
  }

  /**
   * Attacks one batch: `x` [N, ...sample] as fed, its labels and the teacher's logits on it (what the step reads as
   * teacher logits). Rows the teacher gets right are attacked with base b = the label and a target k drawn from the
   * teacher's softmax over the other classes (k ∝ p_k, the official code's sampling, from `rng`); each moves by
   * x ← x + η·(z_b − z_k + 1e-4)·∇(z_k − z_b)/‖∇(z_k − z_b)‖₂ while the teacher still predicts b, at most `steps`
   * times, clipped to the bounds after every step.
   */
  async run(
    x: Float32Array,
    shape: readonly number[],
    labels: ArrayLike<number | bigint>,
    teacherLogits: Float32Array,
    rng: Rng,
  ): Promise<BoundaryBatch> {
    const n = shape[0],
      C = this.classes,
      per = x.length / n;
    if (teacherLogits.length !== n * C)
      throw new KdError('SHAPE_MISMATCH', `bss: the teacher answered ${teacherLogits.length / n} logits per sample, its graph has ${C}`);
    const out = {
      x: Float32Array.from(x),
      logits: Float32Array.from(teacherLogits),
      attacked: new Float32Array(n),
      targets: new Int32Array(n).fill(-1),
    };
    const pred = argmaxRows(teacherLogits, C);
    const rows: number[] = [];
    for (let i = 0; i < n; i++) if (pred[i] === Number(labels[i])) rows.push(i);
    if (!rows.length) return out;
    const m = rows.length;
    const base = BigInt64Array.from(rows, (i) => BigInt(pred[i]));
    const target = BigInt64Array.from(rows, (i) => BigInt(drawTarget(teacherLogits.subarray(i * C, (i + 1) * C), pred[i], rng)));
    const xa = new Float32Array(m * per);
    rows.forEach((i, r) => xa.set(x.subarray(i * per, (i + 1) * per), r * per));
    // The teacher's logits at each sample's current position; final once the sample stops.
    const logits = new Float32Array(m * C);
    const lim = this.o.bounds;
    // Only samples still moving are run again: a sample's logits and gradient do not depend on the others'.
    let live = Array.from({ length: m }, (_, r) => r);
    for (let step = 0; step <= this.o.steps && live.length; step++) {
      const lx = new Float32Array(live.length * per);
      live.forEach((r, q) => lx.set(xa.subarray(r * per, (r + 1) * per), q * per));
      const res = await this.session.run({
        x: new ort.Tensor('float32', lx, [live.length, ...shape.slice(1)]),
        base: new ort.Tensor(
          'int64',
          BigInt64Array.from(live, (r) => base[r]),
          [live.length],
        ),
        target: new ort.Tensor(
          'int64',
          BigInt64Array.from(live, (r) => target[r]),
          [live.length],
        ),
      });
      const lg = res.logits_out.data as Float32Array,
        grad = res.grad_x.data as Float32Array;
      live.forEach((r, q) => logits.set(lg.subarray(q * C, (q + 1) * C), r * C));
      if (step === this.o.steps) break;
      const now = argmaxRows(lg, C);
      live = live.filter((r, q) => {
        const b = Number(base[r]),
          k = Number(target[r]);
        // A sample stops once the teacher no longer predicts its base class: it has crossed the boundary.
        if (now[q] !== b) return false;
        const gr = grad.subarray(q * per, (q + 1) * per);
        let sq = 0;
        for (let j = 0; j < per; j++) sq += gr[j] * gr[j];
        if (!(sq > 0)) return false;
        const f = (this.o.stepSize * (lg[q * C + b] - lg[q * C + k] + MARGIN_EPS)) / Math.sqrt(sq);
        const xs = xa.subarray(r * per, (r + 1) * per);
        for (let j = 0; j < per; j++) {
          const v = xs[j] + f * gr[j];
          xs[j] = lim ? Math.min(lim.hi[j], Math.max(lim.lo[j], v)) : v;
        }
        return true;
      });
    }
    rows.forEach((i, r) => {
      out.x.set(xa.subarray(r * per, (r + 1) * per), i * per);
      out.logits.set(logits.subarray(r * C, (r + 1) * C), i * C);
      out.attacked[i] = 1;
      out.targets[i] = Number(target[r]);
    });
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * A class other than `base`, drawn with probability ∝ the teacher's softmax: the official code walks the other
 * classes in descending probability until their running sum passes u·Σ.
 */
export function drawTarget(logits: Float32Array, base: number, rng: Rng): number {
  const C = logits.length;
  let mx = -Infinity;
  for (const v of logits) mx = Math.max(mx, v);
  const p = Array.from(logits, (v) => Math.exp(v - mx));
  const order = p
    .map((v, c) => ({ v, c }))
    .filter((e) => e.c !== base)
    .sort((a, b) => b.v - a.v || a.c - b.c);
  const total = order.reduce((s, e) => s + e.v, 0);
  const u = rng.next() * total;
  let acc = 0;
  for (const e of order) {
    acc += e.v;
    if (acc >= u) return e.c;
  }
  return order.length ? order[order.length - 1].c : (base + 1) % C;
}

/**
 * The bounds of a sample as the batcher feeds it: pixel data (bytes) lies in [0, 1] before `mean` / `std`, so its
 * bounds are (0 − mean)/std and (1 − mean)/std per channel; float features have none. The official code clips to
 * ±2.5, about CIFAR-10's normalised pixel range.
 */
export function fedBounds(
  sampleShape: readonly number[],
  pixels: boolean,
  mean?: number | readonly number[],
  std?: number | readonly number[],
): { lo: Float32Array; hi: Float32Array } | undefined {
  if (!pixels) return undefined;
  const per = sampleShape.reduce((a, b) => a * b, 1);
  const channels = sampleShape.length ? sampleShape[0] : 1;
  const at = (v: number | readonly number[] | undefined, c: number, dflt: number) =>
    v === undefined ? dflt : typeof v === 'number' ? v : v[c];
  const lo = new Float32Array(per),
    hi = new Float32Array(per);
  for (let j = 0; j < per; j++) {
    const c = Math.floor(j / (per / channels));
    const m = at(mean, c, 0),
      s = at(std, c, 1);
    lo[j] = (0 - m) / s;
    hi[j] = (1 - m) / s;
  }
  return { lo, hi };
}
