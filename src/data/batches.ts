import { KdError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { augmentSignature, Augmenter, sampleKey, type AugmentOptions, type AugmentParams } from './augment.js';
import { sampleSize, type Dataset } from './dataset.js';

/** Which Int32 half of an int64 holds its low word. */
const LOW_WORD = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? 0 : 1;

/** Chooses a partner for each anchor of a batch (see `BatchOptions.partners`). */
export interface PartnerSampler {
  /** Recorded in the iterator's state, so a resume with another sampler is refused. */
  readonly name: string;
  /** Binds the sampler to a dataset: the partner of sample `i`, chosen by the uniform random 32-bit word `r`. */
  bind(ds: Dataset): (i: number, r: number) => number;
}

/** Batch size, shuffling, seed, normalisation, augmentation and pairing of a `BatchIterator`. */
export interface BatchOptions {
  batchSize: number;
  /** Reshuffle the sample order every epoch (default true). */
  shuffle?: boolean;
  /** Seed of the shuffle stream (default 0); ignored when resuming from a state. */
  seed?: number;
  /** Skip the final short batch of each epoch, for graphs with a fixed batch dimension (default false). */
  dropLast?: boolean;
  /** Subtracted after scaling to [0, 1]: one value, or one per channel (the first sample dimension). */
  mean?: number | readonly number[];
  /** Divides after subtracting `mean`: one value, or one per channel. */
  std?: number | readonly number[];
  /**
   * Random augmentation of [C, H, W] image samples (see `AugmentOptions`), drawn from the iterator's
   * seeded stream: the same seed or a restored state gives the same augmented batches.
   */
  augment?: AugmentOptions;
  /**
   * Partnered batches: each batch holds `batchSize` anchors in shuffled order, then one partner of each anchor,
   * in the same order, chosen by the sampler from the seeded stream, so batches are twice `batchSize`; an epoch
   * still visits every sample once as an anchor. Samplers live with the methods that read them (CS-KD's
   * same-class pairs: distill/samplers/class-pairs.ts).
   */
  partners?: PartnerSampler;
}

/**
 * One step's data. `x`, `y` and `indices` are views into buffers the iterator reuses: they are
 * valid until the next `nextBatch()` call, so copy them to keep them longer.
 */
export interface Batch {
  /** Inputs, row-major with `shape` = [size, ...sampleShape]. */
  readonly x: Float32Array;
  readonly shape: readonly number[];
  /** Class labels as int64, the type the ONNX loss graphs take. */
  readonly y: BigInt64Array;
  /** Dataset indices of the samples in this batch. */
  readonly indices: Int32Array;
  readonly size: number;
  readonly epoch: number;
  /** Index of this batch within its epoch. */
  readonly step: number;
  /**
   * Text datasets only: the token ids as int64, shape `shape` = [size, seqLen], the type embedding
   * lookups take. `x` holds the same ids as float32.
   */
  readonly xIds?: BigInt64Array;
  /** With `augment`: what was drawn for each sample (reused views, like `x`). */
  readonly aug?: AugmentParams;
}

/**
 * Where an iterator stands: the epoch and sample position of the next batch, and the RNG state at
 * the start of that epoch, from which that epoch's order and all later ones follow. Plain JSON, for checkpoints.
 */
export interface BatchState {
  readonly version: 1;
  readonly n: number;
  readonly shuffle: boolean;
  readonly epoch: number;
  readonly position: number;
  readonly rng: readonly number[];
  /** Batch size and dropLast the state was saved with; a resume with others would see a different data order. */
  readonly batchSize?: number;
  readonly dropLast?: boolean;
  /** The augmentation the state was saved with (absent: none); resuming needs the same. */
  readonly augment?: AugmentOptions;
  /** The partner sampler batches were drawn with (absent: none); resuming needs the same. */
  readonly partners?: string;
}

/**
 * Yields shuffled mini-batches of a dataset, converting pixels to float32 ([0, 1], then optionally
 * normalised) and labels to int64 in place in preallocated buffers. Iterating (`for...of`) yields
 * the rest of the current epoch; `nextBatch()` runs on across epochs. `state()` and
 * `BatchIterator.restore` resume at exactly the same data order (and augmentation). Text datasets
 * (with `ids`) also get their ids as int64 in `xIds`; image and tabular batches are unchanged.
 */
export class BatchIterator implements Iterable<Batch> {
  readonly batchSize: number;
  /** Samples in a full batch: `batchSize`, twice that with `partners`. */
  readonly capacity: number;
  readonly stepsPerEpoch: number;
  readonly shuffle: boolean;
  private readonly ds: Dataset;
  private readonly size: number;
  private readonly scale: Float64Array;
  private readonly offset: Float64Array;
  private readonly end: number;
  private readonly dropLast: boolean;
  private readonly perm: Int32Array;
  private readonly xBuf: Float32Array;
  private readonly yBuf: BigInt64Array;
  private readonly fullShape: readonly number[];
  private readonly idsBuf?: BigInt64Array;
  /** Low 32-bit words of `idsBuf`: ids are small and non-negative, so the high words stay zero. */
  private readonly idsLo?: Int32Array;
  private readonly augmenter?: Augmenter;
  private readonly partnerOf?: (i: number, r: number) => number;
  private readonly partnerName?: string;
  /** Dataset indices of a partnered batch (anchors, then partners); other batches view `perm` instead. */
  private readonly pairIdx?: Int32Array;
  private tail?: { x: Float32Array; y: BigInt64Array; shape: readonly number[]; xIds?: BigInt64Array };
  private rng: Rng;
  /** Seed of the current epoch's augmentation, drawn from `rng` right after its shuffle. */
  private augKey = 0;
  /** Seed of the current epoch's partner draws (with `partners`), drawn after `augKey`. */
  private pairKey = 0;
  private epochStart: Uint32Array;
  private ep = 0;
  private pos = 0;

  constructor(ds: Dataset, opts: BatchOptions, state?: BatchState) {
    const b = opts.batchSize;
    if (!Number.isInteger(b) || b < 1) throw new KdError('BAD_ARGUMENT', `batchSize must be a positive integer, got ${b}.`);
    this.ds = ds;
    this.batchSize = b;
    this.shuffle = opts.shuffle ?? true;
    this.size = sampleSize(ds);
    this.stepsPerEpoch = opts.dropLast ? Math.floor(ds.n / b) : Math.ceil(ds.n / b);
    if (ds.n === 0)
      throw new KdError(
        'EMPTY_DATASET',
        `dataset '${ds.name}' is empty (0 samples): nothing to batch; check its path, filters and split fractions.`,
      );
    if (this.stepsPerEpoch === 0) {
      // Otherwise nextBatch() would roll over empty epochs forever.
      throw new KdError(
        'BAD_ARGUMENT',
        `'${ds.name}' has ${ds.n} samples: no ${opts.dropLast ? 'full ' : ''}batch of ${b} fits in an epoch.`,
      );
    }
    this.end = opts.dropLast ? this.stepsPerEpoch * b : ds.n;
    this.dropLast = !!opts.dropLast;
    [this.scale, this.offset] = affine(ds, this.size, opts);
    if (opts.partners) {
      this.partnerOf = opts.partners.bind(ds);
      this.partnerName = opts.partners.name;
    }
    const cap = Math.min(b, ds.n) * (opts.partners ? 2 : 1);
    this.capacity = cap;
    if (opts.partners) this.pairIdx = new Int32Array(cap);
    this.xBuf = new Float32Array(cap * this.size);
    this.yBuf = new BigInt64Array(cap);
    this.fullShape = [cap, ...ds.sampleShape];
    this.perm = new Int32Array(ds.n);
    if (ds.ids) {
      if (ds.ids.length !== ds.n * this.size)
        throw new KdError('BAD_ARGUMENT', `'${ds.name}' has ${ds.ids.length} token ids, expected ${ds.n} x ${this.size}.`);
      this.idsBuf = new BigInt64Array(cap * this.size);
      this.idsLo = new Int32Array(this.idsBuf.buffer);
    }
    if (opts.augment) {
      if (ds.kind === 'text' || ds.kind === 'tabular')
        throw new KdError('BAD_ARGUMENT', `augment applies to images, but '${ds.name}' is ${ds.kind} data.`);
      this.augmenter = new Augmenter(opts.augment, ds.sampleShape, cap, ds.x instanceof Uint8Array ? 1 / 255 : 1);
    }
    if (state) {
      checkState(state, ds, this.shuffle);
      if ((state.batchSize !== undefined && state.batchSize !== this.batchSize) || !!state.dropLast !== !!opts.dropLast)
        throw new KdError(
          'BAD_STATE',
          `Batch iterator state was saved with batch size ${state.batchSize}${state.dropLast ? ' (dropLast)' : ''}, ` +
            `resuming with ${this.batchSize}${opts.dropLast ? ' (dropLast)' : ''}.`,
        );
      if ((state.partners ?? 'none') !== (opts.partners?.name ?? 'none'))
        throw new KdError(
          'BAD_STATE',
          `Batch iterator state was saved with partners '${state.partners ?? 'none'}', resuming with '${opts.partners?.name ?? 'none'}'.`,
        );
      if (augmentSignature(state.augment) !== augmentSignature(this.augmenter?.options)) {
        throw new KdError(
          'BAD_STATE',
          `Batch iterator state was saved with augment ${augmentSignature(state.augment)}, ` +
            `resuming with ${augmentSignature(this.augmenter?.options)}.`,
        );
      }
      this.rng = new Rng(Uint32Array.from(state.rng));
      this.epochStart = this.rng.state();
      this.startEpoch(state.epoch);
      this.pos = state.position;
    } else {
      this.rng = new Rng(opts.seed ?? 0);
      this.epochStart = this.rng.state();
      this.startEpoch(0);
    }
  }

  /** Continues from a saved `state()`; `opts` must describe the same data pipeline (its seed is not used). */
  static restore(ds: Dataset, opts: BatchOptions, state: BatchState): BatchIterator {
    return new BatchIterator(ds, opts, state);
  }

  /** The epoch the next batch belongs to. */
  get epoch(): number {
    return this.done() ? this.ep + 1 : this.ep;
  }

  /** A snapshot to resume from; taken after the last batch of an epoch it points at the next epoch's start. */
  state(): BatchState {
    const atEnd = this.done();
    return {
      version: 1,
      n: this.ds.n,
      shuffle: this.shuffle,
      epoch: atEnd ? this.ep + 1 : this.ep,
      position: atEnd ? 0 : this.pos,
      // After an epoch's shuffle the stream stands exactly at the next epoch's start state.
      rng: Array.from(atEnd ? this.rng.state() : this.epochStart),
      batchSize: this.batchSize,
      dropLast: this.dropLast,
      ...(this.augmenter ? { augment: this.augmenter.options } : {}),
      ...(this.partnerName ? { partners: this.partnerName } : {}),
    };
  }

  /** Size of the batch `nextBatch()` will return, without taking it (a short batch ends each epoch unless dropLast). */
  peekSize(): number {
    return Math.min(this.batchSize, this.end - (this.done() ? 0 : this.pos)) * (this.partnerOf ? 2 : 1);
  }

  /** The next batch, starting a new epoch (with a fresh order) when the current one is used up. */
  nextBatch(): Batch {
    if (this.done()) this.startEpoch(this.ep + 1);
    const start = this.pos;
    const anchors = Math.min(this.batchSize, this.end - start);
    const m = this.partnerOf ? 2 * anchors : anchors;
    let x = this.xBuf;
    let y = this.yBuf;
    let shape = this.fullShape;
    let xIds = this.idsBuf;
    if (m < this.fullShape[0]) {
      // The short batch is the same size every epoch, so its views are made once.
      if (!this.tail || this.tail.shape[0] !== m) {
        this.tail = {
          x: this.xBuf.subarray(0, m * this.size),
          y: this.yBuf.subarray(0, m),
          shape: [m, ...this.ds.sampleShape],
          xIds: this.idsBuf?.subarray(0, m * this.size),
        };
      }
      ({ x, y, shape, xIds } = this.tail);
    }
    const S = this.size;
    const src = this.ds.x;
    const labels = this.ds.y;
    const { scale, offset, augmenter: aug, idsLo } = this;
    const ids = this.ds.ids;
    const { partnerOf, pairIdx } = this;
    for (let k = 0; k < m; k++) {
      // Row k ≥ anchors is the partner of anchor k − anchors; its position key (past n) is its own.
      const a = k < anchors ? start + k : start + k - anchors;
      const i = k < anchors ? this.perm[a] : partnerOf!(this.perm[a], sampleKey(this.pairKey, a));
      if (pairIdx) pairIdx[k] = i;
      const si = i * S;
      const di = k * S;
      if (aug) aug.apply(k, sampleKey(this.augKey, k < anchors ? a : this.ds.n + a), src, si, x, di, scale, offset);
      else for (let j = 0; j < S; j++) x[di + j] = src[si + j] * scale[j] + offset[j];
      if (ids && idsLo) for (let j = 0; j < S; j++) idsLo[2 * (di + j) + LOW_WORD] = ids[si + j];
      y[k] = BigInt(labels[i]);
    }
    this.pos = start + anchors;
    return {
      ...(xIds ? { xIds } : {}),
      ...(aug ? { aug: aug.view(m) } : {}),
      x,
      shape,
      y,
      indices: pairIdx ? pairIdx.subarray(0, m) : this.perm.subarray(start, start + m),
      size: m,
      epoch: this.ep,
      step: Math.floor(start / this.batchSize),
    };
  }

  /** Yields the remaining batches of the current epoch (all of the next one if the current is finished). */
  *[Symbol.iterator](): Generator<Batch> {
    if (this.done()) this.startEpoch(this.ep + 1);
    while (!this.done()) yield this.nextBatch();
  }

  private done(): boolean {
    return this.pos >= this.end;
  }

  private startEpoch(e: number): void {
    this.epochStart = this.rng.state();
    for (let i = 0; i < this.perm.length; i++) this.perm[i] = i;
    if (this.shuffle) this.rng.shuffle(this.perm);
    // Drawn only when augmenting, so iterators without augmentation keep their exact order stream.
    if (this.augmenter) this.augKey = this.rng.nextU32();
    if (this.partnerOf) this.pairKey = this.rng.nextU32();
    this.ep = e;
    this.pos = 0;
  }
}

/** A batch iterator over `ds`, starting at epoch 0. */
export function batches(ds: Dataset, opts: BatchOptions): BatchIterator {
  return new BatchIterator(ds, opts);
}

/**
 * Every sample of `ds` in order, as the batcher feeds them (bytes scaled to [0, 1], `mean`/`std` applied), in one
 * new array: what a teacher or a hash of the fed bytes sees.
 */
export function fedSamples(ds: Dataset, opts: Pick<BatchOptions, 'mean' | 'std'> = {}): Float32Array {
  for (const b of batches(ds, { batchSize: Math.max(1, ds.n), shuffle: false, ...opts })) return Float32Array.from(b.x);
  return new Float32Array(0);
}

/** Per-element scale and offset so the inner loop is one multiply-add whatever the normalisation. */
function affine(ds: Dataset, size: number, opts: BatchOptions): [Float64Array, Float64Array] {
  const channels = ds.sampleShape.length > 0 ? ds.sampleShape[0] : 1;
  const perChannel = (v: number | readonly number[] | undefined, dflt: number, what: string): number[] => {
    if (v === undefined) return new Array<number>(channels).fill(dflt);
    if (typeof v === 'number') return new Array<number>(channels).fill(v);
    if (v.length !== channels)
      throw new KdError('BAD_ARGUMENT', `${what} has ${v.length} values but '${ds.name}' has ${channels} channels.`);
    return [...v];
  };
  const mean = perChannel(opts.mean, 0, 'mean');
  const std = perChannel(opts.std, 1, 'std');
  if (std.some((s) => !(s > 0) || !Number.isFinite(s)))
    throw new KdError('BAD_ARGUMENT', `std must be positive and finite, got [${std.join(', ')}].`);
  const pixel = ds.x instanceof Uint8Array ? 1 / 255 : 1;
  const scale = new Float64Array(size);
  const offset = new Float64Array(size);
  const perCh = size / channels;
  for (let j = 0; j < size; j++) {
    const c = Math.floor(j / perCh);
    scale[j] = pixel / std[c];
    offset[j] = -mean[c] / std[c];
  }
  return [scale, offset];
}

function checkState(s: BatchState, ds: Dataset, shuffle: boolean): void {
  const ok =
    s.version === 1 &&
    Number.isInteger(s.epoch) &&
    s.epoch >= 0 &&
    Number.isInteger(s.position) &&
    s.position >= 0 &&
    s.position <= ds.n &&
    Array.isArray(s.rng) &&
    s.rng.length === 4 &&
    s.rng.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff);
  if (!ok) throw new KdError('BAD_STATE', 'Batch iterator state is malformed (expected version 1 with epoch, position and 4 RNG words).');
  if (s.n !== ds.n) throw new KdError('BAD_STATE', `Batch iterator state was saved for ${s.n} samples but '${ds.name}' has ${ds.n}.`);
  if (s.shuffle !== shuffle)
    throw new KdError('BAD_STATE', `Batch iterator state was saved with shuffle=${s.shuffle}, resuming with shuffle=${shuffle}.`);
}
