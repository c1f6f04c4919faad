import { toOnnx } from '../graph/onnx.js';
import type { TensorData } from '../graph/types.js';
import type { Model } from '../nn/model.js';
import { KdError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
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
 * each state tensor has two buffers, the step reads one and ORT writes the next values straight
 * into the other (preallocated outputs), and the roles swap. No per-step allocation or copying
 * of parameters, optimizer slots or BatchNorm statistics.
 */
export class TrainSession {
  /** Number of steps taken (the optimizer sees step + 1). */
  step = 0;
  private cur: Map<string, ort.Tensor>;
  private nxt: Map<string, ort.Tensor>;
  private readonly constants = new Map<string, ort.Tensor>();
  private readonly scalarOut = new Map<string, ort.Tensor>();
  private noiseRng: Rng;
  private readonly noiseBufs = new Map<string, Float32Array>();

  private constructor(
    readonly spec: TrainStepSpec,
    readonly tg: TrainGraph,
    private readonly session: ort.InferenceSession,
    seed: number,
  ) {
    const model = spec.model;
    this.cur = new Map();
    this.nxt = new Map();
    for (const s of tg.state) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const init = s.kind === 'slot' ? new Float32Array(n) : Float32Array.from(model.values.get(s.name)!);
      this.cur.set(s.name, new ort.Tensor('float32', init, s.shape as number[]));
      this.nxt.set(s.name, new ort.Tensor('float32', new Float32Array(n), s.shape as number[]));
    }
    for (const c of tg.constants) {
      const spec_ = model.specs.get(c)!;
      this.constants.set(c, new ort.Tensor('float32', model.values.get(c)!, spec_.shape as number[]));
    }
    for (const name of Object.values(tg.scalars)) if (!this.scalarOut.has(name)) this.scalarOut.set(name, new ort.Tensor('float32', new Float32Array(1), []));
    this.noiseRng = new Rng(`${seed}:noise`);
  }

  /** Builds the step graph, differentiates it and opens an ORT session for it. */
  static async create(spec: TrainStepSpec, opts: SessionOptions & { seed?: number } = {}): Promise<TrainSession> {
    const tg = buildTrainGraph(spec);
    const session = await createSession(toOnnx(tg.graph), opts);
    return new TrainSession(spec, tg, session, opts.seed ?? spec.model.seed);
  }

  /**
   * Runs one step on a batch (model inputs and extra inputs by name) at learning rate `lr`;
   * returns the scalar outputs (loss, terms, metrics).
   */
  async run(batch: Record<string, TensorData | ort.Tensor>, lr: number): Promise<Record<string, number>> {
    const feeds: Record<string, ort.Tensor> = {};
    let n = -1;
    for (const name of this.tg.dataInputs) {
      const t = batch[name];
      if (!t) throw new KdError('MISSING_INPUT', `training step needs input '${name}' (got ${Object.keys(batch).join(', ') || 'nothing'})`);
      const ot = 'dims' in t ? (t as ort.Tensor) : toOrt(t as TensorData);
      feeds[name] = ot;
      if (n < 0) n = ot.dims[0];
    }
    feeds.lr = new ort.Tensor('float32', Float32Array.of(lr), []);
    feeds.step = new ort.Tensor('float32', Float32Array.of(this.step + 1), []);
    for (const nz of this.tg.noise) feeds[nz.name] = this.noiseTensor(nz.name, nz.shape, n);
    for (const [k, t] of this.cur) feeds[k] = t;
    for (const [k, t] of this.constants) feeds[k] = t;
    const fetches: Record<string, ort.Tensor> = {};
    for (const s of this.tg.state) fetches[s.next] = this.nxt.get(s.name)!;
    for (const [name, t] of this.scalarOut) fetches[name] = t;
    await this.session.run(feeds, fetches);
    [this.cur, this.nxt] = [this.nxt, this.cur];
    this.step++;
    const out: Record<string, number> = {};
    for (const [k, name] of Object.entries(this.tg.scalars)) out[k] = (this.scalarOut.get(name)!.data as Float32Array)[0];
    return out;
  }

  private noiseTensor(name: string, shape: readonly (number | string)[], batch: number): ort.Tensor {
    const dims = shape.map((d) => (typeof d === 'number' ? d : batch));
    const size = dims.reduce((a, b) => a * b, 1);
    let buf = this.noiseBufs.get(name);
    if (!buf || buf.length !== size) {
      buf = new Float32Array(size);
      this.noiseBufs.set(name, buf);
    }
    return new ort.Tensor('float32', this.noiseRng.fillUniform(buf), dims);
  }

  /** Current value of a resident tensor (parameter, slot or buffer); a live view, not a copy. */
  tensor(name: string): Float32Array {
    const t = this.cur.get(name) ?? this.constants.get(name);
    if (!t) throw new KdError('UNKNOWN_VALUE', `training state has no tensor '${name}'`);
    return t.data as Float32Array;
  }

  /** Copies the current parameters and buffers into the model (e.g. before export or evaluation). */
  syncToModel(): void {
    for (const s of this.tg.state) if (s.kind !== 'slot') this.spec.model.values.get(s.name)!.set(this.tensor(s.name));
  }

  /** Everything needed to continue bit-for-bit: resident tensors, step, noise stream. */
  saveState(): TrainState {
    const tensors = new Map<string, Float32Array>();
    for (const s of this.tg.state) tensors.set(s.name, Float32Array.from(this.tensor(s.name)));
    return { step: this.step, rng: Array.from(this.noiseRng.state()), tensors };
  }

  /** Restores a state saved by {@link saveState} (from this or an identically built session). */
  loadState(st: TrainState): void {
    for (const s of this.tg.state) {
      const v = st.tensors.get(s.name);
      if (!v) throw new KdError('BAD_CHECKPOINT', `checkpoint lacks training tensor '${s.name}'`);
      const dst = this.cur.get(s.name)!.data as Float32Array;
      if (v.length !== dst.length) throw new KdError('BAD_CHECKPOINT', `checkpoint tensor '${s.name}' has ${v.length} values, the model expects ${dst.length}`);
      dst.set(v);
    }
    this.step = st.step;
    this.noiseRng = new Rng(Uint32Array.from(st.rng));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
