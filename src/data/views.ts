/**
 * Paired views for cross-modal and cross-domain distillation (Gupta et al. 2016, supervision transfer): the teacher
 * sees one view of each sample and the student another, e.g. the clean image for the teacher and a pixelated, noisy
 * or occluded one for the student. A view is a fixed, seeded function of the sample (the same sample always looks
 * the same in it, in every epoch and every stage), so it behaves as a second modality of the data rather than as
 * augmentation. Views keep the sample shape, so the same models take either.
 */
import { z } from 'zod';
import { KdError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { Dataset } from './dataset.js';

/** How a view changes each image, applied in this order. Empty: the sample as it is. */
export const viewSchema = z.strictObject({
  /** Average-pool the image to `side × side`, then blow it back up to its size (each block one flat colour). */
  downsample: z.int().min(1).optional(),
  /** Gaussian noise of this standard deviation, in units of the 0..1 pixel range, clipped back to the range. */
  noise: z.number().gt(0).optional(),
  /** A black square of this side at a seeded random place in each image. */
  occlude: z.int().min(1).optional(),
});
/** One view of the data (see {@link viewSchema}). */
export type ViewSpec = z.infer<typeof viewSchema>;

/** `dataset.views`: what the teacher and the student each see (absent: the data as it is). */
export const viewsSchema = z.strictObject({ teacher: viewSchema.optional(), student: viewSchema.optional() });
/** The views of a run. */
export type Views = z.infer<typeof viewsSchema>;

/** Whether a view changes anything. */
export const isIdentity = (v: ViewSpec | undefined): boolean =>
  !v || (v.downsample === undefined && v.noise === undefined && v.occlude === undefined);

/**
 * `ds` as seen through view `v`: a new dataset of the same samples, labels and order. `seed` and each sample's
 * position in the full collection (`sourceIndex`) seed its noise and occlusion, so every split sees a sample the same way.
 */
export function applyView(ds: Dataset, v: ViewSpec | undefined, seed: number, label: string): Dataset {
  if (isIdentity(v)) return ds;
  const view = v!;
  if (!(ds.x instanceof Uint8Array) || ds.sampleShape.length !== 3)
    throw new KdError('BAD_CONFIG', `dataset.views.${label}: views transform images ([C, H, W] pixels); ${ds.name} is not an image set`);
  const [C, H, W] = ds.sampleShape;
  if (view.downsample !== undefined && (view.downsample > H || view.downsample > W))
    throw new KdError('BAD_CONFIG', `dataset.views.${label}.downsample: ${view.downsample} is larger than the ${H}×${W} images`);
  if (view.occlude !== undefined && (view.occlude > H || view.occlude > W))
    throw new KdError('BAD_CONFIG', `dataset.views.${label}.occlude: a ${view.occlude}-pixel square does not fit ${H}×${W} images`);
  const per = C * H * W;
  const x = new Uint8Array(ds.n * per);
  const plane = new Float32Array(H * W);
  for (let i = 0; i < ds.n; i++) {
    const rng = new Rng(`${seed}:${label}:${ds.sourceIndex?.[i] ?? i}`);
    const oy = view.occlude !== undefined ? rng.int(H - view.occlude + 1) : 0;
    const ox = view.occlude !== undefined ? rng.int(W - view.occlude + 1) : 0;
    for (let c = 0; c < C; c++) {
      const base = i * per + c * H * W;
      for (let p = 0; p < H * W; p++) plane[p] = ds.x[base + p];
      if (view.downsample !== undefined) pixelate(plane, H, W, view.downsample);
      if (view.noise !== undefined) for (let p = 0; p < H * W; p++) plane[p] += rng.normal() * view.noise * 255;
      if (view.occlude !== undefined) for (let y = oy; y < oy + view.occlude; y++) plane.fill(0, y * W + ox, y * W + ox + view.occlude);
      for (let p = 0; p < H * W; p++) x[base + p] = Math.min(255, Math.max(0, Math.round(plane[p])));
    }
  }
  return { ...ds, name: `${ds.name} (${label} view)`, x };
}

/** Replaces each of `side × side` blocks (of as equal sizes as H and W allow) by its mean. */
function pixelate(plane: Float32Array, H: number, W: number, side: number): void {
  const edges = (n: number) => Array.from({ length: side + 1 }, (_, k) => Math.round((k * n) / side));
  const ys = edges(H),
    xs = edges(W);
  for (let by = 0; by < side; by++)
    for (let bx = 0; bx < side; bx++) {
      let sum = 0;
      for (let y = ys[by]; y < ys[by + 1]; y++) for (let x = xs[bx]; x < xs[bx + 1]; x++) sum += plane[y * W + x];
      const mean = sum / ((ys[by + 1] - ys[by]) * (xs[bx + 1] - xs[bx]));
      for (let y = ys[by]; y < ys[by + 1]; y++) plane.fill(mean, y * W + xs[bx], y * W + xs[bx + 1]);
    }
}
