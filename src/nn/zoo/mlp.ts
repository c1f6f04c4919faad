import * as op from '../../graph/ops.js';
import { Dropout } from '../layers/dropout.js';
import { Linear } from '../layers/linear.js';
import type { ModelDef } from '../model.js';

export interface MlpOptions {
  /** Dropout rate after each hidden ReLU (Hinton et al.'s teacher uses 0.5; inputs get `inputDropout`). */
  dropout?: number;
  inputDropout?: number;
  /** Input shape without the batch; images are flattened (default [784]). */
  inputShape?: number[];
  name?: string;
}

/** A multilayer perceptron of the given widths, e.g. [784, 1200, 1200, 10]; ReLU between layers. */
export function mlp(widths: number[], o: MlpOptions = {}): ModelDef {
  const inputShape = o.inputShape ?? [widths[0]];
  return {
    name: o.name ?? `mlp-${widths.join('-')}`,
    inputs: { x: { dtype: 'float32', shape: ['N', ...inputShape] } },
    forward(ctx, { x }) {
      let h = inputShape.length > 1 ? op.flatten(x, 1, 'flatten') : x;
      if (o.inputDropout) h = new Dropout('drop_in', o.inputDropout).apply(ctx, h);
      for (let i = 1; i < widths.length; i++) {
        const last = i === widths.length - 1;
        h = new Linear(`fc${i}`, widths[i - 1], widths[i], { init: last ? 'glorot' : 'he' }).apply(ctx, h);
        if (!last) {
          h = op.relu(h, `relu${i}`);
          if (o.dropout) h = new Dropout(`drop${i}`, o.dropout).apply(ctx, h);
        }
      }
      return { logits: op.identity(h, 'logits') };
    },
  };
}
