import { gradients } from '../autodiff/gradients.js';
import { Graph, type Value } from '../graph/graph.js';
import { lowerConvsToNchwc } from '../graph/nchwc.js';
import * as op from '../graph/ops.js';
import { A, type DType, type Shape } from '../graph/types.js';
import { BuildContext, type InputSpec, type NoiseSpec, type ParamSpec } from '../nn/context.js';
import { emitModel, type Model } from '../nn/model.js';
import type { Optimizer } from '../optim/optimizer.js';
import { KdError } from '../util/errors.js';
import { alternationOf, type Alternation, type Turn } from './alternation.js';

/** What a loss builder returns: the scalar to minimise, its named terms and extra metrics (all scalars). */
export interface LossOutput {
  total: Value;
  terms?: Record<string, Value>;
  metrics?: Record<string, Value>;
  /** Scalars that parameter groups minimise instead of `total` (a discriminator's or a generator's loss), by name. */
  objectives?: Record<string, Value>;
}

/**
 * Trainable parameters updated by an optimizer of their own, in the same step as the rest (jointly, or in turns
 * with `alternate`): a generator, a discriminator, a second party. Each group reads its learning rate from the step
 * input `lr.<name>` and, with `objective`, descends that scalar instead of the step's total loss.
 */
export interface ParamGroup {
  readonly name: string;
  /** Whether a trainable parameter (of the model or declared in `aux`) belongs to the group. */
  readonly owns: (param: string) => boolean;
  readonly optimizer: Optimizer;
  /** A key of the loss builder's `objectives`; absent: the total loss. */
  readonly objective?: string;
  /** Update in turns with the rest of the step (see {@link Alternation}); absent: every step. */
  readonly alternate?: Alternation;
}

/** Everything the training step needs to know to become one ONNX graph. */
export interface TrainStepSpec {
  model: Model;
  optimizer: Optimizer;
  /** Inputs beyond the model's own, e.g. `labels` (int64 [N]) or `teacher_logits`. */
  extraInputs?: Record<string, InputSpec>;
  /** Builds the loss from the model outputs and all data inputs (model inputs plus extras). */
  /**
   * Builds the loss from the model outputs and all data inputs (model inputs plus extras). `aux` declares
   * parameters that train with the student but are not part of it (adapters, connectors); they are
   * updated by the optimizer, checkpointed, and absent from the exported student.
   */
  loss(outputs: Record<string, Value>, inputs: Record<string, Value>, aux: BuildContext): LossOutput;
  /**
   * Report the gradient's global L2 norm as the scalar 'grad_norm' (so a non-finite gradient stops
   * training like a non-finite loss) and, with a number, rescale the gradient to at most that norm
   * (PyTorch's clip_grad_norm_: factor min(1, max / (norm + 1e-6))).
   */
  gradNorm?: boolean | number;
  /**
   * Trainable model parameters to freeze (not differentiated or updated): names, `all` (only auxiliary
   * parameters train) or `unreached` (those the loss does not depend on, e.g. layers after a hint).
   */
  frozen?: readonly string[] | 'all' | 'unreached';
  /** Parameters with optimizers of their own (see {@link ParamGroup}); the rest use `optimizer` at `lr`. */
  groups?: readonly ParamGroup[];
}

/** One resident tensor of the step: the graph input that feeds it, the output holding its next value, its shape. */
export interface StateSlot {
  readonly name: string;
  readonly feed: string;
  readonly next: string;
  readonly shape: readonly number[];
  readonly kind: 'param' | 'slot' | 'buffer';
}

/** The training step as a graph plus the bookkeeping the executor needs. */
export interface TrainGraph {
  readonly graph: Graph;
  /** Per-step data inputs (model inputs, then extras); in a multi-step graph each is stacked on a leading step axis. */
  readonly dataInputs: readonly string[];
  readonly state: readonly StateSlot[];
  /** State fed each run but never updated (frozen parameters, buffers without an update). */
  readonly constants: readonly string[];
  readonly noise: readonly NoiseSpec[];
  /** Scalar outputs reported each step: 'loss', each term, each metric ([K] per run in a multi-step graph). */
  readonly scalars: Readonly<Record<string, string>>;
  /** Whether one run executes several steps (an ONNX Loop over stacked inputs). */
  readonly multiStep: boolean;
  /** Parameters and buffers that train with the model but are not part of it (adapters), with their initialisers. */
  readonly aux: readonly ParamSpec[];
  /** The step input holding each parameter group's learning rate, by group name (scalar; [K] in a multi-step graph). */
  readonly groupRates: Readonly<Record<string, string>>;
}

/** Inputs every training step graph defines itself. */
const RESERVED_INPUTS = ['lr', 'step', 'steps', 'step0'];

