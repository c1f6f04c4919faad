/**
 * Image classification data in the layout torchvision's ImageFolder uses: one subfolder per class
 * (class index = position of the folder name in sorted order) holding PNG and JPEG files. Pixels are
 * stored as uint8 in CHW layout, like the bundled MNIST loaders. This file decodes and assembles images
 * from bytes; walking a folder of the runtime's storage is `loadImageFolder` in src/data/files.ts.
 */
import { decode as decodeJpeg } from 'jpeg-js';
import { convertIndexedToRgb, decode as decodePng, type DecodedPng } from 'fast-png';
import { KdError } from '../util/errors.js';
import type { Dataset } from './dataset.js';

/** How to read an image set: output size, channels and which file endings count as images. */
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

/** A decoded image: RGBA bytes, row-major. */
export interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Turns an image file's bytes into RGBA; `name` says which image in messages. */
export type ImageDecoder = (bytes: Uint8Array, name: string) => Rgba;

/** The images of a set, wherever they are stored: files by class, and how to read one. */
export interface ImageSource {
  /** The dataset's name (the root folder's). */
  readonly name: string;
  /** Class names, index = class. */
  readonly classNames: readonly string[];
  /** Each sample's path relative to the root, e.g. 'cat/001.png', with its class in `labels`. */
  readonly files: readonly string[];
  readonly labels: readonly number[];
  /** The bytes of one file; asked once per file, in order, so only one is held at a time. */
  read(file: string): Uint8Array;
  /** How messages name a file (default: `file` itself). */
  where?(file: string): string;
  /** The decoder (default `decodeImage`: PNG and JPEG). */
  decode?: ImageDecoder;
}

/** The default image file endings, lower case. */
export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg'];

/** Sorts names by UTF-16 code unit, as the class order is defined (locale-independent). */
export const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Rejects a `channels` or `size` option that cannot be honoured. */
export function checkImageOptions(opts: ImageFolderOptions): void {
  if (opts.channels !== undefined && opts.channels !== 1 && opts.channels !== 3) {
    throw new KdError('BAD_ARGUMENT', `channels must be 1 or 3, got ${String(opts.channels)}.`);
  }
  if (opts.size && !(opts.size.length === 2 && opts.size.every((s) => Number.isInteger(s) && s >= 1))) {
    throw new KdError('BAD_ARGUMENT', `size must be [height, width] in positive integers, got [${opts.size.join(', ')}].`);
  }
}

/**
 * Decodes PNG or JPEG bytes to RGBA, sniffing the content rather than trusting the name: misnamed files
 * are common in scraped sets. `name` says which image in messages. Both decoders are plain JavaScript, so
 * Node and a browser read the same pixels from the same file.
 */
export function decodeImage(bytes: Uint8Array, name: string): Rgba {
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new KdError('DATASET_CORRUPT', `Image ${name} cannot be decoded: it is neither PNG nor JPEG.`);
  try {
    if (isPng) return pngToRgba(decodePng(bytes));
    return decodeJpeg(bytes, { useTArray: true, formatAsRGBA: true });
  } catch (e) {
    // The decoders' own words ("unexpected end of file") rarely say the file is cut short.
    throw new KdError(
      'DATASET_CORRUPT',
      `Image ${name} cannot be decoded as ${isPng ? 'PNG' : 'JPEG'} (truncated or corrupt file?): ${(e as Error).message}. ` +
        'Remove or replace it.',
    );
  }
}

/** Any PNG colour type and bit depth as 8-bit RGBA (16-bit samples keep their high byte, as PIL does). */
function pngToRgba(png: DecodedPng): Rgba {
  const { width, height } = png;
  const n = width * height;
  let src: ArrayLike<number> = png.data;
  let ch = png.channels;
  let max = 255;
  if (png.palette) {
    src = convertIndexedToRgb(png);
    ch = src.length / n;
  } else if (png.depth === 16) {
    max = 65535;
  } else if (png.depth < 8) {
    // Sub-byte gray samples arrive packed, each row padded to a whole byte.
    const d = png.depth;
    const rowBytes = Math.ceil((width * d) / 8);
    const unpacked = new Uint8Array(n);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const bit = x * d;
        unpacked[y * width + x] = (png.data[y * rowBytes + (bit >> 3)] >> (8 - d - (bit & 7))) & ((1 << d) - 1);
      }
    src = unpacked;
    max = (1 << d) - 1;
  }
  const out = new Uint8Array(4 * n);
  const scale = (v: number) => (max === 255 ? v : max === 65535 ? v >> 8 : Math.round((v * 255) / max));
  for (let p = 0; p < n; p++) {
    const o = 4 * p,
      i = ch * p;
    const gray = ch <= 2;
    out[o] = scale(src[i]);
    out[o + 1] = scale(src[gray ? i : i + 1]);
    out[o + 2] = scale(src[gray ? i : i + 2]);
    out[o + 3] = ch === 2 || ch === 4 ? scale(src[i + ch - 1]) : 255;
  }
  return { width, height, data: out };
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

/** Decodes every image of `src` into one dataset; see `ImageFolderOptions` (its `extensions` are the source's business). */
export function imageDataset(src: ImageSource, opts: ImageFolderOptions = {}): ImageFolderDataset {
  checkImageOptions(opts);
  const files = src.files;
  if (src.labels.length !== files.length)
    throw new KdError('BAD_ARGUMENT', `image set ${src.name}: ${files.length} files but ${src.labels.length} labels.`);
  if (files.length === 0) throw new KdError('DATASET_INVALID', `image set ${src.name} has no images.`);
  const where = (f: string) => (src.where ? src.where(f) : f);
  const decode = src.decode ?? decodeImage;
  const n = files.length;
  let H = opts.size?.[0] ?? 0;
  let W = opts.size?.[1] ?? 0;
  // Without a channel count, samples are written as RGB and reduced at the end if all were gray.
  const C = opts.channels ?? 3;
  let x = new Uint8Array(0);
  let allGray = true;
  let firstSize = '';
  for (let i = 0; i < n; i++) {
    const file = where(files[i]);
    const img = decode(src.read(files[i]), file);
    if (i === 0) {
      firstSize = `${img.width}x${img.height}`;
      if (!opts.size) [H, W] = [img.height, img.width];
      x = new Uint8Array(n * C * H * W);
    } else if (!opts.size && (img.height !== H || img.width !== W)) {
      throw new KdError(
        'DATASET_INVALID',
        `Image ${file} is ${img.width}x${img.height} but ${where(files[0])} is ${firstSize}; ` +
          'pass size: [height, width] to resize all images.',
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
    name: src.name,
    kind: 'image',
    x,
    y: Int32Array.from(src.labels),
    n,
    sampleShape: [channels, H, W],
    numClasses: src.classNames.length,
    classNames: src.classNames,
    files: [...files],
  };
}
