/**
 * Seeded image augmentation for [C, H, W] datasets, applied by the batch iterator while it converts
 * pixels to float32. Each sample's draws follow from one 32-bit key (derived from the iterator's RNG
 * stream and the sample's position in the epoch), so augmented batches repeat for a seed, resume
 * exactly from a saved iterator state, and can be named (e.g. in a teacher cache key) by that key.
 */
import { z } from 'zod';
import { KdError } from '../util/errors.js';

/**
 * Which augmentations to apply, in this order: random crop of the image zero-padded by `padding`
 * on every side (as in CIFAR training), horizontal flip with p = 0.5, a random shift by up to
 * ±`pixels` in each direction with zero fill, then Gaussian noise of standard deviation `std` in
 * [0, 1] pixel units (raw units for float32 data), added before mean/std normalisation. Parsing fills
 * in every option, each off (zero, false) unless given; `activeAugment` keeps only those that are on.
 */
export const augmentSchema = z.strictObject({
  crop: z.strictObject({ padding: z.int().min(0) }).default({ padding: 0 }),
  flip: z.boolean().default(false),
  jitter: z.strictObject({ pixels: z.int().min(0) }).default({ pixels: 0 }),
  noise: z.strictObject({ std: z.number().min(0) }).default({ std: 0 }),
});
/** Augmentations as given (see `augmentSchema`); what is left out is off. */
export type AugmentOptions = z.input<typeof augmentSchema>;

/** The augmentations of `o` that are on (zero padding, pixels or std is off); undefined when none is, so nothing is drawn for them. */
export function activeAugment(o: AugmentOptions): AugmentOptions | undefined {
  const on: AugmentOptions = {
    ...(o.crop && o.crop.padding > 0 ? { crop: { padding: o.crop.padding } } : {}),
    ...(o.flip ? { flip: true } : {}),
    ...(o.jitter && o.jitter.pixels > 0 ? { jitter: { pixels: o.jitter.pixels } } : {}),
    ...(o.noise && o.noise.std > 0 ? { noise: { std: o.noise.std } } : {}),
  };
  return Object.keys(on).length ? on : undefined;
}

/**
 * What was drawn for each sample of a batch (views the iterator reuses, valid until the next batch).
 * `key` alone determines the rest, including the noise, given the same `AugmentOptions`.
 */
export interface AugmentParams {
  readonly key: Uint32Array;
  /** Top-left corner of the crop window in the padded image, each in [0, 2·padding]. */
  readonly cropY: Int32Array;
  readonly cropX: Int32Array;
  /** 1 where the sample was mirrored left-right. */
  readonly flip: Uint8Array;
  /** Jitter shift in pixels (positive moves the content down / right). */
  readonly shiftY: Int32Array;
  readonly shiftX: Int32Array;
}

const GOLDEN = 0x9e3779b9;

/** A bijective 32-bit mixer (lowbias32), the core of the counter-based draws below. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The key of the sample at `position` in an epoch whose augmentation stream is `epochKey`. */
export function sampleKey(epochKey: number, position: number): number {
  return mix32((epochKey ^ mix32((position + GOLDEN) >>> 0)) >>> 0);
}

/** Checks the options and returns a canonical copy (fixed key order, defaults dropped), so states can compare them as JSON. */
export function normaliseAugment(o: AugmentOptions): AugmentOptions {
  const bad = (what: string) => new KdError('BAD_ARGUMENT', `augment: ${what}.`);
  if (typeof o !== 'object' || o === null) throw bad('expected an object');
  for (const k of Object.keys(o))
    if (!['crop', 'flip', 'jitter', 'noise'].includes(k)) throw bad(`unknown option '${k}' (use crop, flip, jitter, noise)`);
  const count = (v: unknown, what: string) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(`${what} must be a non-negative integer, got ${String(v)}`);
    return v;
  };
  const out: AugmentOptions = {};
  if (o.crop !== undefined) out.crop = { padding: count(o.crop?.padding, 'crop.padding') };
  if (o.flip !== undefined) {
    if (typeof o.flip !== 'boolean') throw bad(`flip must be true or false, got ${String(o.flip)}`);
    if (o.flip) out.flip = true;
  }
  if (o.jitter !== undefined) out.jitter = { pixels: count(o.jitter?.pixels, 'jitter.pixels') };
  if (o.noise !== undefined) {
    const s = o.noise?.std;
    if (typeof s !== 'number' || !(s >= 0) || !Number.isFinite(s)) throw bad(`noise.std must be a non-negative number, got ${String(s)}`);
    out.noise = { std: s };
  }
  return out;
}

/**
 * Draws and applies augmentation for up to `capacity` samples per batch. All buffers are allocated
 * here, so augmenting a batch allocates nothing.
 */
export class Augmenter {
  readonly options: AugmentOptions;
  private readonly c: number;
  private readonly h: number;
  private readonly w: number;
  private readonly pad: number;
  private readonly jit: number;
  /** Noise standard deviation in raw data units. */
  private readonly noiseStd: number;
  private readonly params: AugmentParams;
  private readonly views = new Map<number, AugmentParams>();
  private readonly rows: Int32Array;
  private readonly cols: Int32Array;
  private ctr = 0;