/** The step input of a parameter group's learning rate. */
export const groupRate = (group: string): string => `lr.${group}`;

interface Step {
  aux: ParamSpec[];
  dataInputs: string[];
  state: { name: string; next: Value; shape: readonly number[]; kind: StateSlot['kind'] }[];
  constants: string[];
  noise: NoiseSpec[];
  scalars: Record<string, Value>;
}

/** Forward pass, loss, gradients (our reverse-mode autodiff) and optimizer update, emitted into `g`. */
function emitStep(
  g: Graph,
  spec: TrainStepSpec,
  makeInput: (name: string, dtype: DType, shape: Shape) => Value,
  lr: Value,
  step: Value,
  groupLr: (group: string) => Value,
): Step {
  const { model, optimizer } = spec;
  for (const k of [...Object.keys(model.def.inputs), ...Object.keys(spec.extraInputs ?? {})])
    if (RESERVED_INPUTS.includes(k))
      throw new KdError('DUPLICATE_NAME', `input name '${k}' is reserved by the training step (${RESERVED_INPUTS.join(', ')}); rename it`);
  const built = emitModel(model.def, g, 'train', { kind: 'inputs' }, makeInput);
  const extras: Record<string, Value> = {};
  for (const [k, s] of Object.entries(spec.extraInputs ?? {})) extras[k] = makeInput(k, s.dtype, s.shape);
  const aux = new BuildContext(g, 'train', { kind: 'inputs' }, makeInput);
  const loss = g.scoped('loss', () => aux.scope('aux', () => spec.loss(built.outputs, { ...built.inputs, ...extras }, aux)));
  const auxSpecs = [...aux.params.values()];
  for (const a of auxSpecs)
    if (model.specs.has(a.name)) throw new KdError('DUPLICATE_NAME', `auxiliary parameter '${a.name}' clashes with a model parameter`);

  const trainable = new Set(model.trainableNames());
  const frozen = frozenSet(spec.frozen, trainable, loss.total, model.name);
  const params = [...model.trainableNames().filter((n) => !frozen.has(n)), ...auxSpecs.filter((a) => a.trainable).map((a) => a.name)].map(
    (n) => g.value(n),
  );
  const groups = groupParams(spec.groups ?? [], params, loss, model.name);
  const main = params.filter((p) => !groups.some((x) => x.params.includes(p)));
  const grads = gradients(loss.total, main);
  // Clipping and the reported norm are the main parameters': a group's gradient is of another objective.
  const norm = spec.gradNorm && main.length ? g.scoped('grad_norm', () => gradNormOf(grads, main, spec.gradNorm)) : undefined;
  // Turns are gated only when a group asks for them, so joint steps keep their graph (and numbers) as they were.
  const turns = alternationOf(
    groups.map((x) => x.group),
    step,
  );
  const updates: Update[] = [{ params: main, grads, optimizer, lr, turn: turns?.student }];
  for (const x of groups) {
    const objective = x.group.objective === undefined ? loss.total : loss.objectives![x.group.objective];
    updates.push({
      params: x.params,
      grads: gradients(objective, x.params),
      optimizer: x.group.optimizer,
      lr: groupLr(x.group.name),
      turn: x.group.alternate ? turns!.group : undefined,
    });
  }

  const state: Step['state'] = [];
  const gated = (turn: Turn | undefined, next: Value, old: Value) => (turn ? op.where(turn.active, next, old) : next);
  g.scoped('optim', () => {
    for (const u of updates)
      for (const p of u.params) {
        const slots = u.optimizer.slots.map((s) => g.input(`${p.name}#${s}`, 'float32', p.shape));
        const upd = g.scoped(p.name.replace(/\//g, '.'), () => {
          const r = u.optimizer.update(p, u.grads.get(p.name)!, slots, { lr: u.lr, step: u.turn?.step ?? step });
          return { param: gated(u.turn, r.param, p), slots: r.slots.map((v, i) => gated(u.turn, v, slots[i])) };
        });
        state.push({ name: p.name, next: upd.param, shape: p.shape as number[], kind: 'param' });
        slots.forEach((sv, i) => state.push({ name: sv.name, next: upd.slots[i], shape: p.shape as number[], kind: 'slot' }));
      }
  });
  for (const [name, v] of [...built.ctx.bufferUpdates, ...aux.bufferUpdates]) {
    // A buffer is on the side of the group whose module declared it, else on the model's (the student's).
    const owner = groups.find((x) => x.group.owns(name));
    const turn = owner ? (owner.group.alternate ? turns!.group : undefined) : turns?.student;
    const next = turn ? g.scoped('optim', () => gated(turn, v, g.value(name))) : v;
    state.push({ name, next, shape: (model.specs.get(name) ?? aux.params.get(name)!).shape, kind: 'buffer' });
  }
  const updated = new Set(state.map((s) => s.name));
  const constants = [...model.specs.keys(), ...aux.params.keys()].filter((n) => !updated.has(n) && g.has(n));
  const scalars: Record<string, Value> = { loss: loss.total, ...(norm ? { grad_norm: norm } : {}) };
  for (const [k, v] of [...Object.entries(loss.terms ?? {}), ...Object.entries(loss.metrics ?? {})]) {
    // 'loss' is the total; a term or metric under the same key would silently replace what is logged.
    if (k in scalars) throw new KdError('DUPLICATE_NAME', `loss term or metric '${k}' is defined twice (or uses the reserved name 'loss')`);
    scalars[k] = v;
  }
  for (const [k, v] of Object.entries(loss.objectives ?? {})) {
    if (k in scalars) throw new KdError('DUPLICATE_NAME', `objective '${k}' has the name of a loss term, metric or 'loss'`);
    scalars[k] = v;
  }
  const dataInputs = [...Object.keys(model.def.inputs), ...Object.keys(extras)];
  return { dataInputs, state, constants, noise: [...built.ctx.noise, ...aux.noise], scalars, aux: auxSpecs };
}

