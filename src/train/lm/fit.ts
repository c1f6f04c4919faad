/**
 * Training and distilling language models on token windows: the step graph reads the model's `logits` [N, L, V], the
 * next-token `labels` [N, L] and, for distillation terms, the teacher's answers for the same positions (live logits from
 * a teacher model, or the top-k a cache stored), and descends any per-token loss list (`token_ce`, `token_kl`,
 * `reverse_kl`, `gkd`). On-policy batches (GKD) replace a fraction of the data windows by the student's own samples,
 * scored by the teacher.
 */
import { distillationLoss, type LossTerm, teacherOutputsOf } from '../../distill/loss.js';
import type { Value } from '../../graph/graph.js';
import type { Model } from '../../nn/model.js';
import { adam, lrAt } from '../../optim/index.js';
import { Predictor } from '../../runtime/inference.js';
import { ort } from '../../runtime/ort.js';
import { TrainSession } from '../../runtime/train-session.js';
import type { TrainStepSpec } from '../../runtime/train-graph.js';
import { KdError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';
import { generateBatch } from './generate.js';
import { epochOrder, gatherRows, type Windows } from './windows.js';

/** The teacher's k largest logits and their token ids for every position of every training window ([W, L, k]). */
export interface TopkAnswers {
  readonly k: number;
  readonly values: Float32Array;
  readonly indices: BigInt64Array;
}

/** Budget, loss and teacher of a language-model run. */
export interface FitLmOptions {
  readonly loss: readonly LossTerm[];
  readonly epochs: number;
  readonly batchSize: number;
  /** Peak learning rate of Adam, on a cosine schedule to 0. */
  readonly lr: number;
  readonly seed: number;
  readonly threads?: number;
  /** A live teacher (an exported language model) asked for its logits on every batch. */
  readonly teacher?: Predictor;
  /** Or the teacher's top-k answers for the training windows, from a cache: no teacher is run. */
  readonly topk?: TopkAnswers;
  /**
   * GKD's on-policy data: this fraction of the batches are the student's own continuations of the windows' first
   * `prompt` tokens (sampled at `temperature`), scored by the live teacher. The sampling copy of the student is refreshed
   * every `refreshEvery` steps (1: every step, as GKD; larger is cheaper).
   */
  readonly onPolicy?: { readonly fraction: number; readonly prompt: number; readonly temperature?: number; readonly refreshEvery?: number };
  /** Held-out windows: their per-token perplexity is logged after every epoch. */
  readonly validation?: Windows;
  /** With `validation`: end with the values of the epoch whose validation perplexity was lowest (default true). */
  readonly keepBest?: boolean;
  /** Rescale the gradient to at most this global L2 norm (default 1, as GPT-2 trains). */
  readonly clipGradNorm?: number;
  readonly log?: (line: string) => void;
}

/** What a run leaves: per-epoch mean loss and validation perplexity. */
export interface FitLmResult {
  readonly epochs: { readonly epoch: number; readonly loss: number; readonly valPerplexity?: number; readonly seconds: number }[];
  /** The epoch whose values the model ends with (the last, or the best by validation). */
  readonly kept: number;
}

/** The step graph of a language model with a teacher input of the kind `o` gives. */
function stepSpec(model: Model, o: FitLmOptions, vocab: number): TrainStepSpec {
  const terms = o.loss;
  const needsTeacher = teacherOutputsOf(terms).length > 0;
  if (needsTeacher && !o.teacher && !o.topk)
    throw new KdError('NO_TEACHER', `the loss terms ${terms.map((t) => t.method).join(' + ')} need a teacher (a model, or cached top-k)`);
  const extra: TrainStepSpec['extraInputs'] = { labels: { dtype: 'int64', shape: ['N', 'L'] } };
  if (needsTeacher && o.topk) {
    extra['topk/values'] = { dtype: 'float32', shape: ['N', 'L', o.topk.k] };
    extra['topk/indices'] = { dtype: 'int64', shape: ['N', 'L', o.topk.k] };
  } else if (needsTeacher) extra.teacher_logits = { dtype: 'float32', shape: ['N', 'L', vocab] };
  return {
    model,
    optimizer: adam(),
    extraInputs: extra,
    gradNorm: o.clipGradNorm ?? 1,
    loss: (out, inp) => {
      const teacher: Record<string, Value> = {};
      if (inp.teacher_logits) teacher.logits = inp.teacher_logits;
      if (inp['topk/values']) {
        teacher['topk/values'] = inp['topk/values'];
        teacher['topk/indices'] = inp['topk/indices'];
      }
      const l = distillationLoss(terms, { student: { logits: out.logits }, teacher, labels: inp.labels });
      return { total: l.total, terms: l.terms };
    },
  };
}

/** The vocabulary size a language model predicts over (its logits' last axis). */
export function vocabOf(model: Model): number {
  const v = model.build('eval').outputs.logits?.shape[2];
  if (typeof v !== 'number') throw new KdError('BAD_MODEL', `model '${model.name}' has no logits [N, L, vocab] with a fixed vocab`);
  return v;
}

/** Trains `model` on `train`'s windows as `o` says; the model's values hold the result. */
export async function fitLm(model: Model, train: Windows, o: FitLmOptions): Promise<FitLmResult> {
  const vocab = vocabOf(model);
  const spec = stepSpec(model, o, vocab);
  if (o.onPolicy && !o.teacher) throw new KdError('NO_TEACHER', 'on-policy batches are scored by a live teacher; give one');
  if (o.topk && o.topk.values.length !== train.count * train.length * o.topk.k)
    throw new KdError(
      'BAD_CACHE',
      `the cached top-k answers cover ${o.topk.values.length / (train.length * o.topk.k)} windows, the data has ${train.count}`,
    );
  const session = await TrainSession.create(spec, { threads: o.threads ?? 2, seed: o.seed });
  const L = train.length;
  const perEpoch = Math.floor(train.count / o.batchSize);
  if (perEpoch < 1) throw new KdError('EMPTY_DATASET', `${train.count} windows make no batch of ${o.batchSize}`);
  const total = perEpoch * o.epochs;
  const schedule = { kind: 'cosine' as const, total };
  const pick = new Rng(`${o.seed}:on-policy`);
  const result: FitLmResult['epochs'] = [];
  let sampler: Predictor | undefined;
  let sampledAt = -Infinity;
  let best: { epoch: number; ppl: number; values: Map<string, Float32Array> } | undefined;
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const t0 = Date.now();
      const order = epochOrder(train.count, o.seed, epoch);
      let sum = 0;
      for (let b = 0; b < perEpoch; b++) {
        const step = epoch * perEpoch + b;
        const rows = order.subarray(b * o.batchSize, (b + 1) * o.batchSize);
        const n = rows.length;
        let ids = gatherRows(train.ids, L, rows),
          labels = gatherRows(train.labels, L, rows);
        if (o.onPolicy && pick.next() < o.onPolicy.fraction) {
          if (!sampler || step - sampledAt >= (o.onPolicy.refreshEvery ?? 1)) {
            await sampler?.release();
            session.syncToModel();
            sampler = await Predictor.fromModel(model, { threads: o.threads ?? 2 });
            sampledAt = step;
          }
          const prompts = Array.from(rows, (r) => Array.from(train.ids.subarray(r * L, r * L + o.onPolicy!.prompt)));
          const gen = await generateBatch(sampler, prompts, L + 1 - o.onPolicy.prompt, {
            temperature: o.onPolicy.temperature ?? 1,
            seed: o.seed * 1_000_003 + step,
          });
          ids = new BigInt64Array(n * L);
          labels = new BigInt64Array(n * L);
          for (let r = 0; r < n; r++)
            for (let l = 0; l < L; l++) {
              ids[r * L + l] = BigInt(gen[r * (L + 1) + l]);
              labels[r * L + l] = BigInt(gen[r * (L + 1) + l + 1]);
            }
        }
        const feeds: Record<string, ort.Tensor> = {
          ids: new ort.Tensor('int64', ids, [n, L]),
          labels: new ort.Tensor('int64', labels, [n, L]),
        };
        if (spec.extraInputs?.teacher_logits) {
          const t = (await o.teacher!.run(feeds.ids, ['logits'])).logits;
          feeds.teacher_logits = t;
        } else if (spec.extraInputs?.['topk/values']) {
          const k = o.topk!.k,
            per = L * k;
          const values = new Float32Array(n * per),
            indices = new BigInt64Array(n * per);
          for (let r = 0; r < n; r++) {
            values.set(o.topk!.values.subarray(rows[r] * per, rows[r] * per + per), r * per);
            indices.set(o.topk!.indices.subarray(rows[r] * per, rows[r] * per + per), r * per);
          }
          feeds['topk/values'] = new ort.Tensor('float32', values, [n, L, k]);
          feeds['topk/indices'] = new ort.Tensor('int64', indices, [n, L, k]);
        }
        const out = await session.run(feeds, lrAt(schedule, o.lr, step));
        if (!Number.isFinite(out.loss))
          throw new KdError('NON_FINITE', `language model '${model.name}': loss ${out.loss} at step ${step + 1}; lower the learning rate`);
        sum += out.loss;
      }
      session.syncToModel();
      const valPerplexity = o.validation ? await perplexity(model, o.validation, o.threads) : undefined;
      if (valPerplexity !== undefined && o.keepBest !== false && !(valPerplexity >= (best?.ppl ?? Infinity)))
        best = { epoch: epoch + 1, ppl: valPerplexity, values: new Map([...model.values].map(([k, v]) => [k, Float32Array.from(v)])) };
      const seconds = (Date.now() - t0) / 1000;
      result.push({ epoch: epoch + 1, loss: sum / perEpoch, ...(valPerplexity !== undefined ? { valPerplexity } : {}), seconds });
      o.log?.(
        `${model.name} epoch ${epoch + 1}/${o.epochs}: loss ${(sum / perEpoch).toFixed(4)}` +
          `${valPerplexity !== undefined ? `, validation perplexity ${valPerplexity.toFixed(3)}` : ''} (${seconds.toFixed(1)} s)`,
      );
    }
  } finally {
    await sampler?.release();
    await session.release();
  }
  if (best) model.load(best.values, `epoch ${best.epoch}`);
  return { epochs: result, kept: best?.epoch ?? o.epochs };
}

