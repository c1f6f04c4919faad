import { combineTeachers, type Combine } from '../distill/combine.js';
import {
  distillationLoss,
  pretrainLoss,
  pretrainOf,
  studentNodesOf,
  teacherOutputsOf,
  teacherRef,
  needsOf,
  type LossTerm,
} from '../distill/loss.js';
import type { BoundaryInputs } from '../distill/method.js';
import type { Value } from '../graph/graph.js';
import type { Dim } from '../graph/types.js';
import type { BuildContext, InputSpec } from '../nn/context.js';
import { accuracy, agreement } from '../nn/losses.js';
import { emitModel, type Model } from '../nn/model.js';
import { adam } from '../optim/adam.js';
import type { Optimizer } from '../optim/optimizer.js';
import { buildTrainGraph, type TrainStepSpec } from '../runtime/train-graph.js';
import { KdError } from '../util/errors.js';
import type { StepInputs } from './loop.js';
import type { TeacherSlot } from '../distill/teachers/open.js';

export type { TeacherSlot };

export function classesOf(model: Model): number {
  const out = model.build('eval').outputs;
  if (!out.logits)
    throw new KdError(
      'NO_LOGITS',
      `model '${model.name}' has no 'logits' output (it has ${Object.keys(out).join(', ')}); classifiers must return { logits }`,
    );
  return out.logits.shape[1] as number;
}

/** Names of a built model's layer outputs worth tapping: named nodes, not the ops inside a layer (`bn/Mul_3`). */
function tappable(g: Value['graph']): string[] {
  return g.nodes
    .map((x) => x.outputs[0])
    .filter(
      (n) =>
        !n.includes('@') &&
        n !== 'step' &&
        !/^(grad|loss|optim)\b/.test(n) &&
        !/(^|\/)[A-Z][A-Za-z]*(_\d+)?$/.test(n) &&
        !/\/(mean|var|const|shape|axes)(_\d+)?$/.test(n),
    );
}

/**
 * Which teacher serves each output reference the terms read: per teacher, the node names to fetch and
 * the step inputs that receive them. One teacher keeps the plain names ('teacher_logits', 'teacher:<node>').
 */
function routeTeachers(terms: readonly LossTerm[], slots: readonly TeacherSlot[]) {
  const single = slots.length === 1;
  const inputOf = (k: number, node: string) =>
    single ? (node === 'logits' ? 'teacher_logits' : `teacher:${node}`) : `teacher${k}${node === 'logits' ? '_logits' : `:${node}`}`;
  const nodes = slots.map(() => new Set(['logits']));
  const refs: { ref: string; k: number; node: string }[] = [];
  for (const ref of teacherOutputsOf(terms)) {
    if (ref === 'logits') continue;
    const r = teacherRef(ref);
    const k = r.teacher === undefined ? 0 : slots.findIndex((s) => s.name === r.teacher);
    if (k < 0)
      throw new KdError(
        'UNKNOWN_TEACHER',
        `the loss reads '${ref}', but no teacher is named '${r.teacher}' (teachers: ${slots.map((s) => s.name).join(', ')})`,
      );
    nodes[k].add(r.node);
    refs.push({ ref, k, node: r.node });
  }
  return { inputOf, nodes: nodes.map((s) => [...s]), refs };
}

/**
 * The training step of a classifier under weighted loss terms: teacher outputs enter as inputs (combined
 * into one `logits` by `combine` when there are several teachers), student nodes the terms name are tapped
 * by name, and the batch's dataset indices enter as 'sample_index' when a term keeps per-sample memory. In
 * the `pretrain` phase the loss is the terms' pre-training losses instead.
 */
