import type { Value } from '../graph/graph.js';
import * as op from '../graph/ops.js';
import { KdError } from '../util/errors.js';
import type { BuildContext } from './context.js';
import type { Init } from './init.js';
import { Model, type ModelDef } from './model.js';

/** A model definition made of peers trained together (online distillation); see {@link cohort}. */
export interface CohortDef extends ModelDef {
  readonly peers: readonly ModelDef[];
  /** Set on a codistillation cohort ({@link codistillationCohort}): steps between refreshes of the stale copies. */
  readonly refreshEvery?: number;
}

/** Prefix of the stale copies' buffers and outputs (`stale/peerK/…`). */
export const STALE = 'stale';

/** The scope, parameter prefix and output prefix of peer `k`. */
export const peerScope = (k: number): string => `peer${k}`;

/**
 * Several models as one: each peer is built under its own scope (`peer0/…`, `peer1/…`, parameters
 * included) on the same input, so one training step trains all of them. Outputs are every peer output as
 * `peerK/<name>` plus `logits` (= peer 0's), so accuracy, evaluation and export see one classifier. Peers
 * may differ in architecture but must declare the same inputs. Initial values are seeded by parameter name,
 * so two peers of the same architecture start differently, as DML's peers do.
 */
export function cohort(defs: readonly ModelDef[], name?: string): CohortDef {
  if (defs.length < 2) throw new KdError('BAD_MODEL', `a cohort needs at least two peers, got ${defs.length}`);
  const inputs = defs[0].inputs;
  const sig = (d: ModelDef) => JSON.stringify(Object.entries(d.inputs).map(([k, s]) => [k, s.dtype, s.shape]));
  defs.forEach((d, k) => {
    if (sig(d) !== sig(defs[0]))
      throw new KdError(
        'SHAPE_MISMATCH',
        `cohort peer ${k} ('${d.name}') takes inputs ${sig(d)}, peer 0 ('${defs[0].name}') takes ${sig(defs[0])}; peers read the same input`,
      );
  });
  return {
    name: name ?? `cohort(${defs.map((d) => d.name).join(',')})`,
    inputs,
    peers: [...defs],
    forward(ctx, ins) {
      const out: Record<string, Value> = {};
      defs.forEach((d, k) => {
        const p = peerScope(k);
        ctx.scope(p, () => {
          for (const [key, v] of Object.entries(d.forward(ctx, ins))) {
            // The output key must be the node name too: exported files and taps address outputs by name.
            out[`${p}/${key}`] = v.name === `${p}/${key}` ? v : op.identity(v, key);
          }
        });
        if (!out[`${p}/logits`]) throw new KdError('NO_LOGITS', `cohort peer ${k} ('${d.name}') has no 'logits' output`);
      });
      // A node of its own (not an alias of peer0/logits) so an exported cohort has an output named 'logits'.
      return { logits: op.identity(out[`${peerScope(0)}/logits`], 'logits'), ...out };
    },
  };
}

/**
 * A cohort for codistillation (Anil et al., ICLR 2018): besides its live parameters each peer keeps a
 * stale copy of them (buffers `stale/peerK/<name>`, BatchNorm statistics included), and each training
 * step also runs every peer on its stale copy, giving `stale/peerK/logits` (detached), which the
 * `codistill` term reads as the other peers' predictions. The copies are taken from the live values at
 * steps 1, N+1, 2N+1, … (N = `refreshEvery`) before they are used, so the stale copy at step s holds the
 * live values from the start of the latest such step: the paper's "checkpoint of the other replicas,
 * reloaded every N steps". Taking them before use means their own initial values never matter.
 * The stale pass runs in eval mode, as a teacher does (no dropout, running BatchNorm statistics).
 * Outside a training step (evaluation, export) only the live cohort is built, so exported peers hold no copies.
 */