  /** `pixelScale` is what one raw unit is worth in [0, 1] pixel units (1/255 for uint8). */
  constructor(opts: AugmentOptions, sampleShape: readonly number[], capacity: number, pixelScale: number) {
    this.options = normaliseAugment(opts);
    if (sampleShape.length !== 3) {
      throw new KdError('BAD_ARGUMENT', `augment needs image samples shaped [C, H, W], got [${sampleShape.join(', ')}].`);
    }
    [this.c, this.h, this.w] = sampleShape;
    this.pad = this.options.crop?.padding ?? 0;
    this.jit = this.options.jitter?.pixels ?? 0;
    this.noiseStd = (this.options.noise?.std ?? 0) / pixelScale;
    this.params = {
      key: new Uint32Array(capacity),
      cropY: new Int32Array(capacity),
      cropX: new Int32Array(capacity),
      flip: new Uint8Array(capacity),
      shiftY: new Int32Array(capacity),
      shiftX: new Int32Array(capacity),
    };
    this.rows = new Int32Array(this.h);
    this.cols = new Int32Array(this.w);
  }

  /** The parameters of the first `m` samples of the current batch (views made once per size). */
  view(m: number): AugmentParams {
    let v = this.views.get(m);
    if (!v) {
      const p = this.params;
      v = {
        key: p.key.subarray(0, m),
        cropY: p.cropY.subarray(0, m),
        cropX: p.cropX.subarray(0, m),
        flip: p.flip.subarray(0, m),
        shiftY: p.shiftY.subarray(0, m),
        shiftX: p.shiftX.subarray(0, m),
      };
      this.views.set(m, v);
    }
    return v;
  }

  /**
   * Augments one sample: reads raw values at `src[si..]`, draws its parameters from `key` into slot
   * `k`, and writes `(value + noise) * scale[j] + offset[j]` to `dst[di..]`.
   */
  apply(
    k: number,
    key: number,
    src: Uint8Array | Float32Array,
    si: number,
    dst: Float32Array,
    di: number,
    scale: Float64Array,
    offset: Float64Array,
  ): void {
    const { c: C, h: H, w: W, pad, jit, rows, cols, params: p } = this;
    this.ctr = key;
    // Every draw is made even when its augmentation is off, so a sample's noise does not depend on the other options.
    const cy = this.int(2 * pad + 1);
    const cx = this.int(2 * pad + 1);
    const coin = this.nextU32() >>> 31;
    const flip = this.options.flip ? coin : 0;
    const sy = this.int(2 * jit + 1) - jit;
    const sx = this.int(2 * jit + 1) - jit;
    p.key[k] = key;
    p.cropY[k] = cy;
    p.cropX[k] = cx;
    p.flip[k] = flip;
    p.shiftY[k] = sy;
    p.shiftX[k] = sx;
    // Output pixel -> source pixel (or -1 for zero fill), composing jitter, then flip, then crop backwards.
    for (let y = 0; y < H; y++) {
      const y1 = y - sy;
      const y2 = y1 + cy - pad;
      rows[y] = y1 >= 0 && y1 < H && y2 >= 0 && y2 < H ? y2 : -1;
    }
    for (let x = 0; x < W; x++) {
      const x1 = x - sx;
      const x2 = (flip ? W - 1 - x1 : x1) + cx - pad;
      cols[x] = x1 >= 0 && x1 < W && x2 >= 0 && x2 < W ? x2 : -1;
    }
    const std = this.noiseStd;
    let spare = 0;
    let hasSpare = false;
    for (let ch = 0; ch < C; ch++) {
      const sc = si + ch * H * W;
      for (let y = 0; y < H; y++) {
        const r = rows[y];
        const o = ch * H * W + y * W;
        for (let x = 0; x < W; x++) {
          const s = cols[x];
          let v = r < 0 || s < 0 ? 0 : src[sc + r * W + s];
          if (std > 0) {
            // Box–Muller yields two normals per pair of draws; the second is kept for the next pixel.
            if (hasSpare) {
              v += std * spare;
              hasSpare = false;
            } else {
              const u = (this.nextU32() + 0.5) / 4294967296;
              const t = 2 * Math.PI * (this.nextU32() / 4294967296);
              const rad = Math.sqrt(-2 * Math.log(u));
              v += std * rad * Math.cos(t);
              spare = rad * Math.sin(t);
              hasSpare = true;
            }
          }
          dst[di + o + x] = v * scale[o + x] + offset[o + x];
        }
      }
    }
  }

  /** splitmix-style counter generator: restartable from a key without allocating. */
  private nextU32(): number {
    this.ctr = (this.ctr + GOLDEN) >>> 0;
    return mix32(this.ctr);
  }

  private int(n: number): number {
    return Math.floor((this.nextU32() / 4294967296) * n);
  }
}

/** Canonical text of augmentation options, for comparing a saved iterator state with the current setup. */
export function augmentSignature(o: AugmentOptions | undefined): string {
  return o === undefined ? 'none' : JSON.stringify(normaliseAugment(o));
}
