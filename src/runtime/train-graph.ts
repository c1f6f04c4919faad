import { gradients } from '../autodiff/gradients.js';
import { Graph, type Value } from '../graph/graph.js';
import type { InputSpec, NoiseSpec } from '../nn/context.js';
import { emitModel, type Model } from '../nn/model.js';
import type { Optimizer } from '../optim/optimizer.js';

/** What a loss builder returns: the scalar to minimise, its named terms and extra metrics (all scalars). */
export interface LossOutput {
  total: Value;
  terms?: Record<string, Value>;
  metrics?: Record<string, Value>;
}

/** Everything the training step needs to know to become one ONNX graph. */
export interface TrainStepSpec {
  model: Model;
  optimizer: Optimizer;
  /** Inputs beyond the model's own, e.g. `labels` (int64 [N]) or `teacher_logits`. */
  extraInputs?: Record<string, InputSpec>;
  /** Builds the loss from the model outputs and all data inputs (model inputs plus extras). */
  loss(outputs: Record<string, Value>, inputs: Record<string, Value>): LossOutput;
  /** Trainable parameters to freeze (not differentiated or updated). */
  frozen?: readonly string[];
}

/** One resident tensor of the step: its name as graph input, the output holding its next value, and its shape. */
export interface StateSlot {
  readonly name: string;
  readonly next: string;
  readonly shape: readonly number[];
  readonly kind: 'param' | 'slot' | 'buffer';
  /** The parameter a slot belongs to. */
  readonly param?: string;
}

/** The training step as a graph plus the bookkeeping the executor needs. */
export interface TrainGraph {
  readonly graph: Graph;
  readonly dataInputs: readonly string[];
  readonly state: readonly StateSlot[];
  /** State fed each step but never updated (frozen parameters, buffers without an update). */
  readonly constants: readonly string[];
  readonly noise: readonly NoiseSpec[];
  /** Scalar outputs reported each step: 'loss', each term, each metric. */
  readonly scalars: Readonly<Record<string, string>>;
}

/**
 * Builds forward pass, loss, gradients (our reverse-mode autodiff) and optimizer update as one graph.
 * Parameters, optimizer slots and buffers are inputs whose next values are outputs, so the executor can
 * keep them resident and swap buffers between steps instead of rebuilding anything.
 */
export function buildTrainGraph(spec: TrainStepSpec): TrainGraph {
  const { model, optimizer } = spec;
  const g = new Graph(`${model.name}-train`);
  const built = emitModel(model.def, g, 'train');
  const extras: Record<string, Value> = {};
  for (const [k, s] of Object.entries(spec.extraInputs ?? {})) extras[k] = g.input(k, s.dtype, s.shape);
  const lr = g.input('lr', 'float32', []);
  const step = g.input('step', 'float32', []);
  const loss = g.scoped('loss', () => spec.loss(built.outputs, { ...built.inputs, ...extras }));

  const frozen = new Set(spec.frozen ?? []);
  const trainable = model.trainableNames().filter((n) => !frozen.has(n));
  const params = trainable.map((n) => g.value(n));
  const grads = gradients(loss.total, params);

  const state: StateSlot[] = [];
  const outputs: Value[] = [];
  g.scoped('optim', () => {
    for (const p of params) {
      const slots = optimizer.slots.map((s) => g.input(`${p.name}#${s}`, 'float32', p.shape));
      const upd = g.scoped(p.name.replace(/\//g, '.'), () => optimizer.update(p, grads.get(p.name)!, slots, { lr, step }));
      const shape = p.shape as number[];
      state.push({ name: p.name, next: upd.param.name, shape, kind: 'param' });
      outputs.push(upd.param);
      slots.forEach((sv, i) => {
        state.push({ name: sv.name, next: upd.slots[i].name, shape, kind: 'slot', param: p.name });
        outputs.push(upd.slots[i]);
      });
    }
  });
  for (const [name, v] of built.ctx.bufferUpdates) {
    state.push({ name, next: v.name, shape: model.specs.get(name)!.shape, kind: 'buffer' });
    outputs.push(v);
  }
  const updated = new Set(state.map((s) => s.name));
  const constants = [...model.specs.keys()].filter((n) => !updated.has(n) && g.has(n));

  const scalars: Record<string, string> = { loss: loss.total.name };
  for (const [k, v] of Object.entries(loss.terms ?? {})) scalars[k] = v.name;
  for (const [k, v] of Object.entries(loss.metrics ?? {})) scalars[k] = v.name;
  g.output(...Object.values(scalars).map((n) => g.value(n)), ...outputs);

  const dataInputs = [...Object.keys(built.inputs).map((k) => built.inputs[k].name), ...Object.keys(extras)];
  return { graph: g, dataInputs, state, constants, noise: built.ctx.noise, scalars };
}
