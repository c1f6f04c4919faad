import { z } from 'zod';
import { bundledDataset } from '../../../data/bundled.js';
import { Rng } from '../../../util/rng.js';
import { KdError } from '../../../util/errors.js';
import type { Synthesizer } from '../synthesizer.js';

const options = z.strictObject({
  /** A bundled dataset other than the teacher's (e.g. fashion-mnist for an MNIST teacher); its training images are used. */
  dataset: z.string().min(1),
});

/**
 * The second baseline: KD on real images of another domain, labelled and taught by the teacher (DAFL's "unrelated
 * data" row; for MNIST, Fashion-MNIST images of the same size). Only their pixels are used, never their labels.
 */
export const unrelated: Synthesizer<z.infer<typeof options>> = {
  name: 'unrelated',
  description: 'baseline: real images of another dataset (their labels unused), taught by the teacher',
  options,
  async synthesize(ctx, o) {
    const ds = bundledDataset(o.dataset, 'train');
    const per = ctx.sampleShape.reduce((a, b) => a * b, 1);
    if (ds.sampleShape.join() !== ctx.sampleShape.join())
      throw new KdError(
        'SHAPE_MISMATCH',
        `dataFree.dataset: '${o.dataset}' has samples [${ds.sampleShape}] but the teacher takes [${ctx.sampleShape}]; ` +
          'pick data of that shape',
      );
    if (ds.n < ctx.n) throw new KdError('BAD_OPTION', `dataFree.n: '${o.dataset}' has ${ds.n} images, fewer than the ${ctx.n} asked for`);
    const order = new Rng(ctx.seed).shuffle(Int32Array.from({ length: ds.n }, (_, i) => i));
    const out = new Float32Array(ctx.n * per);
    const [lo, hi] = ctx.range;
    const scale = ds.x instanceof Uint8Array ? 1 / 255 : 1;
    for (let i = 0; i < ctx.n; i++)
      for (let j = 0, src = order[i] * per; j < per; j++)
        out[i * per + j] = lo + (hi - lo) * Math.min(1, Math.max(0, ds.x[src + j] * scale));
    return out;
  },
};
