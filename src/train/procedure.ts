import { lrAt, type Schedule } from '../optim/schedule.js';
import type { TensorData } from '../graph/types.js';
import type { SessionOptions } from '../runtime/ort.js';
import type { ort } from '../runtime/ort.js';
import type { TrainStepSpec } from '../runtime/train-graph.js';
import { SharedState, TrainSession } from '../runtime/train-session.js';
import { KdError } from '../util/errors.js';

/** One update of a procedure: a step graph that trains some parameters of the shared model, with its own optimizer and rate. */
export interface ProcedureUpdate {
  /** Names the update in the scalars `run` returns. */
  readonly name: string;
  /** Its step graph: what it trains (the rest frozen through `frozen`), its loss and optimizer, its parameter groups. */
  readonly spec: TrainStepSpec;
  /** Peak learning rate and schedule (steps counted per update). */
  readonly lr: number;
  readonly schedule?: Schedule;
  /** Rates of the spec's parameter groups, if it has any. */
  readonly groups?: Readonly<Record<string, { readonly lr: number; readonly schedule?: Schedule }>>;
  /** Run on every `every`-th procedure step (default 1: every step), e.g. 5 student steps per generator step. */
  readonly every?: number;
}

/**
 * Several models (or parts of one) trained in alternation, each by its own step graph and optimizer: a student
 * and a generator (data-free KD), a student and a discriminator (adversarial KD), parties taking turns. The updates
 * share the model's resident tensors, so each step sees what the updates before it left. Updates due at the same
 * procedure step run in the order given, on the same batch.
 */
export class Procedure {
  /** Procedure steps taken. */
  step = 0;

  private constructor(
    readonly updates: readonly ProcedureUpdate[],
    readonly sessions: readonly TrainSession[],
  ) {}

  /** Builds and opens every update's step graph over one shared state. */
  static async create(updates: readonly ProcedureUpdate[], opts: SessionOptions & { seed?: number } = {}): Promise<Procedure> {
    if (!updates.length) throw new KdError('BAD_PROCEDURE', 'a procedure needs at least one update');
    const names = updates.map((u) => u.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw new KdError('BAD_PROCEDURE', `two updates of the procedure are named '${twice}'`);
    for (const u of updates)
      if (u.every !== undefined && !(Number.isInteger(u.every) && u.every >= 1))
        throw new KdError('BAD_PROCEDURE', `update '${u.name}': 'every' must be an integer ≥ 1, got ${u.every}`);
    const shared = new SharedState();
    const sessions: TrainSession[] = [];
    try {
      for (const u of updates) sessions.push(await TrainSession.create(u.spec, { ...opts, shared }));
    } catch (e) {
      for (const s of sessions) await s.release();
      throw e;
    }
    return new Procedure(updates, sessions);
  }

  /** One procedure step on a batch: every update due now runs once; returns each one's scalars by update name. */
  async run(batch: Record<string, TensorData | ort.Tensor>): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [k, u] of this.updates.entries()) {
      if (this.step % (u.every ?? 1) !== 0) continue;
      const s = this.sessions[k];
      const groups = Object.fromEntries(
        Object.entries(u.groups ?? {}).map(([g, r]) => [g, lrAt(r.schedule ?? { kind: 'constant' }, r.lr, s.step)]),
      );
      const feeds = Object.fromEntries(s.tg.dataInputs.map((n) => [n, batch[n]]).filter(([, v]) => v !== undefined));
      out[u.name] = await s.run(feeds, lrAt(u.schedule ?? { kind: 'constant' }, u.lr, s.step), groups);
    }
    this.step++;
    return out;
  }

  /** Writes every update's trained values into the model. */
  syncToModel(): void {
    for (const s of this.sessions) s.syncToModel();
  }

  async release(): Promise<void> {
    for (const s of this.sessions) await s.release();
  }
}
