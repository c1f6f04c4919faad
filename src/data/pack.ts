/**
 * A uint8 image dataset in one small file (`.kds`): how the browser app ships its MNIST and Fashion-MNIST
 * samples as plain static files. Layout: 'KDDS', a little-endian uint32 header length, the JSON header, the
 * pixels (n × sample size bytes), the labels (one byte each).
 */
import { KdError } from '../util/errors.js';
import { sampleSize, type Dataset } from './dataset.js';

const MAGIC = [0x4b, 0x44, 0x44, 0x53];

interface PackHeader {
  name: string;
  n: number;
  sampleShape: number[];
  numClasses: number;
  classNames?: string[];
  sourceIndex?: number[];
}

/** Packs a uint8 dataset of at most 256 classes; `sourceIndex` records where each sample came from in the full collection. */
export function packDataset(ds: Dataset): Uint8Array {
  if (!(ds.x instanceof Uint8Array) || ds.numClasses > 256)
    throw new KdError('BAD_ARGUMENT', `packDataset: ${ds.name} must hold uint8 samples of at most 256 classes`);
  const header: PackHeader = {
    name: ds.name,
    n: ds.n,
    sampleShape: [...ds.sampleShape],
    numClasses: ds.numClasses,
    classNames: ds.classNames ? [...ds.classNames] : undefined,
    sourceIndex: ds.sourceIndex ? [...ds.sourceIndex] : undefined,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const size = ds.n * sampleSize(ds);
  const out = new Uint8Array(8 + json.length + size + ds.n);
  out.set(MAGIC);
  new DataView(out.buffer).setUint32(4, json.length, true);
  out.set(json, 8);
  out.set(ds.x.subarray(0, size), 8 + json.length);
  out.set(Uint8Array.from(ds.y.subarray(0, ds.n)), 8 + json.length + size);
  return out;
}

/** Reads a `.kds` file back; `file` names it in the DATASET_CORRUPT error a damaged or foreign file gives. */
export function unpackDataset(bytes: Uint8Array, file: string): Dataset {
  const bad = (why: string) =>
    new KdError('DATASET_CORRUPT', `${file} is not a kdistill sample file (.kds): ${why}; rebuild or re-download it`);
  if (bytes.length < 8 || MAGIC.some((m, i) => bytes[i] !== m)) throw bad('it does not start with KDDS');
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  let h: PackHeader;
  try {
    h = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as PackHeader;
  } catch {
    throw bad('its header is not JSON');
  }
  const size = h.n * h.sampleShape.reduce((a, b) => a * b, 1);
  if (bytes.length !== 8 + len + size + h.n) throw bad(`it holds ${bytes.length} bytes, its header promises ${8 + len + size + h.n}`);
  const start = bytes.byteOffset + 8 + len;
  return {
    name: h.name,
    kind: 'image',
    x: new Uint8Array(bytes.buffer, start, size),
    y: Int32Array.from(bytes.subarray(8 + len + size)),
    n: h.n,
    sampleShape: h.sampleShape,
    numClasses: h.numClasses,
    classNames: h.classNames,
    sourceIndex: h.sourceIndex ? Int32Array.from(h.sourceIndex) : undefined,
  };
}
