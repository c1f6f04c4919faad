import { z } from 'zod';
import { fedSamples } from '../../../data/batches.js';
import { bundledDataset } from '../../../data/bundled.js';
import { subset } from '../../../data/dataset.js';
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
    if (ds.sampleShape.join() !== ctx.sampleShape.join())
      throw new KdError(
        'SHAPE_MISMATCH',
        `dataFree.dataset: '${o.dataset}' has samples [${ds.sampleShape}] but the teacher takes [${ctx.sampleShape}]; ` +
          'pick data of that shape',
      );
    if (ds.n < ctx.n) throw new KdError('BAD_OPTION', `dataFree.n: '${o.dataset}' has ${ds.n} images, fewer than the ${ctx.n} asked for`);
    const order = new Rng(ctx.seed).shuffle(Int32Array.from({ length: ds.n }, (_, i) => i));
    // The images as a teacher of that dataset would be fed them ([0, 1]), then mapped onto this teacher's range.
    const out = fedSamples(subset(ds, order.subarray(0, ctx.n)));
    const [lo, hi] = ctx.range;
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * Math.min(1, Math.max(0, out[i]));
    return out;
  },
};