interface Update {
  params: Value[];
  grads: Map<string, Value>;
  optimizer: Optimizer;
  lr: Value;
  turn?: Turn;
}

/** Each group's parameters among the trainable ones; a parameter claimed by two groups, or a group's unknown objective, is an error. */
function groupParams(groups: readonly ParamGroup[], params: Value[], loss: LossOutput, model: string) {
  const seen = new Map<string, string>();
  return groups.map((group) => {
    if (RESERVED_INPUTS.includes(groupRate(group.name)) || !/^[A-Za-z0-9_-]+$/.test(group.name))
      throw new KdError('BAD_GROUP', `parameter group name '${group.name}' must be letters, digits, '_' or '-'`);
    if (group.objective !== undefined && !loss.objectives?.[group.objective])
      throw new KdError(
        'BAD_GROUP',
        `parameter group '${group.name}' descends objective '${group.objective}', which the loss does not define ` +
          `(its objectives: ${Object.keys(loss.objectives ?? {}).join(', ') || 'none'})`,
      );
    const own = params.filter((p) => group.owns(p.name));
    if (!own.length)
      throw new KdError('BAD_GROUP', `parameter group '${group.name}' owns no trainable parameter of '${model}' or its adapters`);
    for (const p of own) {
      const other = seen.get(p.name);
      if (other) throw new KdError('BAD_GROUP', `parameter '${p.name}' belongs to groups '${other}' and '${group.name}'; give it to one`);
      seen.set(p.name, group.name);
    }
    return { group, params: own };
  });
}

/** The gradient's global L2 norm; with a numeric limit, the gradients in `grads` are replaced by their clipped values. */
function gradNormOf(grads: Map<string, Value>, params: Value[], limit: boolean | number | undefined): Value {
  const squares = params.map((p) => op.reduceSumSquare(grads.get(p.name)!));
  const norm = op.sqrt(
    squares.reduce((a, b) => op.add(a, b)),
    'value',
  );
  if (typeof limit === 'number') {
    const factor = op.min(op.div(op.scalar(norm.graph, limit), op.addScalar(norm, 1e-6)), op.scalar(norm.graph, 1), 'clip_factor');
    for (const p of params) grads.set(p.name, op.mul(grads.get(p.name)!, factor));
  }
  return norm;
}

/** The frozen parameter names a spec asks for, checked against the model's trainable ones. */
function frozenSet(f: TrainStepSpec['frozen'], trainable: Set<string>, loss: Value, model: string): Set<string> {
  if (f === 'all') return trainable;
  if (f === 'unreached') {
    const reached = ancestors(loss);
    return new Set([...trainable].filter((n) => !reached.has(n)));
  }
  for (const n of f ?? [])
    if (!trainable.has(n))
      throw new KdError(
        'UNKNOWN_PARAM',
        `cannot freeze '${n}': model '${model}' has no trainable parameter of that name (it ` +
          `has ${[...trainable].slice(0, 8).join(', ')}${trainable.size > 8 ? ', …' : ''})`,
      );
  return new Set(f ?? []);
}

/** Names of every value `v` is computed from, graph inputs included. */
function ancestors(v: Value): Set<string> {
  const seen = new Set<string>([v.name]);
  const stack = [v.name];
  while (stack.length) {
    const node = v.graph.producer(stack.pop()!);
    for (const i of node?.inputs ?? [])
      if (i && !seen.has(i)) {
        seen.add(i);
        stack.push(i);
      }
  }
  return seen;
}

