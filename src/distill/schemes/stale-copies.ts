/**
 * Stale copies of a cohort's peers, for codistillation (Anil et al., ICLR 2018): each peer's parameters as of
 * the latest refresh, kept as buffers of the cohort's step graph and refreshed every N steps.
 */
import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import type { BuildContext } from '../../nn/context.js';
import type { Init } from '../../nn/init.js';
import type { ModelDef } from '../../nn/model.js';
import { KdError } from '../../util/errors.js';
import { cohort, peerScope, type CohortDef } from './cohort.js';

/** Prefix of the stale copies' buffers and outputs (`stale/peerK/…`). */
export const STALE = 'stale';

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
