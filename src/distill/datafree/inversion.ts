/**
 * Inputs optimised through a frozen teacher (ZSKD's data impressions, DeepInversion): one ONNX graph that takes a
 * batch of candidate inputs and the class distributions they should produce, and returns the objective and its
 * gradient with respect to the inputs, which `invert` descends with Adam. The teacher is re-emitted in eval mode
 * (its BatchNorm normalises with the running statistics), so only the inputs change.
 */
import { gradients } from '../../autodiff/gradients.js';
import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { toOnnx } from '../../graph/onnx.js';
import { importOnnx } from '../../nn/import/onnx-student.js';
import type { BuildContext } from '../../nn/context.js';
import { emitModel, Model } from '../../nn/model.js';
import { createSession, ort } from '../../runtime/ort.js';
import { KdError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';
import type { SynthContext } from './synthesizer.js';

/** The weighted terms of the objective; a zero weight leaves its term out of the graph. */
export interface InversionTerms {
  /** Cross-entropy of the teacher's tempered prediction against the target distribution. */
  readonly target: number;
  /** Temperature of that prediction (ZSKD: 20). */
  readonly temperature: number;
  /** DeepInversion's feature-statistics term: ‖μ_batch − μ_running‖₂ + ‖σ²_batch − σ²_running‖₂ per BatchNorm. */
  readonly bn: number;
  /** Extra weight of the first BatchNorm's term (DeepInversion's first_bn_multiplier). */
  readonly firstBn: number;
  /** Total variation: ‖·‖₂ of the horizontal, vertical and both diagonal pixel differences. */
  readonly tv: number;
  /** Mean ℓ2 norm of each input. */
  readonly l2: number;
  /**
   * Adaptive DeepInversion's competition term, 1 − JS(teacher ‖ competitor) averaged over the batch, at temperature
   * `competitionTemperature` (the official code: 3); needs `inversionGraph`'s competitor. Absent or 0: left out.
   */
  readonly competition?: number;
  readonly competitionTemperature?: number;
}

/** The objective's graph and what it found in the teacher. */
export interface InversionGraph {
  readonly bytes: Uint8Array;
  /** BatchNormalization nodes whose statistics the `bn` term matches (0 for a teacher exported with BN folded). */
  readonly bnLayers: number;
  readonly classes: number;
}

/** Keeps ‖·‖₂ differentiable where a difference is exactly zero (torch.norm's subgradient there is 0). */
const NORM_EPS = 1e-12;

const l2norm = (v: Value) => op.sqrt(op.addScalar(op.reduceSumSquare(v), NORM_EPS));

/**
 * Builds the objective for inputs of `sampleShape` ([C, H, W] for the image priors). Inputs `x` [N, ...sampleShape]
 * and `target` [N, classes]; outputs `loss`, each term, `logits` and `grad_x`.
 */
export function inversionGraph(
  teacher: Uint8Array,
  sampleShape: readonly number[],
  t: InversionTerms,
  source = 'teacher',
  competitor?: Model,
): InversionGraph {
  const model = new Model(importOnnx(teacher, { source, name: 'teacher' }));
  const b = model.build('eval');
  const g = b.graph;
  g.outputs.length = 0;
  const x = b.inputs.x,
    logits = b.outputs.logits;
  const classes = logits.shape[1];
  if (typeof classes !== 'number') throw new KdError('BAD_TEACHER', `${source}: its class count (logits [${logits.shape}]) is not fixed`);
  const bnNodes = g.nodes.filter((n) => n.opType === 'BatchNormalization');
  const terms: Record<string, Value> = {};
  if (t.target) {
    const target = g.input('target', 'float32', ['N', classes]);
    const logp = op.logSoftmax(op.scale(logits, 1 / t.temperature), 1);
    terms.target = op.neg(op.reduceMean(op.reduceSum(op.mul(target, logp), [1])), 'target_loss');
  }
  if (t.bn && bnNodes.length) {
    const per = bnNodes.map((n, k) => {
      const h = g.value(n.inputs[0]);
      if (h.rank < 2) throw new KdError('BAD_TEACHER', `${source}: BatchNormalization '${n.name}' normalises a rank-${h.rank} value`);
      const axes = [0, ...Array.from({ length: h.rank - 2 }, (_, i) => i + 2)];
      const mean = op.reduceMean(h, axes, true);
      const d = op.sub(h, mean);
      const variance = op.reduceMean(op.mul(d, d), axes);
      const r = op.add(l2norm(op.sub(op.flatten(mean, 0), g.value(n.inputs[3]))), l2norm(op.sub(variance, g.value(n.inputs[4]))));
      return k === 0 && t.firstBn !== 1 ? op.scale(r, t.firstBn) : r;
    });
    terms.bn = op.identity(
      per.reduce((p, q) => op.add(p, q)),
      'bn_loss',
    );
  }
  if (t.competition) {
    if (!competitor) throw new KdError('BAD_OPTION', `${source}: the competition term needs a competitor (the student)`);
    terms.competition = competitionTerm(x, logits, competitor, t.competitionTemperature ?? 3);
  }
  if (t.tv) {
    if (sampleShape.length !== 3)
      throw new KdError('BAD_OPTION', `${source}: the total-variation prior needs image samples [C, H, W], not [${sampleShape}]`);
    const [H, W] = [sampleShape[1], sampleShape[2]];
    const s = (h0: number, h1: number, w0: number, w1: number) => op.slice(x, [h0, w0], [h1, w1], [2, 3]);
    const diffs = [
      op.sub(s(0, H, 1, W), s(0, H, 0, W - 1)),
      op.sub(s(1, H, 0, W), s(0, H - 1, 0, W)),
      op.sub(s(1, H, 1, W), s(0, H - 1, 0, W - 1)),
      op.sub(s(1, H, 0, W - 1), s(0, H - 1, 1, W)),
    ];
    terms.tv = op.identity(
      diffs.map(l2norm).reduce((p, q) => op.add(p, q)),
      'tv_loss',
    );
  }
  if (t.l2) terms.l2 = op.identity(op.reduceMean(op.sqrt(op.addScalar(op.reduceSumSquare(op.flatten(x, 1), [1]), NORM_EPS))), 'l2_loss');
  const weights: Record<string, number> = { target: t.target, bn: t.bn, tv: t.tv, l2: t.l2, competition: t.competition ?? 0 };
  const weighted = Object.entries(terms).map(([k, v]) => (weights[k] === 1 ? v : op.scale(v, weights[k])));
  if (!weighted.length) throw new KdError('BAD_OPTION', `${source}: the inversion objective has no term with a non-zero weight`);
  const loss = op.identity(
    weighted.reduce((p, q) => op.add(p, q)),
    'loss',
  );
  const grad = gradients(loss, [x]).get(x.name)!;
  g.output(loss, ...Object.values(terms), logits, op.identity(grad, 'grad_x'));
  return { bytes: toOnnx(g), bnLayers: t.bn ? bnNodes.length : 0, classes };
}

/** Where the competitor's nodes and parameters live in the objective's graph (apart from the teacher's). */
const COMPETITOR = 'competitor';

/**
 * 1 − JS(p_t ‖ p_s), batch mean, with p = softmax(logits / T) of the teacher (`logits`) and of `competitor` (eval mode,
 * its current values as constants) on the same inputs `x`: JS = ½ KL(p_t ‖ m) + ½ KL(p_s ‖ m), m = ½ (p_t + p_s), in
 * nats (0 where they agree, ln 2 at most), so descending the term moves the inputs to where the two disagree.
 */
function competitionTerm(x: Value, logits: Value, competitor: Model, T: number): Value {
  const g = x.graph;
  const values = new Map([...competitor.values].map(([k, v]) => [`${COMPETITOR}/${k}`, v]));
  const def = {
    ...competitor.def,
    forward: (c: BuildContext, ins: Record<string, Value>) => c.scope(COMPETITOR, () => competitor.def.forward(c, ins)),
  };
  const s = emitModel(def, g, 'eval', { kind: 'initializers', values }, (name, dtype, shape) =>
    name === 'x' ? x : g.input(name, dtype, shape),
  );
  const logP = op.logSoftmax(op.scale(logits, 1 / T), 1),
    logQ = op.logSoftmax(op.scale(s.outputs.logits, 1 / T), 1);
  const p = op.exp(logP),
    q = op.exp(logQ);
  const logM = op.log(op.addScalar(op.scale(op.add(p, q), 0.5), 1e-12));
  const kl = (a: Value, logA: Value) => op.reduceSum(op.mul(a, op.sub(logA, logM)), [1]);
  const js = op.scale(op.add(kl(p, logP), kl(q, logQ)), 0.5);
  return op.identity(op.addScalar(op.neg(op.reduceMean(js)), 1), 'competition_loss');
}

/** How `invert` descends the objective. */
export interface InvertOptions {
  readonly steps: number;
  readonly lr: number;
  /** Inputs are kept within [lo, hi] after every step (the data's range). */
  readonly range: readonly [number, number];
  /**
   * DeepInversion's augmentation between steps: the objective is taken at the batch rolled (cyclically, as torch.roll)
   * by up to ±`jitter` pixels in each direction and, with `flip`, mirrored left-right with p = ½, all samples of a
   * step alike; its gradient is mapped back onto the unshifted inputs. Needs [C, H, W] samples and `rng`.
   */
  readonly jitter?: number;
  readonly flip?: boolean;
  readonly rng?: Rng;
  /** Learning rate over the steps: constant (the default), or cosine from `lr` to 0. */
  readonly schedule?: 'constant' | 'cosine';
}

/**
 * Optimises one batch `x` (in place) with Adam (β = 0.9, 0.999, as ZSKD and DeepInversion) on an open session of
 * `inversionGraph`; returns the terms at the final inputs (unshifted).
 */
export async function invert(
  session: ort.InferenceSession,
  x: Float32Array,
  shape: readonly number[],
  target: Float32Array | undefined,
  o: InvertOptions,
): Promise<Record<string, number>> {
  const m = new Float32Array(x.length),
    v = new Float32Array(x.length);
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const augment = (o.jitter ?? 0) > 0 || o.flip === true;
  if (augment && (shape.length !== 4 || !o.rng))
    throw new KdError('BAD_OPTION', `input inversion: jitter and flip need image batches [N, C, H, W] (got [${shape}]) and a seed`);
  // With augmentation the session sees a shifted copy; `perm[i]` is where input i lands in it.
  const seen = augment ? new Float32Array(x.length) : x;
  const perm = augment ? new Int32Array(x.length) : undefined;
  const feeds: Record<string, ort.Tensor> = { x: new ort.Tensor('float32', seen, [...shape]) };
  if (target) feeds.target = new ort.Tensor('float32', target, [shape[0], target.length / shape[0]]);
  const scalarNames = session.outputNames.filter((n) => n.endsWith('loss'));
  let terms: Record<string, number> = {};
  for (let step = 1; step <= o.steps + 1; step++) {
    const last = step > o.steps;
    if (perm) {
      const J = last ? 0 : (o.jitter ?? 0);
      const dy = J ? o.rng!.int(2 * J + 1) - J : 0,
        dx = J ? o.rng!.int(2 * J + 1) - J : 0;
      shiftPermutation(perm, shape, dy, dx, !last && o.flip === true && o.rng!.next() < 0.5);
      for (let i = 0; i < x.length; i++) seen[perm[i]] = x[i];
    }
    const out = await session.run(feeds);
    terms = Object.fromEntries(scalarNames.map((n) => [n, (out[n].data as Float32Array)[0]]));
    if (!Number.isFinite(terms.loss))
      throw new KdError('NON_FINITE', `input inversion: the objective became ${terms.loss} at step ${step}; lower the learning rate`);
    if (last) break;
    const g = out.grad_x.data as Float32Array;
    const c1 = 1 - b1 ** step,
      c2 = 1 - b2 ** step;
    const lr = o.schedule === 'cosine' ? (o.lr * (1 + Math.cos((Math.PI * (step - 1)) / o.steps))) / 2 : o.lr;
    const [lo, hi] = o.range;
    for (let i = 0; i < x.length; i++) {
      const gi = perm ? g[perm[i]] : g[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      const xi = x[i] - (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
      x[i] = xi < lo ? lo : Math.min(xi, hi);
    }
  }
  return terms;
}

/** Fills `perm` (input index → index in the rolled batch) for a cyclic shift by (dy, dx), then a left-right mirror. */
export function shiftPermutation(perm: Int32Array, shape: readonly number[], dy: number, dx: number, flip: boolean): void {
  const [N, C, H, W] = shape;
  for (let p = 0; p < N * C; p++)
    for (let h = 0; h < H; h++) {
      const row = p * H * W + ((((h + dy) % H) + H) % H) * W;
      for (let w = 0; w < W; w++) {
        const ws = (((w + dx) % W) + W) % W;
        perm[p * H * W + h * W + w] = row + (flip ? W - 1 - ws : ws);
      }
    }
}

/** Opens the objective's session. */
export const openInversion = (g: InversionGraph, threads?: number) => createSession(g.bytes, { threads });

/** Batches of `batchSize` inputs, uniform in `ctx.range` at the start, each inverted towards its rows of `targets`. */
export async function invertInBatches(
  ctx: SynthContext,
  graph: InversionGraph,
  targets: Float32Array | undefined,
  o: { steps: number; lr: number; batchSize: number; method: string } & Pick<InvertOptions, 'jitter' | 'flip' | 'schedule'>,
): Promise<Float32Array> {
  const per = ctx.sampleShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(ctx.n * per);
  const rng = new Rng(ctx.seed);
  const [lo, hi] = ctx.range;
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * rng.next();
  const augRng = new Rng(`${ctx.seed}:jitter`);
  const session = await openInversion(graph, ctx.threads);
  try {
    for (let start = 0; start < ctx.n; start += o.batchSize) {
      const m = Math.min(o.batchSize, ctx.n - start);
      const x = out.subarray(start * per, (start + m) * per);
      const t = targets?.subarray(start * graph.classes, (start + m) * graph.classes);
      const terms = await invert(session, x, [m, ...ctx.sampleShape], t, { ...invertOptions(o, ctx), rng: augRng });
      ctx.log?.({ event: 'synth-batch', method: o.method, samples: start + m, of: ctx.n, ...terms });
    }
  } finally {
    await session.release();
  }
  return out;
}

/** The descent options of a method's options (`jitter`, `flip`, `schedule` where it has them), within the context's range. */
export const invertOptions = (
  o: { steps: number; lr: number } & Pick<InvertOptions, 'jitter' | 'flip' | 'schedule'>,
  ctx: SynthContext,
): InvertOptions => ({ steps: o.steps, lr: o.lr, range: ctx.range, jitter: o.jitter, flip: o.flip, schedule: o.schedule });