/**
 * Builds the training step as one graph. Parameters, optimizer slots and buffers are inputs whose
 * next values are outputs, so the executor keeps them resident and swaps buffers between runs.
 *
 * With `multiStep`, one run executes K steps: the step becomes the body of an ONNX Loop whose
 * carried values are the state and whose per-step inputs are sliced from inputs stacked on a
 * leading axis of length K. State then crosses the JS boundary once per K steps instead of every
 * step, which for large dense models is a third of the step time.
 */
export function buildTrainGraph(spec: TrainStepSpec, opts: { multiStep?: boolean; nchwcBlock?: number } = {}): TrainGraph {
  const name = `${spec.model.name}-train`;
  if (!opts.multiStep) {
    const g = new Graph(name);
    const lr = g.input('lr', 'float32', []);
    const step = g.input('step', 'float32', []);
    const s = emitStep(
      g,
      spec,
      (n, dtype, shape) => g.input(n, dtype, shape),
      lr,
      step,
      (gr) => g.input(groupRate(gr), 'float32', []),
    );
    if (opts.nchwcBlock) lowerConvsToNchwc(g, opts.nchwcBlock);
    const scalars = Object.fromEntries(Object.entries(s.scalars).map(([k, v]) => [k, v.name]));
    g.output(...Object.values(s.scalars), ...s.state.map((x) => x.next));
    return {
      graph: g,
      dataInputs: s.dataInputs,
      constants: s.constants,
      noise: s.noise,
      scalars,
      multiStep: false,
      aux: s.aux,
      groupRates: rates(spec),
      state: s.state.map((x) => ({ name: x.name, feed: x.name, next: x.next.name, shape: x.shape, kind: x.kind })),
    };
  }

  const body = new Graph(`${name}-step`);
  const iter = body.input('iter', 'int64', []);
  const cond = body.input('cond', 'bool', []);
  // The body reads stacked main-graph inputs (outer scope) and takes this step's slice.
  const perStep = (n: string, dtype: DType, shape: Shape) => op.gather(body.outer(n, dtype, ['K', ...shape]), iter, 0, `${n}@step`);
  const lr = perStep('lr', 'float32', []);
  const step = op.add(body.outer('step0', 'float32', []), op.addScalar(op.cast(iter, 'float32'), 1), 'step');
  const s = emitStep(body, spec, perStep, lr, step, (gr) => perStep(groupRate(gr), 'float32', []));
  if (opts.nchwcBlock) lowerConvsToNchwc(body, opts.nchwcBlock);
  // A Loop body's inputs are exactly (iter, cond, carried state...) in the order of the Loop's inputs;
  // frozen parameters and buffers are read from the enclosing graph instead.
  body.inputs.splice(0, body.inputs.length, iter.name, cond.name, ...s.state.map((x) => x.name));
  const scalarKeys = Object.keys(s.scalars);
  body.output(
    op.identity(cond, 'cond_out'),
    ...s.state.map((x) => op.identity(x.next, `${x.name}@out`)),
    ...scalarKeys.map((k) => op.identity(s.scalars[k], `${k}@out`)),
  );

  const g = new Graph(name);
  const trips = g.input('steps', 'int64', []);
  g.input('step0', 'float32', []);
  g.input('lr', 'float32', ['K']);
  for (const gr of spec.groups ?? []) g.input(groupRate(gr.name), 'float32', ['K']);
  for (const n of s.dataInputs) {
    const v = body.info.get(n)!;
    g.input(n, v.dtype, v.shape);
  }
  for (const nz of s.noise) g.input(nz.name, 'float32', ['K', ...nz.shape]);
  const inits = s.state.map((x) => g.input(`${x.name}@init`, 'float32', x.shape));
  for (const c of s.constants) g.input(c, 'float32', body.info.get(c)!.shape);
  const always = g.initializer('always', { dtype: 'bool', shape: [], data: Uint8Array.of(1) });
  const outs = g.node(
    'Loop',
    [trips, always, ...inits],
    { body: A.g(body) },
    { name: 'steps_loop', outNames: [...s.state.map((x) => `${x.name}@next`), ...scalarKeys.map((k) => `${k}@steps`)] },
  );
  g.output(...outs);
  return {
    graph: g,
    dataInputs: s.dataInputs,
    constants: s.constants,
    noise: s.noise,
    multiStep: true,
    aux: s.aux,
    groupRates: rates(spec),
    scalars: Object.fromEntries(scalarKeys.map((k) => [k, `${k}@steps`])),
    state: s.state.map((x) => ({ name: x.name, feed: `${x.name}@init`, next: `${x.name}@next`, shape: x.shape, kind: x.kind })),
  };
}

function rates(spec: TrainStepSpec): Record<string, string> {
  return Object.fromEntries((spec.groups ?? []).map((x) => [x.name, groupRate(x.name)]));
}