/** Runs `p` over `w`'s windows in batches of `batch`: `each(first window, logits [n, L, V] row-major, V)`. */
async function eachLogits(p: Predictor, w: Windows, batch: number, each: (first: number, logits: Float32Array, V: number) => void) {
  for (let s = 0; s < w.count; s += batch) {
    const rows = Int32Array.from({ length: Math.min(batch, w.count - s) }, (_, i) => s + i);
    const l = (await p.run(new ort.Tensor('int64', gatherRows(w.ids, w.length, rows), [rows.length, w.length]), ['logits'])).logits;
    each(s, l.data as Float32Array, l.dims[2]);
  }
}

/** A model on windows in one pass: per-token perplexity exp(mean next-token NLL) and its top-1 next-token predictions. */
export async function scoreWindows(
  model: Model | Predictor,
  w: Windows,
  threads = 2,
): Promise<{ perplexity: number; predictions: Int32Array }> {
  const p = model instanceof Predictor ? model : await Predictor.fromModel(model, { threads });
  const predictions = new Int32Array(w.count * w.length);
  let nll = 0;
  try {
    await eachLogits(p, w, 64, (first, d, V) => {
      for (let q = 0; q < d.length / V; q++) {
        const o = q * V,
          at = first * w.length + q;
        let best = 0;
        for (let v = 1; v < V; v++) if (d[o + v] > d[o + best]) best = v;
        let z = 0;
        for (let v = 0; v < V; v++) z += Math.exp(d[o + v] - d[o + best]);
        nll += d[o + best] + Math.log(z) - d[o + w.labels[at]];
        predictions[at] = best;
      }
    });
  } finally {
    if (!(model instanceof Predictor)) await p.release();
  }
  return { perplexity: Math.exp(nll / (w.count * w.length)), predictions };
}

