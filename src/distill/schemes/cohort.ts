import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { KdError } from '../../util/errors.js';
import { Model, type ModelDef } from '../../nn/model.js';

/** A model definition made of peers trained together (online distillation); see {@link cohort}. */
export interface CohortDef extends ModelDef {
  readonly peers: readonly ModelDef[];
  /** Set on a codistillation cohort ({@link codistillationCohort}): steps between refreshes of the stale copies. */
  readonly refreshEvery?: number;
}

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
        `cohort peer ${k} ('${d.name}') takes inputs ${sig(d)}, peer 0 ` +
          `('${defs[0].name}') takes ${sig(defs[0])}; peers read the same input`,
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
