import { toOnnx } from '../graph/onnx.js';
import type { TensorData } from '../graph/types.js';
import { initialize } from '../nn/init.js';
import { runtime } from './runtime.js';
import { KdError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { createSession, ort, toOrt, type SessionOptions } from './ort.js';
import { buildTrainGraph, type TrainGraph, type TrainStepSpec } from './train-graph.js';

/** Saved state of a training session: every resident tensor, the step counter and the noise stream. */
export interface TrainState {
  step: number;
  rng: number[];
  tensors: Map<string, Float32Array>;
}

/**
 * Runs a training step graph on onnxruntime-node with all state resident in JS-owned buffers:
 * each state tensor has two buffers, the step reads one and the next values land in the other
 * (preallocated outputs), and the roles swap, so nothing is allocated per step. onnxruntime-node
 * still copies outputs across its binding; multi-step sessions pay that once per K steps.
 */
export class TrainSession {
  /** Number of steps taken (the optimizer sees step + 1). */
  step = 0;
  private shared?: SharedState;
  private cur: Map<string, ort.Tensor>;
  private nxt: Map<string, ort.Tensor>;
  private readonly constants = new Map<string, ort.Tensor>();
  private noiseRng: Rng;
  private readonly noiseBufs = new Map<string, Float32Array>();

  private constructor(
    readonly spec: TrainStepSpec,
    readonly tg: TrainGraph,
    private readonly session: ort.InferenceSession,
    seed: number,
    initial?: ReadonlyMap<string, Float32Array>,
  ) {
    const model = spec.model;
    this.cur = new Map();
    this.nxt = new Map();
    // Auxiliary parameters (adapters) live only in the session: drawn from their initialisers here,
    // unless an earlier phase trained them.
    const auxValues = new Map(
      tg.aux.map((a) => {
        const n = a.shape.reduce((p, q) => p * q, 1),
          given = initial?.get(a.name);
        if (given && given.length !== n)
          throw new KdError(
            'SHAPE_MISMATCH',
            `initial value of auxiliary parameter '${a.name}' has ${given.length} values, its shape [${a.shape.join(', ')}] needs ${n}`,
          );
        return [a.name, given ? Float32Array.from(given) : initialize(a.init, n, seed, a.name)];
      }),
    );
    const initialValue = (name: string) => model.values.get(name) ?? auxValues.get(name)!;
    for (const s of tg.state) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const init = s.kind === 'slot' ? new Float32Array(n) : Float32Array.from(initialValue(s.name));
      this.cur.set(s.name, new ort.Tensor('float32', init, s.shape as number[]));
      this.nxt.set(s.name, new ort.Tensor('float32', new Float32Array(n), s.shape as number[]));
    }
    for (const c of tg.constants) {
      const spec_ = model.specs.get(c) ?? tg.aux.find((a) => a.name === c)!;
      this.constants.set(c, new ort.Tensor('float32', initialValue(c), spec_.shape as number[]));
    }
    this.noiseRng = new Rng(`${seed}:noise`);
  }

  /**
   * Builds the step graph, differentiates it and opens an ORT session for it. With `multiStep` one
   * ORT run executes a whole group of steps ({@link runMany}); see {@link buildTrainGraph}. `initial`
   * gives auxiliary parameters values from an earlier phase (by name) instead of their initialisers.
   */
  static async create(
    spec: TrainStepSpec,
    opts: SessionOptions & {
      seed?: number;
      multiStep?: boolean;
      initial?: ReadonlyMap<string, Float32Array>;
      /** Tensors shared with other sessions training other parts of the same model in alternation (see {@link SharedState}). */
      shared?: SharedState;
      /** Run convolutions in ONNX Runtime's NCHWc layout where the runtime has it (default true; see graph/nchwc.ts). */
      nchwc?: boolean;
    } = {},
  ): Promise<TrainSession> {
    const rt = runtime();
    const provider = opts.provider ?? rt.trainProvider ?? rt.providers[0];
    const nchwcBlock = opts.nchwc === false ? 0 : ((await rt.nchwcBlock?.(provider)) ?? 0);
    const tg = buildTrainGraph(spec, { multiStep: opts.multiStep, nchwcBlock });
    const session = await createSession(toOnnx(tg.graph), { ...opts, provider });
    const ts = new TrainSession(spec, tg, session, opts.seed ?? spec.model.seed, opts.initial);
    if (opts.shared) {
      opts.shared.join(ts);
      ts.shared = opts.shared;
    }
    return ts;
  }

  /**
   * Runs one step on a batch (model inputs and extra inputs by name) at learning rate `lr`;
   * returns the scalar outputs (loss, terms, metrics).
   */
  async run(
    batch: Record<string, TensorData | ort.Tensor>,
    lr: number,
    groupLrs: Readonly<Record<string, number>> = {},
  ): Promise<Record<string, number>> {
    if (this.tg.multiStep)
      return (await this.runMany([batch], [lr], Object.fromEntries(Object.entries(groupLrs).map(([k, v]) => [k, [v]]))))[0];
    const feeds: Record<string, ort.Tensor> = {};
    const n = this.feedData(batch, feeds);
    feeds.lr = new ort.Tensor('float32', Float32Array.of(lr), []);
    for (const [group, input] of Object.entries(this.tg.groupRates))
      feeds[input] = new ort.Tensor('float32', Float32Array.of(groupRateOf(groupLrs, group)), []);
    feeds.step = new ort.Tensor('float32', Float32Array.of(this.step + 1), []);
    this.noiseFeeds(feeds, n, 1);
    const out = await this.execute(feeds, 1);
    return out[0];
  }

  /**
   * Runs `batches.length` consecutive steps in one ORT run (multi-step sessions only); every batch
   * must have the same shapes. Returns the scalar outputs of each step.
   */
  async runMany(
    batches: Record<string, TensorData | ort.Tensor>[],
    lrs: readonly number[],
    groupLrs: Readonly<Record<string, readonly number[]>> = {},
  ): Promise<Record<string, number>[]> {
    if (!this.tg.multiStep) throw new KdError('BAD_CALL', 'runMany needs a session created with { multiStep: true }');
    const K = batches.length;
    if (K === 0) return [];
    const feeds: Record<string, ort.Tensor> = {};
    let n = -1;
    for (const name of this.tg.dataInputs) {
      const parts = batches.map((b) => asOrt(b, name));
      const per = parts[0].size;
      if (parts.some((p) => p.size !== per || p.type !== parts[0].type))
        throw new KdError('SHAPE_MISMATCH', `runMany: batches differ in the size or type of '${name}'; group steps by batch size`);
      const stacked = this.staging(name, parts[0], K * per);
      parts.forEach((p, k) => stacked.set(p.data as never, k * per));
      feeds[name] = new ort.Tensor(parts[0].type as 'float32', stacked as never, [K, ...parts[0].dims]);
      if (n < 0) n = parts[0].dims[0];
    }
    feeds.steps = new ort.Tensor('int64', BigInt64Array.of(BigInt(K)), []);
    feeds.step0 = new ort.Tensor('float32', Float32Array.of(this.step), []);
    feeds.lr = new ort.Tensor('float32', Float32Array.from(lrs), [K]);
    for (const [group, input] of Object.entries(this.tg.groupRates)) {
      const r = groupRateOf(groupLrs, group);
      if (r.length !== K) throw new KdError('BAD_CALL', `runMany: ${K} steps, but ${r.length} learning rates for group '${group}'`);
      feeds[input] = new ort.Tensor('float32', Float32Array.from(r), [K]);
    }
    this.noiseFeeds(feeds, n, K);
    return this.execute(feeds, K);
  }

  /** Feeds state and constants, runs, swaps state buffers and reads the scalars of each of the K steps. */
  private async execute(feeds: Record<string, ort.Tensor>, K: number): Promise<Record<string, number>[]> {
    // Values another session of a shared state trains (or updates first) are fed as that session holds them now.
    for (const s of this.tg.state) feeds[s.feed] = this.shared?.foreign(s.name, this) ?? this.cur.get(s.name)!;
    for (const [k, t] of this.constants) feeds[k] = this.shared?.foreign(k, this) ?? t;
    const fetches: Record<string, ort.Tensor> = {};
    for (const s of this.tg.state) fetches[s.next] = this.nxt.get(s.name)!;
    const scalars = this.scalarBuffers(K);
    for (const [name, t] of scalars) fetches[name] = t;
    if (runtime().fillsOutputs === false) {
      // onnxruntime-web's wasm backend leaves given CPU output tensors untouched: fetch by name and copy.
      const res = await this.session.run(feeds, Object.keys(fetches));
      for (const [name, t] of Object.entries(fetches)) (t.data as Float32Array).set(res[name].data as Float32Array);
    } else await this.session.run(feeds, fetches);
    [this.cur, this.nxt] = [this.nxt, this.cur];
    this.step += K;
    return Array.from({ length: K }, (_, k) => {
      const out: Record<string, number> = {};
      for (const [key, name] of Object.entries(this.tg.scalars)) out[key] = (scalars.get(name)!.data as Float32Array)[k];
      return out;
    });
  }

  private feedData(batch: Record<string, TensorData | ort.Tensor>, feeds: Record<string, ort.Tensor>): number {
    let n = -1;
    for (const name of this.tg.dataInputs) {
      feeds[name] = asOrt(batch, name);
      if (n < 0) n = feeds[name].dims[0];
    }
    return n;
  }

  private readonly stagingBufs = new Map<string, ort.Tensor['data']>();
  /** A reused buffer of the input's own element type, holding K stacked batches. */
  private staging(name: string, like: ort.Tensor, size: number): Float32Array | BigInt64Array {
    let b = this.stagingBufs.get(name) as Float32Array | BigInt64Array | undefined;
    if (!b || b.length !== size || b.constructor !== (like.data as object).constructor) {
      b = new (like.data.constructor as new (n: number) => Float32Array | BigInt64Array)(size);
      this.stagingBufs.set(name, b);
    }
    return b;
  }

  private readonly scalarBufs = new Map<number, Map<string, ort.Tensor>>();
  private scalarBuffers(K: number): Map<string, ort.Tensor> {
    let m = this.scalarBufs.get(K);
    if (!m) {
      m = new Map();
      for (const name of new Set(Object.values(this.tg.scalars)))
        m.set(name, new ort.Tensor('float32', new Float32Array(K), this.tg.multiStep ? [K] : []));
      this.scalarBufs.set(K, m);
    }
    return m;
  }

  /** Dropout noise for K steps, drawn step by step so one K-step run draws what K single steps would. */
  private noiseFeeds(feeds: Record<string, ort.Tensor>, batch: number, K: number): void {
    const bufs = this.tg.noise.map((nz) => {
      const dims = nz.shape.map((d) => resolveDim(d, batch, nz.name));
      const per = dims.reduce((a, b) => a * b, 1);
      let buf = this.noiseBufs.get(nz.name);
      if (!buf || buf.length !== K * per) {
        buf = new Float32Array(K * per);
        this.noiseBufs.set(nz.name, buf);
      }
      feeds[nz.name] = new ort.Tensor('float32', buf, this.tg.multiStep ? [K, ...dims] : dims);
      return { buf, per };
    });
    for (let k = 0; k < K; k++) for (const { buf, per } of bufs) this.noiseRng.fillUniform(buf.subarray(k * per, (k + 1) * per));
  }

  /** The ORT tensor holding a resident value now (it alternates between two buffers). */
  current(name: string): ort.Tensor | undefined {
    return this.cur.get(name);
  }

  /** Current value of a resident tensor (parameter, slot or buffer); a live view, not a copy. */
  tensor(name: string): Float32Array {
    const t = this.cur.get(name) ?? this.constants.get(name);
    if (!t) throw new KdError('UNKNOWN_VALUE', `training state has no tensor '${name}'`);
    return t.data as Float32Array;
  }

  /** Copies the current parameters and buffers into the model (e.g. before export or evaluation). */
  syncToModel(): void {
    for (const s of this.tg.state)
      if (s.kind !== 'slot' && !this.shared?.foreign(s.name, this)) this.spec.model.values.get(s.name)?.set(this.tensor(s.name));
  }

  /** Everything needed to continue bit-for-bit: resident tensors, step, noise stream. */
  saveState(): TrainState {
    const tensors = new Map<string, Float32Array>();
    for (const s of this.tg.state) tensors.set(s.name, Float32Array.from(this.tensor(s.name)));
    // Frozen adapters (FT's pre-trained paraphraser) are constants of the step but not re-creatable from a seed.
    for (const name of this.frozenAux()) tensors.set(name, Float32Array.from(this.tensor(name)));
    return { step: this.step, rng: Array.from(this.noiseRng.state()), tensors };
  }

  /**
   * Writes a checkpoint (atomically) holding parameters, optimizer slots, buffers, the step, the noise
   * stream and `meta` (e.g. the data iterator's state), enough to continue bit for bit.
   */
  saveCheckpoint(path: string, meta: Record<string, unknown> = {}): void {
    const st = this.saveState();
    saveCheckpoint(path, { meta: { ...meta, model: this.spec.model.name, step: st.step, rng: st.rng }, tensors: st.tensors });
  }

  /** Restores a checkpoint written by {@link saveCheckpoint}; returns its `meta`. */
  restoreCheckpoint(path: string): Record<string, unknown> {
    const ck = loadCheckpoint(path);
    if (typeof ck.meta.step !== 'number' || !Array.isArray(ck.meta.rng))
      throw new KdError(
        'BAD_CHECKPOINT',
        `${path} is a model checkpoint without training state (step, RNG); it can initialise a model but not resume training`,
      );
    this.loadState({ step: ck.meta.step, rng: ck.meta.rng as number[], tensors: ck.tensors });
    return ck.meta;
  }

  /** Restores a state saved by {@link saveState} (from this or an identically built session). */
  loadState(st: TrainState): void {
    for (const s of this.tg.state) {
      const v = st.tensors.get(s.name);
      if (!v) throw new KdError('BAD_CHECKPOINT', `checkpoint lacks training tensor '${s.name}'`);
      const dst = this.cur.get(s.name)!.data as Float32Array;
      if (v.length !== dst.length)
        throw new KdError('BAD_CHECKPOINT', `checkpoint tensor '${s.name}' has ${v.length} values, the model expects ${dst.length}`);
      dst.set(v);
    }
    for (const name of this.frozenAux()) {
      const v = st.tensors.get(name);
      if (!v) throw new KdError('BAD_CHECKPOINT', `checkpoint lacks frozen adapter tensor '${name}'`);
      (this.constants.get(name)!.data as Float32Array).set(v);
    }
    this.step = st.step;
    this.noiseRng = new Rng(Uint32Array.from(st.rng));
  }

  /** Auxiliary tensors the step reads but never updates. */
  private frozenAux(): string[] {
    const aux = new Set(this.tg.aux.map((a) => a.name));
    return this.tg.constants.filter((c) => aux.has(c));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Resident tensors shared by several training sessions over one model, for procedures that train its parts in
 * alternation (a student step, then a generator step): every parameter is trained by one session, which owns it,
 * and the others read its current value each run. A buffer (BatchNorm statistics) belongs to the first session
 * that updates it; later sessions read it and their own updates of it are dropped.
 */
export class SharedState {
  private readonly owners = new Map<string, TrainSession>();

  /** Registers a session's trained parameters and updated buffers; a parameter trained by two sessions is refused. */
  join(s: TrainSession): void {
    for (const slot of s.tg.state) {
      const owner = this.owners.get(slot.name);
      if (owner && slot.kind === 'param')
        throw new KdError(
          'BAD_PROCEDURE',
          `parameter '${slot.name}' is trained by two steps of the procedure ` +
            `('${owner.tg.graph.name}' and '${s.tg.graph.name}'); freeze it in one`,
        );
      if (!owner) this.owners.set(slot.name, s);
    }
  }

  /** The current tensor of `name` if a session other than `reader` owns it. */
  foreign(name: string, reader: TrainSession): ort.Tensor | undefined {
    const owner = this.owners.get(name);
    return owner && owner !== reader ? owner.current(name) : undefined;
  }
}

/** A batch input by name as an ORT tensor (TensorData is wrapped without copying). */
function asOrt(batch: Record<string, TensorData | ort.Tensor>, name: string): ort.Tensor {
  const t = batch[name];
  if (!t) throw new KdError('MISSING_INPUT', `training step needs input '${name}' (got ${Object.keys(batch).join(', ') || 'nothing'})`);
  return 'dims' in t ? (t as ort.Tensor) : toOrt(t as TensorData);
}

/** Size of a noise dimension: a number, the batch symbol 'N', or a product such as 'N*12'. */
function resolveDim(d: number | string, batch: number, input: string): number {
  if (typeof d === 'number') return d;
  let size = 1;
  for (const f of d.split('*')) {
    if (f === 'N') size *= batch;
    else if (/^\d+$/.test(f)) size *= Number(f);
    else
      throw new KdError(
        'UNSUPPORTED_SHAPE',
        `cannot size the per-step input '${input}': its dimension '${d}' is not the batch N or a multiple of it`,
      );
  }
  return size;
}

/** A parameter group's learning rate(s) from what the caller passed; a group without one is a mistake, not a default. */
function groupRateOf<T>(given: Readonly<Record<string, T>>, group: string): T {
  const r = given[group];
  if (r === undefined)
    throw new KdError(
      'BAD_CALL',
      `the step has parameter group '${group}', and no learning rate was given for it (${Object.keys(given).join(', ') || 'none given'})`,
    );
  return r;
}
