import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { A } from '../../../graph/types.js';
import type { BuildContext } from '../../../nn/context.js';
import { Linear } from '../../../nn/layers/linear.js';
import { l2Normalize } from '../../../nn/losses.js';
import { KdError } from '../../../util/errors.js';
import { nodePair, pairMethod, requireAux } from './node-options.js';

const options = z
  .object({
    ...nodePair,
    /** Size of the shared embedding space (RepDistiller's feat_dim). */
    featDim: z.number().int().positive().default(128),
    /** Negatives drawn from the memory bank per sample (nce_k). */
    negatives: z.number().int().positive().default(16384),
    /** Temperature of the critic exp(a·b/τ) (nce_t); from 0.025 so that e^(2/τ) stays finite in float32. */
    temperature: z.number().min(0.025, 'crd temperature must be at least 0.025: exp(2/τ) overflows float32 below').default(0.07),
    /** Weight of a memory row's old value in its update (nce_m). */
    momentum: z.number().min(0).lt(1).default(0.5),
  })
  .strict();
type Options = z.infer<typeof options>;

/** RepDistiller's ContrastLoss eps, added to every denominator. */
const EPS = 1e-7;

/** The value of `x` with no gradient flowing back through it (PyTorch's `.item()` / `.detach()`). */
function stopGradient(x: Value): Value {
  return x.graph.customGradient(
    [x],
    () => op.identity(x),
    () => [undefined],
  );
}

const softplus = (x: Value): Value => x.graph.node('Softplus', [x])[0];
/** log(1 + eˣ) in three cheap ops (ORT's Softplus kernel is ~4× slower on [N, K]); exact for x < 88. */
const log1pExp = (x: Value): Value => op.log(op.addScalar(op.exp(x), 1));

/**
 * Critic logits a·bank[j]/τ of each sample's own row ([N, 1]) and of its K drawn rows ([N, K]).
 * RepDistiller gathers the K+1 rows per sample ([N, K+1, D]: 1 GiB per bank at batch 128 and K = 16384)
 * and multiplies; scoring the anchor against the whole bank with one GEMM and picking K columns gives the
 * same numbers with far less memory traffic while the bank has fewer than K·D rows (2.1M at the defaults).
 * The bank gets no gradient: it is a buffer, never a gradient target.
 */
function logits(anchor: Value, bank: Value, index: Value, drawn: Value, temperature: number): [Value, Value] {
  const a = op.scale(anchor, 1 / temperature);
  const own = op.reduceSum(op.mul(a, op.gather(bank, index)), [1], true);
  const all = op.gemm(a, bank, undefined, { transB: true });
  return [own, anchor.graph.node('GatherElements', [all, drawn], { axis: A.i(1) })[0]];
}

/**
 * log Z, ContrastMemory's normalisation constant of exp(logit). The code sets Z once, from the first batch
 * (mean of exp(·) over the K+1 columns times the bank size), and keeps it; here Z is a buffer starting at
 * −1 that the first step replaces with its estimate (Where(Z < 0, estimate, Z)), so later steps, resumed
 * runs and K-step graphs keep the same value. The estimate is a constant to the gradient, as `.item()`
 * makes it in the code. (It is computed every step, a pass over [N, K], and used on the first.)
 */
function logZ(aux: BuildContext, local: string, own: Value, neg: Value, K: number, numSamples: number): Value {
  const g = own.graph;
  const z = aux.buffer(local, [1], { kind: 'constant', value: -1 });
  const mean = op.add(op.reduceMean(op.exp(own)), op.scale(op.reduceMean(op.exp(neg)), K));
  const estimate = stopGradient(op.scale(mean, numSamples / (K + 1)));
  const zNow = op.where(op.less(z, op.scalar(g, 0)), estimate, z);
  aux.updateBuffer(local, zNow);
  return op.log(zNow);
}

/**
 * ContrastLoss, NCE with noise probability Pn = 1/numSamples and m = K noise samples, on P = exp(logit)/Z:
 * the positive gives −log D1 = log(1 + c/P) and each negative −log D0 = log((P + c)/(m·Pn)), c = m·Pn + eps.
 * Written in logits: log(1 + c/P) = softplus(log c + log Z − logit) and log((P + c)/(m·Pn)) =
 * log(c/(m·Pn)) + log(1 + exp(logit − log Z − log c)), fewer passes over [N, K] than the code's form. The
 * exponent is below 2/τ (unit embeddings bound |logit| by 1/τ and log Z ≥ log M − 1/τ), hence the floor on
 * τ in the options. Mean over the batch of the per-sample sums.
 */
function contrastLoss(own: Value, neg: Value, lz: Value, K: number, numSamples: number): Value {
  const mPn = K / numSamples,
    c = mPn + EPS;
  const l1 = softplus(op.sub(op.addScalar(lz, Math.log(c)), own));
  const l0 = op.reduceSum(log1pExp(op.sub(neg, op.addScalar(lz, Math.log(c)))), [1], true);
  return op.addScalar(op.reduceMean(op.add(l1, l0)), K * Math.log(c / mPn));
}

