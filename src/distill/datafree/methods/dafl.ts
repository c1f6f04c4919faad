import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { toOnnx } from '../../../graph/onnx.js';
import { importOnnx } from '../../../nn/import/onnx-student.js';
import { Model, type ModelDef } from '../../../nn/model.js';
import { adam } from '../../../optim/adam.js';
import { createSession, ort } from '../../../runtime/ort.js';
import { TrainSession } from '../../../runtime/train-session.js';
import { Rng } from '../../../util/rng.js';
import { finalLayer } from '../class-similarity.js';
import { generator } from '../generator.js';
import type { Synthesizer } from '../synthesizer.js';

const options = z.strictObject({
  /** Generator steps (official: 200 epochs × 120 steps at batch 512). */
  steps: z.int().positive().default(1500),
  /** Generator batch (official: 512). */
  batchSize: z.int().positive().default(256),
  /** Adam learning rate of the generator (official lr_G: 0.2). */
  lr: z.number().positive().default(0.2),
  latent: z.int().positive().default(100),
  /** Channels after the two upsamplings (official: 128, 64; halved by default to fit 2 cores). */
  channels: z.tuple([z.int().positive(), z.int().positive()]).default([64, 32]),
  /** Weights of the one-hot, activation and information-entropy losses (official: 1, 0.1, 5). */
  oneHot: z.number().nonnegative().default(1),
  activation: z.number().nonnegative().default(0.1),
  entropy: z.number().nonnegative().default(5),
  /** The transfer set is drawn from this many snapshots of the generator over the second half of its training. */
  snapshots: z.int().positive().default(10),
});
type Options = z.infer<typeof options>;

/**
 * DAFL (Chen et al., ICCV 2019, "Data-Free Learning of Student Networks"): a generator trained against the frozen
 * teacher so its outputs are classified confidently (one-hot loss: cross-entropy with the teacher's own top class),
 * excite the teacher's penultimate features (activation loss: −mean |f|) and cover the classes evenly (information
 * entropy of the batch-mean prediction, maximised; log base 10 as the official code). The generator's objective does
 * not involve the student (the official code detaches the images for the student), so kdistill trains the generator
 * first and draws the student's transfer set from snapshots of it along the second half of its training, where the
 * official code draws a fresh batch at every student step; the student then distils on it with the stage's loss
 * (DAFL: KL at T = 1). The generator is DAFL's with half the channels by default, its last BatchNorm replaced by a map
 * of tanh onto the data range (see generator.ts).
 */
export const dafl: Synthesizer<Options> = {
  name: 'dafl',
  description: 'Chen et al. 2019: a generator trained against the teacher (one-hot, activation, information-entropy losses)',
  options,
  async synthesize(ctx, o) {
    const { input: featureName } = finalLayer(ctx.teacher, ctx.source, 'DAFL’s activation loss reads the input of');
    const teacher = importOnnx(ctx.teacher, { source: ctx.source, name: 'teacher', freeze: ['*'] });
    const gen = generator({ latent: o.latent, channels: o.channels, sampleShape: ctx.sampleShape, range: ctx.range });
    const def: ModelDef = {
      name: 'dafl',
      inputs: gen.inputs,
      forward(c, ins) {
        const image = c.scope('generator', () => gen.forward(c, ins).image);
        return { logits: teacher.forward(c, { x: image }).logits };
      },
    };
    const model = new Model(def, ctx.seed);
    const lossOf = (logits: Value) => {
      const g = logits.graph;
      const logp = op.logSoftmax(logits, 1);
      const oneHot = op.neg(op.reduceMean(op.reduceMax(logp, [1])), 'one_hot');
      const activation = op.neg(op.reduceMean(op.abs(g.value(featureName))), 'activation');
      const mean = op.reduceMean(op.softmax(logits, 1), [0]);
      const entropy = op.scale(op.reduceSum(op.mul(mean, op.log(op.addScalar(mean, 1e-12)))), 1 / Math.LN10, 'info_entropy');
      const total = [op.scale(oneHot, o.oneHot), op.scale(activation, o.activation), op.scale(entropy, o.entropy)].reduce((p, q) =>
        op.add(p, q),
      );
      return { total, terms: { one_hot: oneHot, activation, info_entropy: entropy } };
    };
    const session = await TrainSession.create(
      { model, optimizer: adam(), loss: (out) => lossOf(out.logits) },
      { threads: ctx.threads, seed: ctx.seed, nchwc: false },
    );
    const per = ctx.sampleShape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(ctx.n * per);
    const rng = new Rng(`${ctx.seed}:dafl`);
    const noise = (m: number) => Float32Array.from({ length: m * o.latent }, () => rng.normal());
    // Snapshot k (1..snapshots) is taken after step steps/2 + k·steps/(2·snapshots) and draws its share of the set.
    const at = Array.from({ length: o.snapshots }, (_, k) => Math.round(o.steps / 2 + ((k + 1) * o.steps) / (2 * o.snapshots)));
    let filled = 0;
    try {
      for (let step = 1; step <= o.steps; step++) {
        const terms = await session.run({ z: { dtype: 'float32', shape: [o.batchSize, o.latent], data: noise(o.batchSize) } }, o.lr);
        if (step % 50 === 0 || step === o.steps) ctx.log?.({ event: 'synth-batch', method: 'dafl', step, of: o.steps, ...terms });
        const k = at.indexOf(step);
        if (k < 0) continue;
        session.syncToModel();
        const upto = Math.round(((k + 1) * ctx.n) / o.snapshots);
        await sample(model, gen, ctx.seed, noise, out.subarray(filled * per, upto * per), upto - filled, o.batchSize, ctx.threads);
        filled = upto;
      }
    } finally {
      await session.release();
    }
    return out;
  },
};

/** Draws `m` images from the generator's current weights (BatchNorm on batch statistics, as DAFL's generator.train()). */
async function sample(
  model: Model,
  gen: ModelDef,
  seed: number,
  noise: (m: number) => Float32Array,
  into: Float32Array,
  m: number,
  batchSize: number,
  threads?: number,
): Promise<void> {
  const g = new Model(gen, seed);
  for (const [name, v] of g.values) v.set(model.values.get(`generator/${name}`)!);
  const b = g.build('train');
  const session = await createSession(toOnnx(b.graph), { threads });
  const latent = (gen.inputs.z.shape[1] as number) ?? 0;
  try {
    const per = into.length / Math.max(1, m);
    for (let i = 0; i < m; i += batchSize) {
      const k = Math.min(batchSize, m - i);
      const r = await session.run({ z: new ort.Tensor('float32', noise(k), [k, latent]) });
      into.set((r.image.data as Float32Array).subarray(0, k * per), i * per);
    }
  } finally {
    await session.release();
  }
}
