import { z } from 'zod';
import { Rng } from '../../../util/rng.js';
import type { Synthesizer } from '../synthesizer.js';

const options = z.strictObject({});

/**
 * The floor every data-free method must clear: KD on uniform noise in the data's range (DAFL's and ZSKD's
 * "random noise" baseline). The teacher tends to put most noise in one or two classes, so little transfers.
 */
export const noise: Synthesizer<z.infer<typeof options>> = {
  name: 'noise',
  description: 'baseline: uniform noise in the data range, labelled and taught by the teacher',
  options,
  async synthesize(ctx) {
    const out = new Float32Array(ctx.n * ctx.sampleShape.reduce((a, b) => a * b, 1));
    const rng = new Rng(ctx.seed);
    const [lo, hi] = ctx.range;
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * rng.next();
    return out;
  },
};
