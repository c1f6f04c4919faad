import { KdError } from '../util/errors.js';

/** A learning-rate schedule as data, so configs and run records can hold it. Steps count from 0. */
export type Schedule =
  | { kind: 'constant' }
  /** Multiply by `gamma` every `stepSize` steps (PyTorch StepLR). */
  | { kind: 'step'; stepSize: number; gamma: number }
  /** Cosine from the base rate to `min` over `total` steps (PyTorch CosineAnnealingLR). */
  | { kind: 'cosine'; total: number; min?: number }
  /** Linear warm-up from startFactor·lr over `steps`, then `then` (counted from the end of warm-up). */
  | { kind: 'warmup'; steps: number; startFactor?: number; then: Schedule };

/** Learning rate for the step with 0-based index `step`. */
export function lrAt(s: Schedule, base: number, step: number): number {
  switch (s.kind) {
    case 'constant':
      return base;
    case 'step':
      return base * s.gamma ** Math.floor(step / s.stepSize);
    case 'cosine': {
      const min = s.min ?? 0;
      const t = Math.min(step, s.total);
      return min + ((base - min) * (1 + Math.cos((Math.PI * t) / s.total))) / 2;
    }
    case 'warmup': {
      if (step < s.steps) {
        const f0 = s.startFactor ?? 1 / 3;
        return base * (f0 + ((1 - f0) * step) / s.steps);
      }
      return lrAt(s.then, base, step - s.steps);
    }
    default:
      throw new KdError('BAD_SCHEDULE', `unknown schedule kind '${(s as { kind: string }).kind}'`);
  }
}
