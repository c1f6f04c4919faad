// The user's side of the browser tests, made in Node with kdistill's own API: a small image folder (MNIST digits as
// PNG files, one sub-folder per class, as a person would drop it), a teacher trained on it and exported to ONNX, and
// the Node evaluation of a student the page produced, on the split the page used.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { configRegistry } from '../../../src/cli/run.js';
import { parseConfig, type ResolvedConfig } from '../../../src/config/node/index.js';
import { loadDataset, loadImageFolder } from '../../../src/data/node/index.js';
import { loadData } from '../../../src/frontends/config-data.js';
import { Model } from '../../../src/nn/model.js';
import { zooModel } from '../../../src/nn/zoo/index.js';
import { exportOnnx } from '../../../src/runtime/inference.js';
import { evaluateClassifier, fitClassifier } from '../../../src/train/classifier.js';

/** One grayscale image as a PNG file's bytes. */
export function grayPng(pixels: Uint8Array, width: number, height: number): Uint8Array {
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  png.data = Buffer.from(pixels);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

/** The files of an image folder, by path relative to it ('3/017.png'). */
export type ImageFiles = Map<string, Uint8Array>;

/**
 * `perClass` MNIST test digits of each of `digits` as 28×28 PNG files named `<digit>/<nnn>.png`. Taken from the test
 * split in order, so the folder is the same on every machine; small on purpose (a browser test trains on it twice).
 */
export function mnistImageFiles(digits: readonly number[], perClass: number): ImageFiles {
  const ds = loadDataset('mnist', 'test');
  const files: ImageFiles = new Map();
  const taken = new Map<number, number>(digits.map((d) => [d, 0]));
  for (let i = 0; i < ds.n && [...taken.values()].some((c) => c < perClass); i++) {
    const d = ds.y[i];
    const k = taken.get(d);
    if (k === undefined || k >= perClass) continue;
    taken.set(d, k + 1);
    const pixels = (ds.x as Uint8Array).subarray(i * 784, (i + 1) * 784);
    files.set(`${d}/${String(k).padStart(3, '0')}.png`, grayPng(pixels, 28, 28));
  }
  return files;
}

/** Writes an image folder's files under `dir`. */
export function writeFiles(dir: string, files: ImageFiles): void {
  for (const [rel, bytes] of files) {
    const path = join(dir, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, bytes);
  }
}

/**
 * A zoo classifier trained in Node on every image of `dir` (a teacher need not respect the run's splits) and
 * exported as ONNX, BatchNorm folded: what a person would bring as their teacher.
 */
export async function trainTeacher(dir: string, model: string, epochs = 4, seed = 7): Promise<Uint8Array> {
  const ds = loadImageFolder(dir);
  const teacher = new Model(zooModel(model, ds.sampleShape, ds.numClasses), seed);
  await fitClassifier(teacher, ds, { epochs, batchSize: 16, lr: 3e-3, seed, threads: 1 });
  return exportOnnx(teacher);
}

/**
 * The config the page ran (its YAML, as the page shows it), re-rooted on this machine: the inputs the page read
 * under `/inputs` are the same files under `inputsDir` here, and outputs go to `outDir`. Everything else (seed, splits,
 * model, loss) is unchanged, so the Node loader cuts the same train / validation / test splits.
 */
export function nodeConfigOf(pageYaml: string, inputsDir: string, outDir: string, webDir = '/inputs'): ResolvedConfig {
  const raw = parseYaml(pageYaml) as Record<string, unknown>;
  const rebase = (p: unknown) => (typeof p === 'string' && p.startsWith(`${webDir}/`) ? join(inputsDir, p.slice(webDir.length + 1)) : p);
  const dataset = raw.dataset as Record<string, unknown>;
  dataset.path = rebase(dataset.path);
  const teacher = raw.teacher as Record<string, unknown> | undefined;
  if (teacher?.file !== undefined) teacher.file = rebase(teacher.file);
  raw.outDir = outDir;
  // Relative input paths are taken from the config's folder, which is `inputsDir` here as it is /inputs in the page.
  return parseConfig(toYaml(raw), join(inputsDir, 'page-config.yaml'), configRegistry());
}

/** Accuracy and loss of ONNX bytes on the test split `cfg` defines, computed in Node. */
export async function evaluateOnTestSplit(onnx: Uint8Array, cfg: ResolvedConfig): Promise<{ accuracy: number; loss: number; n: number }> {
  const data = loadData(cfg);
  const ev = await evaluateClassifier(onnx, data.test, { threads: 1, source: 'student.onnx', mean: data.mean, std: data.std });
  return { accuracy: ev.accuracy, loss: ev.loss, n: data.test.n };
}
