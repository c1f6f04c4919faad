import { ort } from '../runtime/ort.js';
import { Rng } from '../util/rng.js';

/** The fixed batch every bench step trains on, as the PyTorch peer does: N(0, 1) inputs and labels of 10 classes, seeded. */
export function randomBatch(batch: number, inputShape: readonly number[], seed = 0): { x: ort.Tensor; labels: ort.Tensor } {
  const rng = new Rng(seed);
  const shape = [batch, ...inputShape];
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()),
    shape,
  );
  const labels = new ort.Tensor(
    'int64',
    BigInt64Array.from({ length: batch }, () => BigInt(rng.int(10))),
    [batch],
  );
  return { x, labels };
}
