import { Predictor } from '../../runtime/inference.js';
import { KdError } from '../../util/errors.js';
import './registry.js';
import { parseSynthOptions, synthesizer, transferSet, type SynthContext, type TransferSet } from './synthesizer.js';

/** A data-free method and its options, as a config's `dataFree` gives them. */
export interface SynthesizeOptions {
  readonly method: string;
  readonly options?: Record<string, unknown>;
}

/**
 * Makes a transfer set with a data-free method: `ctx.n` samples, labelled by the teacher's top class. Logs how
 * the teacher spreads them over the classes; a method whose samples all land in one class is not refused (noise
 * does that) but said so.
 */
export async function synthesize(ctx: SynthContext, o: SynthesizeOptions): Promise<TransferSet> {
  const s = synthesizer(o.method);
  const options = parseSynthOptions(o.method, o.options);
  const t0 = Date.now();
  const x = await s.synthesize(ctx, options);
  const per = ctx.sampleShape.reduce((a, b) => a * b, 1);
  if (x.length !== ctx.n * per)
    throw new KdError('BAD_SYNTH', `dataFree method '${o.method}' made ${x.length / per} samples, not the ${ctx.n} asked for`);
  const p = await Predictor.fromBytes(ctx.teacher, { threads: ctx.threads }, ctx.source);
  let logits: Float32Array;
  try {
    [logits] = await p.predictMany(x, [ctx.n, ...ctx.sampleShape], ['logits']);
  } finally {
    await p.release();
  }
  const set = transferSet(`${o.method} samples of ${ctx.source}`, x, logits, ctx);
  ctx.log?.({ event: 'synth', method: o.method, samples: ctx.n, seconds: (Date.now() - t0) / 1000, classCounts: set.classCounts });
  return set;
}

/** The teacher's class count: the width of its answer for one all-zero sample. */
export async function teacherClasses(bytes: Uint8Array, sampleShape: readonly number[], source: string, threads?: number): Promise<number> {
  const p = await Predictor.fromBytes(bytes, { threads }, source);
  try {
    const [logits] = await p.predictMany(new Float32Array(sampleShape.reduce((a, b) => a * b, 1)), [1, ...sampleShape], ['logits']);
    return logits.length;
  } finally {
    await p.release();
  }
}
