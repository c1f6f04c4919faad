import type { Predictor } from './inference.js';
import { ort } from './ort.js';

/** p50 / p95 latency in ms of one inference call at a batch size. */
export interface Latency {
  batch: number;
  p50: number;
  p95: number;
}

/** Measures a predictor's latency on zero inputs of `sampleShape` (after warm-up), `runs` calls per batch size. */
export async function measureLatency(
  p: Predictor,
  sampleShape: readonly number[],
  batches: readonly number[] = [1, 32],
  runs = 50,
): Promise<Latency[]> {
  const out: Latency[] = [];
  for (const b of batches) {
    const shape = [b, ...sampleShape];
    const x = new ort.Tensor('float32', new Float32Array(shape.reduce((a, c) => a * c, 1)), shape);
    for (let i = 0; i < 5; i++) await p.run(x);
    const t: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await p.run(x);
      t.push(performance.now() - t0);
    }
    t.sort((a, c) => a - c);
    out.push({ batch: b, p50: +t[Math.floor(runs * 0.5)].toFixed(3), p95: +t[Math.min(runs - 1, Math.floor(runs * 0.95))].toFixed(3) });
  }
  return out;
}
