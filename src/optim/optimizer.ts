import type { Value } from '../graph/graph.js';

/** Per-step scalar inputs every optimizer may read: the learning rate and the 1-based step number. */
export interface StepInputs {
  readonly lr: Value;
  readonly step: Value;
}

/**
 * An optimizer as a graph fragment: for each parameter it declares state slots (zero-initialised
 * tensors shaped like the parameter) and emits the update from the parameter, its gradient and slots.
 */
export interface Optimizer {
  readonly name: string;
  readonly slots: readonly string[];
  update(p: Value, grad: Value, slots: readonly Value[], s: StepInputs): { param: Value; slots: Value[] };
  /** Options as plain data, for run records. */
  describe(): Record<string, unknown>;
}
