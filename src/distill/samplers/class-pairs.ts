import type { PartnerSampler } from '../../data/batches.js';
import type { Dataset } from '../../data/dataset.js';

/**
 * CS-KD's sampler (Yun et al., CVPR 2020, the official `PairBatchSampler`): each anchor's partner is another
 * sample of its class, uniform over the others (the anchor itself when its class has one sample).
 */
export const classPairs: PartnerSampler = {
  name: 'class-pairs',
  bind(ds: Dataset) {
    const k = ds.y.reduce((a, v) => Math.max(a, v + 1), 0);
    const start = new Int32Array(k + 1);
    for (let i = 0; i < ds.n; i++) start[ds.y[i] + 1]++;
    for (let c = 0; c < k; c++) start[c + 1] += start[c];
    // Members of class c are order[start[c] .. start[c+1]); rank[i] is i's place among them.
    const order = new Int32Array(ds.n);
    const rank = new Int32Array(ds.n);
    const fill = start.slice(0, k);
    for (let i = 0; i < ds.n; i++) {
      rank[i] = fill[ds.y[i]] - start[ds.y[i]];
      order[fill[ds.y[i]]++] = i;
    }
    return (i, r) => {
      const c = ds.y[i];
      const size = start[c + 1] - start[c];
      if (size < 2) return i;
      const j = r % (size - 1);
      return order[start[c] + (j < rank[i] ? j : j + 1)];
    };
  },
};
