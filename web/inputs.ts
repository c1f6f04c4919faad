/**
 * Turning what the user gives (a dropped folder, a picked folder, a dropped file) into the files the worker stores
 * under /inputs. Only File handles are collected here; the worker reads their bytes, so a large folder costs the page's
 * main thread a directory walk and nothing more.
 */
import type { InputFile } from './protocol.js';

/** A file with its path inside what was dropped or picked ('photos/cat/1.png'). */
export interface PickedFile {
  readonly path: string;
  readonly file: File;
}

/** A problem with what was given, said in the page (not a thrown library error: nothing reached the worker). */
export class InputProblem extends Error {}

const IMAGE = /\.(png|jpe?g)$/i;

function readAll(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  // readEntries returns at most 100 entries per call in Chromium; it is called until it returns none.
  return new Promise((resolve, reject) => {
    const out: FileSystemEntry[] = [];
    const next = () =>
      reader.readEntries((batch) => {
        if (!batch.length) return resolve(out);
        out.push(...batch);
        next();
      }, reject);
    next();
  });
}

async function walk(entry: FileSystemEntry, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ path: entry.fullPath.replace(/^\//, ''), file });
  } else if (entry.isDirectory) {
    for (const child of await readAll((entry as FileSystemDirectoryEntry).createReader())) await walk(child, out);
  }
}

/** What a drop holds: every file, with folders walked (DataTransferItem.webkitGetAsEntry). */
export async function droppedFiles(dt: DataTransfer): Promise<{ files: PickedFile[]; folder: boolean }> {
  // Entries must be taken synchronously, before the first await: the DataTransfer is emptied once the drop handler yields.
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry?.() ?? null).filter((e): e is FileSystemEntry => e !== null);
  if (!entries.length) return { files: [...dt.files].map((f) => ({ path: f.name, file: f })), folder: false };
  const files: PickedFile[] = [];
  for (const e of entries) await walk(e, files);
  return { files, folder: entries.some((e) => e.isDirectory) };
}

/** The files of an `<input type=file webkitdirectory>`, with their paths inside the chosen folder. */
export function pickedFolder(list: FileList): PickedFile[] {
  return [...list].map((f) => ({ path: f.webkitRelativePath || f.name, file: f }));
}

/**
 * An image folder's files as /inputs/images/<class>/<file>: one sub-folder per class. The dropped folder itself
 * (all paths under one top folder) is not a class; class folders dropped together are. Other files are skipped.
 */
export function imageFolderInputs(files: readonly PickedFile[]): { inputs: InputFile[]; skipped: string[] } {
  const visible = files.filter((f) => !f.path.split('/').some((p) => p.startsWith('.')));
  const firsts = new Set(visible.map((f) => f.path.split('/')[0]));
  const strip = firsts.size === 1 && visible.every((f) => f.path.split('/').length >= 3);
  const inputs: InputFile[] = [];
  const skipped: string[] = [];
  for (const f of visible) {
    const parts = f.path.split('/').slice(strip ? 1 : 0);
    if (!IMAGE.test(f.path)) {
      skipped.push(f.path);
      continue;
    }
    if (parts.length < 2)
      throw new InputProblem(
        `${f.path} is not inside a class folder: the folder needs one sub-folder per class (e.g. cats/1.png, dogs/2.png), ` +
          'with the images directly inside them.',
      );
    if (parts.length > 2)
      throw new InputProblem(
        `${f.path} is nested ${parts.length - 1} folders deep: use one sub-folder per class with the images directly inside ` +
          `(here the classes would be '${parts[0]}'…); drop the folder that holds the class folders.`,
      );
    inputs.push({ path: `images/${parts[0]}/${parts[1]}`, file: f.file });
  }
  if (!inputs.length)
    throw new InputProblem(
      files.length
        ? `no PNG or JPEG images found among the ${files.length} files given; an image folder holds one sub-folder of images per class.`
        : 'the folder is empty; an image folder holds one sub-folder of PNG or JPEG images per class.',
    );
  const classes = new Set(inputs.map((i) => i.path.split('/')[1]));
  if (classes.size < 2)
    throw new InputProblem(
      `found only one class folder ('${[...classes][0]}'); a classifier needs at least two, one sub-folder per class.`,
    );
  return { inputs, skipped };
}
