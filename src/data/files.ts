/**
 * Datasets read from the registered runtime's storage: a CSV file, a JSONL file, an image folder. On Node that
 * is the disk; in a browser it is the in-memory file system the page writes the user's dropped files into, so
 * one loader serves both and a config means the same thing in either.
 */
import { runtime } from '../runtime/runtime.js';
import { KdError } from '../util/errors.js';
import { basename, join, resolve } from '../util/path.js';
import { parseCsv, type CsvDataset, type CsvOptions } from './csv.js';
import {
  byCodeUnit,
  checkImageOptions,
  IMAGE_EXTENSIONS,
  imageDataset,
  type ImageFolderDataset,
  type ImageFolderOptions,
} from './image-folder.js';
import { parseJsonl, type JsonlOptions, type TextDataset } from './jsonl.js';

/** A file's bytes, or a DATASET_MISSING error naming the file and what it was meant to be. */
function readData(file: string, what: string): Uint8Array {
  try {
    return runtime().storage.read(file, '');
  } catch (e) {
    throw new KdError('DATASET_MISSING', `${what} ${file} cannot be read (${(e as Error).message}).`);
  }
}

/** Loads a CSV file of numeric features and a class column; see `CsvOptions`. */
export function loadCsv(file: string, opts: CsvOptions = {}): CsvDataset {
  return parseCsv(new TextDecoder().decode(readData(file, 'CSV file')), file, opts);
}

/** Loads a JSONL text classification file; see `JsonlOptions`. */
export function loadJsonl(file: string, opts: JsonlOptions = {}): TextDataset {
  const seqLen = opts.seqLen ?? 64;
  // Checked before reading: a bad option should not wait for a large file.
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new KdError('BAD_ARGUMENT', `seqLen must be a positive integer, got ${seqLen}.`);
  return parseJsonl(new TextDecoder().decode(readData(file, 'JSONL file')), file, opts);
}

/** Loads every image under `dir/<class>/` (torchvision's ImageFolder layout); see `ImageFolderOptions`. */
export function loadImageFolder(dir: string, opts: ImageFolderOptions = {}): ImageFolderDataset {
  const { storage } = runtime();
  const isDir = (p: string) => storage.kind(p) === 'directory';
  if (!isDir(dir)) throw new KdError('DATASET_MISSING', `Image folder ${dir} does not exist or is not a directory.`);
  checkImageOptions(opts);
  const exts = (opts.extensions ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase());
  const classNames = storage
    .list(dir)
    .filter((c) => !c.startsWith('.') && isDir(join(dir, c)))
    .sort(byCodeUnit);
  if (classNames.length === 0)
    throw new KdError(
      'DATASET_INVALID',
      `Image folder ${dir} has no class subfolders; expected one folder per class, e.g. ${join(dir, 'cat', '001.png')}.`,
    );
  const files: string[] = [];
  const labels: number[] = [];
  classNames.forEach((c, k) => {
    const names = storage
      .list(join(dir, c))
      .filter((f) => !f.startsWith('.') && exts.some((e) => f.toLowerCase().endsWith(e)) && !isDir(join(dir, c, f)))
      .sort(byCodeUnit);
    if (names.length === 0) throw new KdError('DATASET_INVALID', `Class folder ${join(dir, c)} has no images (${exts.join(', ')}).`);
    for (const f of names) {
      files.push(`${c}/${f}`);
      labels.push(k);
    }
  });
  const where = (f: string) => join(dir, f);
  return imageDataset({ name: basename(resolve(dir)), classNames, files, labels, read: (f) => readData(where(f), 'Image'), where }, opts);
}