export function codistillationCohort(defs: readonly ModelDef[], opts: { refreshEvery: number }, name?: string): CohortDef {
  const N = opts.refreshEvery;
  if (!Number.isInteger(N) || N < 1) throw new KdError('BAD_MODEL', `refreshEvery must be an integer ≥ 1, got ${N}`);
  const live = cohort(defs, name ?? `codistill(${defs.map((d) => d.name).join(',')})`);
  return {
    ...live,
    refreshEvery: N,
    forward(ctx, ins) {
      const out = live.forward(ctx, ins);
      if (!ctx.training) return out;
      const view = staleView(ctx, refreshNow(ctx, N));
      ctx.scope(STALE, () =>
        defs.forEach((d, k) =>
          view.scope(peerScope(k), () => {
            for (const [key, v] of Object.entries(d.forward(view, ins))) out[`${STALE}/${peerScope(k)}/${key}`] = op.stopGradient(v);
          }),
        ),
      );
      return out;
    },
  };
}

/** Bool scalar: whether this step refreshes the stale copies, (step − 1) mod N = 0; undefined outside a training step. */
function refreshNow(ctx: BuildContext, N: number): Value | undefined {
  const step = ctx.step();
  if (!step) return undefined;
  const g = ctx.g;
  // In int64, where Div truncates (s ≥ 0): s − N·(s / N) is s mod N exactly, at any step count.
  const s = op.cast(op.addScalar(step, -1), 'int64');
  const n = g.initializer('refresh_every', op.i64([N], []));
  const r = op.sub(s, op.mul(op.div(s, n), n));
  return op.equal(r, g.initializer('zero', op.i64([0], [])), 'stale_refresh');
}

/**
 * `ctx` seen by the stale pass: eval mode, and every parameter or buffer a layer declares becomes a
 * buffer under the current (`stale/peerK/…`) scope whose value this step is the live one's when
 * `refresh` is true, and whose next value is what it was used with. Without a step (the Model's probe
 * that lists parameters) the stored copy is used as it is.
 */
function staleView(ctx: BuildContext, refresh: Value | undefined): BuildContext {
  const view = Object.create(ctx) as BuildContext;
  Object.defineProperty(view, 'mode', { value: 'eval' });
  const used = new Map<string, Value>();
  const copy = (local: string, shape: readonly number[], init: Init): Value => {
    const name = view.fullName(local);
    const seen = used.get(name);
    if (seen) return seen;
    const stored = ctx.buffer.call(view, local, shape, init);
    if (!refresh) return stored;
    const liveName = name.slice(STALE.length + 1);
    const liveValue = ctx.paramValues.get(liveName);
    if (!liveValue)
      throw new KdError('BAD_MODEL', `stale copy '${name}' has no live '${liveName}': the peer declared a parameter only in eval mode`);
    const v = op.where(refresh, liveValue, stored, `${local}_stale`);
    ctx.bufferUpdates.set(name, v);
    used.set(name, v);
    return v;
  };
  view.param = copy;
  view.buffer = copy;
  return view;
}

/** Whether a model definition is a cohort. */
export function isCohort(def: ModelDef): def is CohortDef {
  return Array.isArray((def as Partial<CohortDef>).peers);
}

/**
 * Peer `k` of a trained cohort as a standalone Model holding that peer's current values, under the
 * names it has alone (no `peerK/` prefix): it exports, evaluates and checkpoints like any model.
 */
export function peerModel(cohortModel: Model, k: number): Model {
  const def = cohortModel.def;
  if (!isCohort(def)) throw new KdError('BAD_MODEL', `model '${cohortModel.name}' is not a cohort`);
  if (!Number.isInteger(k) || k < 0 || k >= def.peers.length)
    throw new KdError('BAD_MODEL', `cohort '${cohortModel.name}' has peers 0..${def.peers.length - 1}, not ${k}`);
  const peer = new Model(def.peers[k], cohortModel.seed);
  const prefix = `${peerScope(k)}/`;
  const values = new Map<string, Float32Array>();
  for (const [n, v] of cohortModel.values) if (n.startsWith(prefix)) values.set(n.slice(prefix.length), v);
  peer.load(values, `cohort '${cohortModel.name}' peer ${k}`);
  return peer;
}

/** Number of peers whose logits a loss can read among student outputs (`peer0/logits`, `peer1/logits`, …). */
export function peerCount(outputs: Readonly<Record<string, unknown>>): number {
  let k = 0;
  while (outputs[`${peerScope(k)}/logits`]) k++;
  return k;
}