export function classifierStep(
  model: Model,
  terms: readonly LossTerm[],
  slots: readonly TeacherSlot[],
  combine: Combine,
  optimizer: Optimizer,
  numSamples?: number,
  phase: 'main' | 'pretrain' = 'main',
) {
  const classes = classesOf(model);
  const { inputOf, nodes, refs } = routeTeachers(terms, slots);
  const shapes = slots.map((s, k) =>
    nodes[k].map((n): Dim[] => {
      if (n === 'logits') return ['N', ...(s.shapes?.logits ?? [classes])];
      const sh = s.shapes?.[n];
      if (!sh)
        throw new KdError(
          'NO_TEACHER_FEATURE',
          `the loss reads feature '${n}' of teacher '${s.name}'; pass its per-sample shape (the Distiller and \`kdistill run\` probe it)`,
        );
      return ['N', ...sh];
    }),
  );
  const sNodes = studentNodesOf(terms);
  const needs = needsOf(terms);
  const withIndex = !!needs.sampleIndex;
  // Extra models train in the main phase only, each as a parameter group of its own.
  const extra = phase === 'main' ? (needs.models ?? []) : [];
  const owned = new Map(extra.map((m) => [m.name, new Set<string>()]));
  const extraInputs: Record<string, InputSpec> = { labels: { dtype: 'int64', shape: ['N'] } };
  slots.forEach((_, k) => nodes[k].forEach((n, i) => (extraInputs[inputOf(k, n)] = { dtype: 'float32', shape: shapes[k][i] })));
  if (withIndex) extraInputs.sample_index = { dtype: 'int64', shape: ['N'] };
  const withKnown = !!needs.known;
  if (withKnown) extraInputs.known = { dtype: 'float32', shape: ['N', classes] };
  const boundary = phase === 'main' ? needs.boundary : undefined;
  const input = Object.keys(model.def.inputs)[0];
  if (boundary) {
    if (Object.keys(model.def.inputs).length !== 1 || model.def.inputs[input].dtype !== 'float32')
      throw new KdError(
        'BAD_LOSS',
        `the loss moves samples towards the teacher's decision boundary (bss), which needs a student of one float input; ` +
          `'${model.name}' takes ${Object.entries(model.def.inputs)
            .map(([k, v]) => `${k} (${v.dtype})`)
            .join(', ')}`,
      );
    if (slots.length !== 1)
      throw new KdError('BAD_LOSS', `bss attacks through one teacher; the stage has ${slots.length} (give it one teacher)`);
    Object.assign(extraInputs, boundaryInputs(model.def.inputs[input].shape, classes));
  }
  const spec: TrainStepSpec = {
    model,
    optimizer,
    extraInputs,
    groups: extra.map((m) => ({
      name: m.name,
      owns: (p: string) => owned.get(m.name)!.has(p),
      optimizer: m.optimizer,
      objective: m.objective,
      alternate: m.alternate,
    })),
    loss: (out, inp, aux) => {
      const g = out.logits.graph;
      const student: Record<string, Value> = { ...out };
      for (const n of sNodes) {
        const v = g.tap(n);
        if (!v)
          throw new KdError(
            'UNKNOWN_NODE',
            `student '${model.name}' has no node '${n}'; its tappable nodes include ` +
              `${tappable(g).slice(-12).join(', ')} (\`kdistill inspect\` on an exported model lists all)`,
          );
        student[n] = v;
      }
      const teacher: Record<string, Value> = {};
      if (slots.length) {
        const tl = slots.map((s, k) => ({
          logits: inp[inputOf(k, 'logits')],
          weight: s.weight ?? 1,
          classes: s.classes ?? null,
          name: s.name,
        }));
        teacher.logits = g.scoped('teachers', () => combineTeachers(tl, combine, classes, inp.labels));
        for (const r of refs) teacher[r.ref] = inp[inputOf(r.k, r.node)];
      }
      // Each extra model is applied under its own scope; the parameters it declares there are its group's.
      const models = Object.fromEntries(
        extra.map((m) => [
          m.name,
          (x: Value) => {
            const before = new Set(aux.params.keys());
            const y = aux.scope('models', () => m.module.apply(aux, x));
            for (const p of aux.params.keys()) if (!before.has(p)) owned.get(m.name)!.add(p);
            return y;
          },
        ]),
      );
      const inputs = {
        student,
        teacher,
        labels: inp.labels,
        aux,
        numSamples,
        models,
        ...(withIndex ? { sampleIndex: inp.sample_index } : {}),
        ...(withKnown ? { known: inp.known } : {}),
        ...(boundary ? { boundary: boundaryPass(model, input, inp, aux) } : {}),
      };
      const l = phase === 'pretrain' ? { ...pretrainLoss(terms, inputs), objectives: {} } : distillationLoss(terms, inputs);
      const metrics: Record<string, Value> = { acc: accuracy(out.logits, inp.labels) };
      if (slots.length) metrics.agree = agreement(out.logits, teacher.logits);
      return { total: l.total, terms: l.terms, metrics, objectives: l.objectives };
    },
  };
  const io: StepInputs = {
    input,
    teachers: slots.map((_, k) => ({ names: nodes[k], inputs: nodes[k].map((n) => inputOf(k, n)), shapes: shapes[k] })),
    sampleIndex: withIndex,
    known: withKnown,
    groups: extra.map((m) => ({ name: m.name, lr: m.lr, schedule: m.schedule })),
    ...(boundary ? { boundary } : {}),
  };
  return { spec, io, classes };
}