/** Per-token perplexity exp(mean next-token NLL) of a model (or an exported one) on windows. */
export async function perplexity(model: Model | Predictor, w: Windows, threads = 2): Promise<number> {
  return (await scoreWindows(model, w, threads)).perplexity;
}

/** The teacher's top-k logits and token ids for every position of `w` (what a cache stores, so runs need no teacher). */
export async function topkAnswers(teacher: Predictor, w: Windows, k: number, batch = 64): Promise<TopkAnswers> {
  const values = new Float32Array(w.count * w.length * k),
    indices = new BigInt64Array(w.count * w.length * k);
  await eachLogits(teacher, w, batch, (first, d, V) => {
    for (let q = 0; q < d.length / V; q++) {
      const row = d.subarray(q * V, q * V + V);
      // ONNX TopK's order: larger first, ties by the smaller index.
      const top = Array.from(row.keys())
        .sort((a, b) => row[b] - row[a] || a - b)
        .slice(0, k);
      const at = (first * w.length + q) * k;
      top.forEach((i, j) => {
        values[at + j] = row[i];
        indices[at + j] = BigInt(i);
      });
    }
  });
  return { k, values, indices };
}

/**
 * Sequence-level KD's data (Kim & Rush 2016): each window's first `prompt` tokens continued by the teacher to a full
 * window, sampled at `temperature` (Kim & Rush take the beam-search mode; sampling is the char-level choice here, as a
 * greedy character model repeats itself). Train the student on them with `token_ce`.
 */
export async function teacherWindows(
  teacher: Predictor,
  w: Windows,
  o: { prompt: number; temperature?: number; seed: number; batch?: number },
): Promise<Windows> {
  const L = w.length,
    batch = o.batch ?? 64;
  const ids = new Int32Array(w.count * L),
    labels = new Int32Array(w.count * L);
  for (let s = 0; s < w.count; s += batch) {
    const n = Math.min(batch, w.count - s);
    const prompts = Array.from({ length: n }, (_, r) => Array.from(w.ids.subarray((s + r) * L, (s + r) * L + o.prompt)));
    const gen = await generateBatch(teacher, prompts, L + 1 - o.prompt, { temperature: o.temperature ?? 1, seed: o.seed * 7919 + s });
    for (let r = 0; r < n; r++) {
      ids.set(gen.subarray(r * (L + 1), r * (L + 1) + L), (s + r) * L);
      labels.set(gen.subarray(r * (L + 1) + 1, (r + 1) * (L + 1)), (s + r) * L);
    }
  }
  return { count: w.count, length: L, ids, labels };
}
