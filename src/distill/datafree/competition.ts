/**
 * Adaptive DeepInversion's loop (Yin et al. 2020, section 3.3): the samples are made in rounds; after each round a
 * competitor student is distilled from the teacher on every sample made so far, and the next round's objective
 * adds the competition term 1 − JS(teacher ‖ competitor), which moves the new samples to where the two disagree.
 */
import type { Dataset } from '../../data/dataset.js';
import type { Model } from '../../nn/model.js';
import { exportOnnx, Predictor } from '../../runtime/inference.js';
import { fitClassifier } from '../../train/classifier.js';
import { argmaxRows } from '../../util/argmax.js';
import { Rng } from '../../util/rng.js';
import { type InversionTerms, type InvertOptions, invert, inversionGraph, openInversion } from './inversion.js';
import type { SynthContext } from './synthesizer.js';

/** How the competitor is trained between rounds, and the term's weight and temperature. */
export interface CompetitionOptions {
  readonly weight: number;
  readonly rounds: number;
  /** Epochs of KD (T = `kdTemperature`, Adam `lr`, batch 128) on all samples so far, after each round but the last. */
  readonly epochs: number;
  readonly lr: number;
  readonly kdTemperature: number;
  readonly temperature: number;
}

/**
 * `ctx.n` samples in batches of `batchSize`, uniform noise at the start; batch b of the rounds' split is inverted
 * towards its rows of `targets` under `terms`, plus, from the second round on, the competition term through the
 * competitor as it stands. Round r holds batches ⌊r·B/R⌋ … ⌊(r+1)·B/R⌋ − 1 of the B batches.
 */
export async function invertCompeting(
  ctx: SynthContext,
  competitor: Model,
  terms: InversionTerms,
  targets: Float32Array,
  o: InvertOptions & { batchSize: number; method: string },
  c: CompetitionOptions,
): Promise<Float32Array> {
  const per = ctx.sampleShape.reduce((a, b) => a * b, 1),
    K = ctx.classes;
  const out = new Float32Array(ctx.n * per);
  const rng = new Rng(ctx.seed);
  const [lo, hi] = ctx.range;
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * rng.next();
  const augRng = new Rng(`${ctx.seed}:jitter`);
  const batches = Math.ceil(ctx.n / o.batchSize),
    rounds = Math.min(c.rounds, batches);
  const teacher = await Predictor.fromBytes(ctx.teacher, { threads: ctx.threads }, ctx.source);
  let graph = inversionGraph(ctx.teacher, ctx.sampleShape, terms, ctx.source);
  try {
    for (let r = 0; r < rounds; r++) {
      if (r > 0) {
        const made = Math.min(ctx.n, Math.floor((r * batches) / rounds) * o.batchSize);
        const t0 = Date.now();
        const agreement = await trainCompetitor(ctx, competitor, teacher, out.subarray(0, made * per), made, c, r);
        ctx.log?.({ event: 'competitor', round: r, samples: made, epochs: c.epochs, seconds: (Date.now() - t0) / 1000, agreement });
        graph = inversionGraph(
          ctx.teacher,
          ctx.sampleShape,
          { ...terms, competition: c.weight, competitionTemperature: c.temperature },
          ctx.source,
          competitor,
        );
      }
      const session = await openInversion(graph, ctx.threads);
      try {
        for (let b = Math.floor((r * batches) / rounds); b < Math.floor(((r + 1) * batches) / rounds); b++) {
          const start = b * o.batchSize,
            m = Math.min(o.batchSize, ctx.n - start);
          const x = out.subarray(start * per, (start + m) * per);
          const res = await invert(session, x, [m, ...ctx.sampleShape], targets.subarray(start * K, (start + m) * K), {
            ...o,
            rng: augRng,
          });
          ctx.log?.({ event: 'synth-batch', method: o.method, round: r, samples: start + m, of: ctx.n, ...res });
        }
      } finally {
        await session.release();
      }
    }
  } finally {
    await teacher.release();
  }
  return out;
}

/**
 * Distils the competitor (continuing from its current values) on the first `n` samples, labelled by the teacher;
 * returns its agreement with the teacher on them afterwards.
 */
async function trainCompetitor(
  ctx: SynthContext,
  competitor: Model,
  teacher: Predictor,
  x: Float32Array,
  n: number,
  c: CompetitionOptions,
  round: number,
): Promise<number> {
  const [logits] = await teacher.predictMany(x, [n, ...ctx.sampleShape], ['logits']);
  const y = argmaxRows(logits, ctx.classes);
  const ds: Dataset = { name: `competitor round ${round}`, x, y, n, sampleShape: ctx.sampleShape, numClasses: ctx.classes, kind: 'image' };
  await fitClassifier(competitor, ds, {
    epochs: c.epochs,
    lr: c.lr,
    seed: ctx.seed + round,
    threads: ctx.threads,
    loss: [{ method: 'kd', weight: 1, options: { temperature: c.kdTemperature } }],
    teacher,
    teacherShapes: { logits: [ctx.classes] },
  });
  const p = await Predictor.fromBytes(exportOnnx(competitor), { threads: ctx.threads });
  try {
    const [s] = await p.predictMany(x, [n, ...ctx.sampleShape], ['logits']);
    const ys = argmaxRows(s, ctx.classes);
    let same = 0;
    for (let i = 0; i < n; i++) same += ys[i] === y[i] ? 1 : 0;
    return same / n;
  } finally {
    await p.release();
  }
}
