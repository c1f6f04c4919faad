import { Rng } from '../util/rng.js';

/** How a parameter's initial value is drawn; every draw is seeded by (model seed, parameter name). */
export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'constant'; value: number }
  | { kind: 'normal'; std: number }
  | { kind: 'uniform'; limit: number }
  /** He/Kaiming normal, std = gain / sqrt(fan_in): the default for conv layers followed by ReLU. */
  | { kind: 'he'; fanIn: number }
  /** Glorot/Xavier uniform, limit = sqrt(6 / (fan_in + fan_out)): the default for dense layers. */
  | { kind: 'glorot'; fanIn: number; fanOut: number }
  /** Given values (an imported model's weights): every seed starts from them. */
  | { kind: 'values'; data: Float32Array };

/** Draws an initial value; the stream depends only on the seed and the parameter's name, not on creation order. */
export function initialize(init: Init, n: number, seed: number, name: string): Float32Array {
  const out = new Float32Array(n);
  const rng = new Rng(`${seed}:${name}`);
  switch (init.kind) {
    case 'zeros':
      return out;
    case 'ones':
      return out.fill(1);
    case 'constant':
      return out.fill(init.value);
    case 'normal':
      for (let i = 0; i < n; i++) out[i] = rng.normal() * init.std;
      return out;
    case 'uniform':
      for (let i = 0; i < n; i++) out[i] = (rng.next() * 2 - 1) * init.limit;
      return out;
    case 'he': {
      const std = Math.sqrt(2 / init.fanIn);
      for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
      return out;
    }
    case 'values':
      out.set(init.data);
      return out;
    case 'glorot': {
      const lim = Math.sqrt(6 / (init.fanIn + init.fanOut));
      for (let i = 0; i < n; i++) out[i] = (rng.next() * 2 - 1) * lim;
      return out;
    }
  }
}
