/** Alternating updates of parameter groups within one training step graph (a discriminator and its student in turns). */
import type { Value } from '../graph/graph.js';
import * as op from '../graph/ops.js';
import { KdError } from '../util/errors.js';

/**
 * Turns instead of joint updates: steps cycle through `steps` steps in which only the group updates, then
 * `studentSteps` in which only the rest (the model and its adapters) does. The side whose turn it is not keeps its
 * parameters, optimizer slots and buffers (BatchNorm statistics) exactly: each is selected in the step graph
 * (`Where(turn, new, old)`) by a turn derived from the step number, so a multi-step graph alternates inside its
 * Loop and a resumed run picks up mid-cycle. Each side's optimizer sees its own update count as its step (Adam's
 * bias correction, SGD's first momentum step), as two PyTorch optimizers stepped in turn would; learning-rate
 * schedules follow the global step.
 */
export interface Alternation {
  readonly steps: number;
  readonly studentSteps: number;
}

/** A side's turn: whether it updates at this step, and the step number its optimizer sees (its own update count). */
export interface Turn {
  readonly active: Value;
  readonly step: Value;
}

/**
 * The turns of the alternating groups and of the rest, from the 1-based step number s: with t = s − 1, the cycle
 * P = k + m, c = ⌊t / P⌋ and r = t − cP, the groups update when r < k (their c·k + r + 1-th update) and the rest
 * otherwise (its c·m + r − k + 1-th). Every alternating group must share one cycle: they take the same turns.
 */
export function alternationOf(
  groups: readonly { readonly name: string; readonly alternate?: Alternation }[],
  step: Value,
): { group: Turn; student: Turn } | undefined {
  const alt = groups.filter((x) => x.alternate);
  if (!alt.length) return undefined;
  const { steps: k, studentSteps: m } = alt[0].alternate!;
  for (const x of alt) {
    const a = x.alternate!;
    if (!Number.isInteger(a.steps) || !Number.isInteger(a.studentSteps) || a.steps < 1 || a.studentSteps < 1)
      throw new KdError(
        'BAD_GROUP',
        `parameter group '${x.name}' alternates ${a.steps} steps with ${a.studentSteps} student steps; both must be integers ≥ 1`,
      );
    if (a.steps !== k || a.studentSteps !== m)
      throw new KdError(
        'BAD_GROUP',
        `parameter groups '${alt[0].name}' (${k}:${m}) and '${x.name}' (${a.steps}:${a.studentSteps}) alternate ` +
          'on different cycles; give them the same steps and studentSteps',
      );
  }
  const g = step.graph;
  return g.scoped('alternate', () => {
    const P = k + m;
    const t = op.addScalar(step, -1);
    // ⌊t/P⌋ for a whole t ≥ 0 as round((t − (P−1)/2)/P): the fraction stays within ±(P−1)/2P, never a tie.
    const cycle = op.round(op.div(op.addScalar(t, -(P - 1) / 2), op.scalar(g, P)), 'cycle');
    const r = op.sub(t, op.scale(cycle, P), 'phase');
    const active = op.less(r, op.scalar(g, k - 0.5), 'group_turn');
    const own = (per: number, offset: Value) => op.addScalar(op.add(op.scale(cycle, per), offset), 1);
    return {
      group: { active, step: own(k, op.min(r, op.scalar(g, k - 1))) },
      student: { active: op.not(active, 'student_turn'), step: own(m, op.max(op.addScalar(r, -k), op.scalar(g, 0))) },
    };
  });
}