/** The step inputs of boundary samples (see `BoundaryInputs`): the samples, the teacher's logits, which were attacked, the factor. */
export const BOUNDARY_INPUTS = {
  x: 'boundary_x',
  logits: 'boundary_teacher_logits',
  attacked: 'boundary_attacked',
  weight: 'boundary_weight',
};

function boundaryInputs(sample: readonly Dim[], classes: number): Record<string, InputSpec> {
  return {
    [BOUNDARY_INPUTS.x]: { dtype: 'float32', shape: sample },
    [BOUNDARY_INPUTS.logits]: { dtype: 'float32', shape: ['N', classes] },
    [BOUNDARY_INPUTS.attacked]: { dtype: 'float32', shape: ['N'] },
    [BOUNDARY_INPUTS.weight]: { dtype: 'float32', shape: [] },
  };
}

/**
 * The student applied a second time, to the boundary samples: the same parameter inputs (found by name), its own
 * dropout draws (registered with the step's noise). Its BatchNorm layers normalise with this batch's statistics;
 * their running statistics are updated from the clean batch only (this pass's updates are not state).
 */
function boundaryPass(model: Model, input: string, inp: Record<string, Value>, aux: BuildContext): BoundaryInputs {
  const x = inp[BOUNDARY_INPUTS.x];
  const b = x.graph.scoped('boundary', () =>
    emitModel(model.def, x.graph, 'train', { kind: 'inputs' }, (name, dtype, shape) =>
      name === input ? x : aux.makeInput(name, dtype, shape),
    ),
  );
  aux.noise.push(...b.ctx.noise);
  return {
    student: b.outputs.logits,
    teacher: inp[BOUNDARY_INPUTS.logits],
    attacked: inp[BOUNDARY_INPUTS.attacked],
    weight: inp[BOUNDARY_INPUTS.weight],
  };
}

/**
 * Builds (without running) the training step a run will use, so a wrong node name, a feature pair that
 * cannot be compared or a method option fails before hours of teacher training rather than after.
 */
export function checkClassifierStep(
  model: Model,
  terms: readonly LossTerm[],
  slots: readonly TeacherSlot[] = [],
  combine: Combine = 'mean',
  numSamples = 1,
): void {
  const used = teacherOutputsOf(terms).length > 0 ? slots : [];
  buildTrainGraph(classifierStep(model, terms, used, combine, adam(), numSamples).spec, { multiStep: false });
  if (pretrainOf(terms))
    buildTrainGraph(classifierStep(model, terms, used, combine, adam(), numSamples, 'pretrain').spec, { multiStep: false });
}
