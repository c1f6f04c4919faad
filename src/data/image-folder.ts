/**
 * Image classification data from a folder with one subfolder per class (class index = position of
 * the folder name in sorted order), holding PNG and JPEG files, in the layout torchvision's
 * ImageFolder uses. Pixels are stored as uint8 in CHW layout, like the bundled MNIST loaders.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { decode as decodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { KdError } from '../util/errors.js';
import type { Dataset } from './dataset.js';

export interface ImageFolderOptions {
  /** Output [height, width]; images of another size are resized bilinearly (default: the first image's size, all must match). */
  size?: readonly [number, number];
  /** 1 (luma) or 3 (RGB); default 1 when every image is grayscale, else 3. Alpha is dropped. */
  channels?: 1 | 3;
  /** File name endings that count as images, case-insensitive (default .png, .jpg, .jpeg). */
  extensions?: readonly string[];
}

/** An image folder dataset: uint8 [C, H, W] samples, class names from the folder names, and the files read. */
export interface ImageFolderDataset extends Dataset {
  readonly kind: 'image';
  readonly x: Uint8Array;
  readonly classNames: readonly string[];
  /** Path of each sample relative to the root folder, e.g. 'cat/001.png'. */
  readonly files: readonly string[];
}

interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function decodeImage(file: string): Rgba {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new KdError('DATASET_MISSING', `Image ${file} cannot be read (${(e as Error).message}).`);
  }
  // Sniff the content rather than trust the extension: misnamed files are common in scraped sets.
  const isPng = buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47;
  const isJpeg = buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff;
  if (!isPng && !isJpeg) throw new KdError('DATASET_CORRUPT', `Image ${file} cannot be decoded: it is neither PNG nor JPEG.`);
  try {
    if (isPng) {
      const png = PNG.sync.read(buf);
      return { width: png.width, height: png.height, data: png.data };
    }
    return decodeJpeg(buf, { useTArray: true, formatAsRGBA: true });
  } catch (e) {
    // The decoders' own words ("read requests waiting on finished stream") rarely say the file is cut short.
    throw new KdError(
      'DATASET_CORRUPT',
      `Image ${file} cannot be decoded as ${isPng ? 'PNG' : 'JPEG'} (truncated or corrupt file?): ${(e as Error).message}. Remove or replace it.`,
    );
  }
}

function isGray(img: Rgba): boolean {
  const d = img.data;
  for (let p = 0; p < d.length; p += 4) if (d[p] !== d[p + 1] || d[p] !== d[p + 2]) return false;
  return true;
}

/**
 * Writes `img` as `channels` planes of H x W into `out` at `offset`: RGB or ITU-R 601 luma (as PIL
 * converts), resized bilinearly with pixel centres aligned (align_corners = false, no antialiasing).
 */
function writeSample(img: Rgba, channels: number, H: number, W: number, out: Uint8Array, offset: number): void {
  const { width: w, height: h, data: d } = img;
  const plane = new Float32Array(w * h);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < w * h; p++) {
      plane[p] = channels === 1 ? (d[4 * p] * 299 + d[4 * p + 1] * 587 + d[4 * p + 2] * 114) / 1000 : d[4 * p + c];
    }
    const base = offset + c * H * W;
    for (let y = 0; y < H; y++) {
      const sy = Math.min(Math.max((y + 0.5) * (h / H) - 0.5, 0), h - 1);
      const y0 = Math.floor(sy);
      const y1 = Math.min(y0 + 1, h - 1);
      const fy = sy - y0;
      for (let x = 0; x < W; x++) {
        const sx = Math.min(Math.max((x + 0.5) * (w / W) - 0.5, 0), w - 1);
        const x0 = Math.floor(sx);
        const x1 = Math.min(x0 + 1, w - 1);
        const fx = sx - x0;
        const top = plane[y0 * w + x0] * (1 - fx) + plane[y0 * w + x1] * fx;
        const bottom = plane[y1 * w + x0] * (1 - fx) + plane[y1 * w + x1] * fx;
        out[base + y * W + x] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
}

/** Loads every image under `dir/<class>/`; see `ImageFolderOptions`. */
export function loadImageFolder(dir: string, opts: ImageFolderOptions = {}): ImageFolderDataset {
  if (!isDir(dir)) throw new KdError('DATASET_MISSING', `Image folder ${dir} does not exist or is not a directory.`);
  if (opts.channels !== undefined && opts.channels !== 1 && opts.channels !== 3) {
    throw new KdError('BAD_ARGUMENT', `channels must be 1 or 3, got ${String(opts.channels)}.`);
  }
  if (opts.size && !(opts.size.length === 2 && opts.size.every((s) => Number.isInteger(s) && s >= 1))) {
    throw new KdError('BAD_ARGUMENT', `size must be [height, width] in positive integers, got [${opts.size.join(', ')}].`);
  }
  const exts = (opts.extensions ?? ['.png', '.jpg', '.jpeg']).map((e) => e.toLowerCase());
  const classNames = readdirSync(dir)
    .filter((c) => !c.startsWith('.') && isDir(path.join(dir, c)))
    .sort(byCodeUnit);
  if (classNames.length === 0)
    throw new KdError(
      'DATASET_INVALID',
      `Image folder ${dir} has no class subfolders; expected one folder per class, e.g. ${path.join(dir, 'cat', '001.png')}.`,
    );
  const files: string[] = [];
  const labels: number[] = [];
  classNames.forEach((c, k) => {
    const names = readdirSync(path.join(dir, c))
      .filter((f) => !f.startsWith('.') && exts.some((e) => f.toLowerCase().endsWith(e)) && !isDir(path.join(dir, c, f)))
      .sort(byCodeUnit);
    if (names.length === 0) throw new KdError('DATASET_INVALID', `Class folder ${path.join(dir, c)} has no images (${exts.join(', ')}).`);
    for (const f of names) {
      files.push(`${c}/${f}`);
      labels.push(k);
    }
  });
  const n = files.length;
  let H = opts.size?.[0] ?? 0;
  let W = opts.size?.[1] ?? 0;
  // Without a channel count, samples are written as RGB and reduced at the end if all were gray.
  const C = opts.channels ?? 3;
  let x = new Uint8Array(0);
  let allGray = true;
  let firstSize = '';
  for (let i = 0; i < n; i++) {
    const file = path.join(dir, files[i]);
    const img = decodeImage(file);
    if (i === 0) {
      firstSize = `${img.width}x${img.height}`;
      if (!opts.size) [H, W] = [img.height, img.width];
      x = new Uint8Array(n * C * H * W);
    } else if (!opts.size && (img.height !== H || img.width !== W)) {
      throw new KdError(
        'DATASET_INVALID',
        `Image ${file} is ${img.width}x${img.height} but ${path.join(dir, files[0])} is ${firstSize}; pass size: [height, width] to resize all images.`,
      );
    }
    if (opts.channels === undefined && allGray) allGray = isGray(img);
    writeSample(img, C, H, W, x, i * C * H * W);
  }
  let channels = C;
  if (opts.channels === undefined && allGray) {
    const hw = H * W;
    const gray = new Uint8Array(n * hw);
    // R = G = B in every source pixel, so each resized plane is the same and the first is the luma.
    for (let i = 0; i < n; i++) gray.set(x.subarray(i * 3 * hw, i * 3 * hw + hw), i * hw);
    x = gray;
    channels = 1;
  }
  return {
    name: path.basename(path.resolve(dir)),
    kind: 'image',
    x,
    y: Int32Array.from(labels),
    n,
    sampleShape: [channels, H, W],
    numClasses: classNames.length,
    classNames,
    files,
  };
}
