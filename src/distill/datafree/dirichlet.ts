import type { Rng } from '../../util/rng.js';

/** A Gamma(shape, 1) draw (Marsaglia & Tsang 2000; shapes below 1 boosted by U^(1/shape)). */
export function gamma(rng: Rng, shape: number): number {
  if (shape < 1) return gamma(rng, shape + 1) * rng.next() ** (1 / shape);
  const d = shape - 1 / 3,
    c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let z: number, v: number;
    do {
      z = rng.normal();
      v = 1 + c * z;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * z ** 4 || Math.log(u) < 0.5 * z * z + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** A Dirichlet(α) draw: normalised Gamma(α_k) draws (written into `out`). */
export function dirichlet(rng: Rng, alpha: readonly number[], out = new Float32Array(alpha.length)): Float32Array {
  let sum = 0;
  for (let k = 0; k < alpha.length; k++) sum += out[k] = gamma(rng, alpha[k]);
  // Every α_k tiny can underflow all draws to zero: the mode of a sparse Dirichlet is its largest α.
  if (!(sum > 0)) {
    out.fill(0);
    out[alpha.indexOf(Math.max(...alpha))] = 1;
    return out;
  }
  for (let k = 0; k < alpha.length; k++) out[k] /= sum;
  return out;
}