/**
 * ContrastMemory's update, after the scores read the old bank: the batch's rows become
 * normalise(m·row + (1 − m)·v). Sample indices within a batch are distinct, so a plain ScatterND suffices.
 */
function updateBank(aux: BuildContext, local: string, bank: Value, sampleIndex: Value, v: Value, momentum: number): void {
  const mixed = op.add(op.scale(op.gather(bank, sampleIndex), momentum), op.scale(v, 1 - momentum));
  const next = bank.graph.node('ScatterND', [bank, op.unsqueeze(sampleIndex, [1]), l2Normalize(mixed, 1)])[0];
  aux.updateBuffer(local, next);
}

/**
 * CRD (Tian, Krishnan & Isola, ICLR 2020) as RepDistiller's CRDLoss computes it. Student and teacher
 * penultimate features (flattened) are embedded by trainable linear maps to `featDim` and L2-normalised
 * (Embed; adapters, dropped at export). Two memory banks hold one embedding per training sample
 * (ContrastMemory: `memory_s` for the student's, `memory_t` for the teacher's; non-trainable buffers).
 * Each sample is scored against K+1 rows of the other side's bank — its own row (positive) and K rows
 * drawn uniformly (the code's AliasMethod over equal weights) — and the loss is the sum of the two NCE
 * losses (student anchor vs teacher bank, teacher anchor vs student bank).
 *
 * Where paper and code differ this follows the code: (1) the positive of the student anchor is the
 * teacher bank's row of the sample (a momentum average of its past teacher embeddings, a random row on
 * the first epoch), not this step's teacher embedding, so the student's gradient comes only from the
 * student-anchor term and the teacher-anchor term trains only the teacher embedding; (2) exp(·/τ) is divided
 * by a constant Z estimated once from the first batch, which the paper's critic e/(e + N/M) lacks. Not followed:
 * RepDistiller's CIFAR loader (CIFAR100InstanceSample, mode 'exact') draws the negatives from samples of
 * other classes; here they are uniform over the training set, as ContrastMemory does when given none.
 */
export const crd = pairMethod<Options>({
  name: 'crd',
  kind: 'feature',
  description:
    "Tian et al. 2020: contrastive representation distillation (RepDistiller's " +
    'CRDLoss: embeddings, NCE over per-sample momentum memory banks)',
  options,
  needs: () => ({ sampleIndex: true }),
  loss({ student, teacher, aux: maybeAux, sampleIndex, numSamples }, o) {
    const aux = requireAux('crd', 'embeddings', maybeAux);
    if (!sampleIndex || numSamples === undefined)
      throw new KdError(
        'NO_SAMPLE_INDEX',
        "crd keeps a memory-bank row per training sample: it needs the batch's dataset indices " +
          '(`sampleIndex`, int64 [N]) and the training-set size (`numSamples`) in the method inputs. ' +
          'A training step over a dataset provides both; in a step of your own, pass them yourself',
      );
    if (!Number.isInteger(numSamples) || numSamples < 1)
      throw new KdError('BAD_LOSS', `crd: numSamples must be a positive integer (the training-set size), got ${numSamples}`);
    const g = sampleIndex.graph,
      M = numSamples,
      K = o.negatives,
      D = o.featDim;
    const index = sampleIndex.dtype === 'int64' ? sampleIndex : op.cast(sampleIndex, 'int64');

    const s = op.flatten(student[o.studentNode], 1),
      t = op.flatten(teacher[o.teacherNode], 1);
    const fs = l2Normalize(new Linear('embed_s', s.shape[1] as number, D).apply(aux, s), 1);
    const ft = l2Normalize(new Linear('embed_t', t.shape[1] as number, D).apply(aux, t), 1);

    const stdv = 1 / Math.sqrt(D / 3);
    const memS = aux.buffer('memory_s', [M, D], { kind: 'uniform', limit: stdv });
    const memT = aux.buffer('memory_t', [M, D], { kind: 'uniform', limit: stdv });

    // K negatives floor(u·M) per sample (shared by both anchors, as in the code), clamped because float32
    // u·M may round up to M; int32 halves the index traffic of the gather and of its gradient's scatter.
    // The positive is the sample's own row.
    const u = aux.uniformNoise('negatives', ['N', K]);
    const drawn = op.cast(op.min(g.node('Floor', [op.scale(u, M)])[0], op.scalar(g, M - 1)), 'int32');

    const [ownS, negS] = logits(fs, memT, index, drawn, o.temperature);
    const [ownT, negT] = logits(ft, memS, index, drawn, o.temperature);
    const lzS = logZ(aux, 'z_s', ownS, negS, K, M),
      lzT = logZ(aux, 'z_t', ownT, negT, K, M);
    updateBank(aux, 'memory_s', memS, index, fs, o.momentum);
    updateBank(aux, 'memory_t', memT, index, ft, o.momentum);
    return op.add(contrastLoss(ownS, negS, lzS, K, M), contrastLoss(ownT, negT, lzT, K, M), 'crd');
  },
});
