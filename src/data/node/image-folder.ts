import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { KdError } from '../../util/errors.js';
import {
  byCodeUnit,
  checkImageOptions,
  IMAGE_EXTENSIONS,
  imageDataset,
  type ImageFolderDataset,
  type ImageFolderOptions,
} from '../image-folder.js';

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readImage(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new KdError('DATASET_MISSING', `Image ${file} cannot be read (${(e as Error).message}).`);
  }
}

/** Loads every image under `dir/<class>/` (torchvision's ImageFolder layout); see `ImageFolderOptions`. */
export function loadImageFolder(dir: string, opts: ImageFolderOptions = {}): ImageFolderDataset {
  if (!isDir(dir)) throw new KdError('DATASET_MISSING', `Image folder ${dir} does not exist or is not a directory.`);
  checkImageOptions(opts);
  const exts = (opts.extensions ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase());
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
  const where = (f: string) => path.join(dir, f);
  return imageDataset({ name: path.basename(path.resolve(dir)), classNames, files, labels, read: (f) => readImage(where(f)), where }, opts);
}
