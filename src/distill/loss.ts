import * as op from '../graph/ops.js';
import type { Value } from '../graph/graph.js';
import { KdError } from '../util/errors.js';
import type { MethodInputs, MethodNeeds } from './method.js';
import { getMethod } from './registry.js';

/** One weighted term of a distillation loss, as configs and run records hold it. */
export interface LossTerm {
  method: string;
  weight: number;
  options?: Record<string, unknown>;
}

/** Validates a term list (method names, option schemas) and fills in each method's defaults. */
export function resolveTerms(terms: readonly LossTerm[]): Required<LossTerm>[] {
  if (terms.length === 0) throw new KdError('BAD_LOSS', 'a distillation loss needs at least one term');
  return terms.map((t, i) => {
    const m = getMethod(t.method);
    const parsed = m.options.safeParse(t.options ?? {});
    if (!parsed.success)
      throw new KdError(
        'BAD_LOSS',
        `loss[${i}] (${t.method}): ${parsed.error.issues.map((x) => `${x.path.join('.') || 'options'}: ${x.message}`).join('; ')}`,
      );
    return { method: t.method, weight: t.weight, options: parsed.data as Record<string, unknown> };
  });
}

/** Student nodes the terms tap by name, deduplicated. */
export function studentNodesOf(terms: readonly LossTerm[]): string[] {
  return [...new Set(resolveTerms(terms).flatMap((t) => getMethod(t.method).studentNodes?.(t.options) ?? []))];
}

/** Teacher outputs the terms need, deduplicated (empty: no teacher run at all). */
export function teacherOutputsOf(terms: readonly LossTerm[]): string[] {
  return [...new Set(resolveTerms(terms).flatMap((t) => getMethod(t.method).teacherOutputs(t.options)))];
}

/**
 * Splits a teacher output reference into node and teacher: `block2/relu@tA` is node `block2/relu` of the
 * teacher named `tA`; a plain name belongs to the first teacher.
 */
export function teacherRef(ref: string): { node: string; teacher?: string } {
  const at = ref.lastIndexOf('@');
  return at > 0 ? { node: ref.slice(0, at), teacher: ref.slice(at + 1) } : { node: ref };
}

/**
 * What the terms together ask the trainer for (see `MethodNeeds`): sample indices if any term reads them,
 * the partner sampler of the term that draws partnered batches (two different samplers cannot share one stream).
 */
export function needsOf(terms: readonly LossTerm[]): MethodNeeds {
  const all = resolveTerms(terms).map((t) => ({ method: t.method, n: getMethod(t.method).needs?.(t.options) ?? {} }));
  const partners = all.filter((x) => x.n.partners);
  if (new Set(partners.map((x) => x.n.partners!.name)).size > 1)
    throw new KdError(
      'BAD_LOSS',
      `terms ${partners.map((x) => x.method).join(' and ')} draw batches with different partner samplers; use one of them`,
    );
  const models = all.flatMap((x) => x.n.models ?? []);
  const names = models.map((m) => m.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new KdError('BAD_LOSS', `two terms declare an extra model named '${twice}'; each needs a name of its own`);
  const boundary = all.filter((x) => x.n.boundary);
  if (boundary.length > 1)
    throw new KdError(
      'BAD_LOSS',
      `terms ${boundary.map((x) => x.method).join(' and ')} each ask for boundary samples; one attack serves a step, so keep one of them`,
    );
  return {
    sampleIndex: all.some((x) => x.n.sampleIndex),
    known: all.some((x) => x.n.known),
    staleCopies: all.some((x) => x.n.staleCopies),
    ...(partners.length ? { partners: partners[0].n.partners } : {}),
    ...(models.length ? { models } : {}),
    ...(boundary.length ? { boundary: boundary[0].n.boundary } : {}),
  };
}

/**
 * The pre-training phase the terms ask for, if any: all terms with a phase run it together, for the
 * longest of their epoch counts; the student trains in it if any of them trains the student.
 */
export function pretrainOf(terms: readonly LossTerm[]): { epochs: number; trains: 'adapters' | 'student'; methods: string[] } | undefined {
  const phases = resolveTerms(terms)
    .map((t) => ({ method: t.method, p: getMethod(t.method).pretrain?.(t.options) }))
    .filter((x) => x.p && x.p.epochs > 0);
  if (!phases.length) return undefined;
  return {
    epochs: Math.max(...phases.map((x) => x.p!.epochs)),
    trains: phases.some((x) => x.p!.trains === 'student') ? 'student' : 'adapters',
    methods: phases.map((x) => x.method),
  };
}

/**
 * The pre-training loss: Σ of each phase's loss (unweighted: the phase trains only what it names). Terms
 * keep the scopes they have in {@link distillationLoss}, so adapters trained here carry into the main phase by name.
 */
export function pretrainLoss(terms: readonly LossTerm[], inputs: MethodInputs): { total: Value; terms: Record<string, Value> } {
  const named: Record<string, Value> = {};
  let total: Value | undefined;
  resolveTerms(terms).forEach((t, i) => {
    const phase = getMethod(t.method).pretrain?.(t.options);
    if (!phase || phase.epochs <= 0) return;
    const v = inputs.aux!.scope(`${t.method}${i}`, () => phase.loss(inputs, t.options));
    named[named[`${t.method}_pre`] ? `${t.method}_pre${i}` : `${t.method}_pre`] = v;
    total = total ? op.add(total, v) : v;
  });
  if (!total) throw new KdError('BAD_LOSS', 'no term has a pre-training phase');
  return { total: op.identity(total, 'total'), terms: named };
}

/**
 * The distillation loss as graph ops: Σ weight·term, with each term also returned by name (`ce`,
 * `kd`, ...) so it can be logged. Usable inside any training step graph, including a user's own.
 */
export function distillationLoss(
  terms: readonly LossTerm[],
  inputs: MethodInputs,
): { total: Value; terms: Record<string, Value>; objectives: Record<string, Value> } {
  const resolved = resolveTerms(terms);
  const named: Record<string, Value> = {};
  const objectives: Record<string, Value> = {};
  let total: Value | undefined;
  resolved.forEach((t, i) => {
    const key = named[t.method] ? `${t.method}_${i}` : t.method;
    // Each term gets its own scope, so two terms of one method keep separate adapters.
    const emit = () => getMethod(t.method).loss(inputs, t.options);
    const out = inputs.aux ? inputs.aux.scope(`${t.method}${i}`, emit) : emit();
    const v = 'loss' in out ? out.loss : out;
    if ('loss' in out)
      for (const [name, o] of Object.entries(out.objectives)) {
        if (objectives[name]) throw new KdError('BAD_LOSS', `two terms define the objective '${name}'`);
        objectives[name] = o;
      }
    named[key] = v;
    const w = t.weight === 1 ? v : op.scale(v, t.weight);
    total = total ? op.add(total, w) : w;
  });
  return { total: op.identity(total!, 'total'), terms: named, objectives };
}
