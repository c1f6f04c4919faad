/**
 * One party of a federated run: its model and its private split, and the few things a protocol may ask of it. It
 * runs in a worker of its own (node/party-worker.ts), so the coordinator reaches it only through messages and sees
 * nothing but the replies below.
 */
import type { Dataset } from '../../data/dataset.js';
import type { LossTerm } from '../loss.js';
import { Model } from '../../nn/model.js';
import { zooModel } from '../../nn/zoo/index.js';
import { exportOnnx, Predictor } from '../../runtime/inference.js';
import { runtime } from '../../runtime/runtime.js';
import type { Teacher } from '../../runtime/teacher.js';
import { evaluateClassifier, fitClassifier } from '../../train/classifier.js';

/** What a party is made of when the simulation starts (not protocol traffic: its own data, dealt once). */
export interface PartySetup {
  readonly index: number;
  readonly model: string;
  readonly seed: number;
  readonly private: Dataset;
  /** The public transfer set's samples (FedMD), unlabeled. */
  readonly publicX?: Float32Array;
  readonly test: Dataset;
  readonly batchSize: number;
  readonly lr: number;
  readonly threads: number;
}

/** Answers the samples it was built for from a table keyed by each sample's bytes (targets fixed by the protocol). */
class TableTeacher implements Teacher {
  constructor(private readonly table: ReadonlyMap<string, Float32Array>) {}
  async predictMany(x: Float32Array | BigInt64Array, shape: readonly number[]): Promise<Float32Array[]> {
    const n = shape[0],
      per = x.length / n,
      bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength),
      rt = runtime();
    const first = this.table.values().next().value!;
    const out = new Float32Array(n * first.length);
    for (let i = 0; i < n; i++) {
      const row = this.table.get(rt.sha256(bytes.subarray(i * per * 4, (i + 1) * per * 4)));
      if (!row) throw new Error('a sample outside the table reached the protocol teacher');
      out.set(row, i * first.length);
    }
    return [out];
  }
  async release(): Promise<void> {}
}

/** Float32 copy of a dataset's samples scaled as the batcher scales them (bytes / 255), for hashing. */
function floats(ds: Dataset): Float32Array {
  if (ds.x instanceof Float32Array) return ds.x;
  const out = new Float32Array(ds.x.length);
  for (let i = 0; i < out.length; i++) out[i] = ds.x[i] * (1 / 255);
  return out;
}

export class Party {
  readonly model: Model;
  private readonly classes: number;
  private readonly per: number;
  private rounds = 0;

  constructor(readonly s: PartySetup) {
    this.classes = s.test.numClasses;
    this.per = s.test.sampleShape.reduce((a, b) => a * b, 1);
    this.model = new Model(zooModel(s.model, s.test.sampleShape, this.classes), s.seed * 1000 + s.index);
  }

  private async fit(ds: Dataset, epochs: number, loss?: LossTerm[], table?: Map<string, Float32Array>): Promise<void> {
    await fitClassifier(this.model, ds, {
      epochs,
      lr: this.s.lr,
      batchSize: this.s.batchSize,
      seed: this.s.seed * 1000 + this.s.index * 31 + this.rounds++,
      threads: this.s.threads,
      loss,
      teacher: table ? new TableTeacher(table) : undefined,
      teacherShapes: table ? { logits: [this.classes] } : undefined,
    });
  }

  /** Local training on the private split (cross-entropy). */
  async trainPrivate(epochs: number): Promise<void> {
    await this.fit(this.s.private, epochs);
  }

  /** FedMD's upload: the model's class scores on the public samples `indices`. */
  async publicLogits(indices: Int32Array): Promise<Float32Array> {
    const x = this.publicRows(indices);
    return this.logits(x, indices.length);
  }

  /** FedMD's digest: the model regresses the consensus scores on the same public samples. */
  async digest(indices: Int32Array, consensus: Float32Array, epochs: number): Promise<void> {
    const x = this.publicRows(indices);
    const table = new Map<string, Float32Array>();
    const rt = runtime();
    const ds: Dataset = {
      name: 'public',
      x,
      y: new Int32Array(indices.length),
      n: indices.length,
      sampleShape: this.s.test.sampleShape,
      numClasses: this.classes,
    };
    for (let i = 0; i < indices.length; i++)
      table.set(
        rt.sha256(new Uint8Array(x.buffer, x.byteOffset + i * this.per * 4, this.per * 4)),
        consensus.subarray(i * this.classes, (i + 1) * this.classes),
      );
    await this.fit(ds, epochs, [{ method: 'logit_mse', weight: 1 }], table);
  }

  /** FD's upload: the mean class scores of the private samples of each label, and how many samples each mean covers. */
  async labelLogits(): Promise<{ means: Float32Array; counts: Int32Array }> {
    const ds = this.s.private,
      K = this.classes;
    const logits = await this.logits(floats(ds), ds.n);
    const means = new Float32Array(K * K),
      counts = new Int32Array(K);
    for (let i = 0; i < ds.n; i++) {
      counts[ds.y[i]]++;
      for (let k = 0; k < K; k++) means[ds.y[i] * K + k] += logits[i * K + k];
    }
    for (let c = 0; c < K; c++) if (counts[c]) for (let k = 0; k < K; k++) means[c * K + k] /= counts[c];
    return { means, counts };
  }

  /**
   * FD's local step: cross-entropy plus `weight`·KD (T = 1) towards the global mean scores of each sample's label
   * (`have[c]` says whether any other party reported label c; the party's own mean stands in where none did).
   */
  async trainWithLabelTargets(epochs: number, global: Float32Array, have: Uint8Array, weight: number): Promise<void> {
    const ds = this.s.private,
      K = this.classes;
    const own = (await this.labelLogits()).means;
    const x = floats(ds),
      rt = runtime();
    const table = new Map<string, Float32Array>();
    for (let i = 0; i < ds.n; i++) {
      const c = ds.y[i];
      const src = have[c] ? global : own;
      table.set(rt.sha256(new Uint8Array(x.buffer, x.byteOffset + i * this.per * 4, this.per * 4)), src.subarray(c * K, (c + 1) * K));
    }
    await this.fit(
      ds,
      epochs,
      [
        { method: 'ce', weight: 1 },
        { method: 'kd', weight, options: { temperature: 1 } },
      ],
      table,
    );
  }

  /** FedAvg's upload: every parameter, in the model's order. */
  params(): Float32Array[] {
    return [...this.model.values.values()].map((v) => Float32Array.from(v));
  }

  /** FedAvg's download: the server's averaged parameters. */
  setParams(values: readonly Float32Array[]): void {
    [...this.model.values.values()].forEach((v, i) => v.set(values[i]));
  }

  /** Evaluation by the simulation (not protocol traffic): test accuracy and the test scores for the consensus row. */
  async evaluate(): Promise<{ accuracy: number; logits: Float32Array; onnx: Uint8Array; parameters: number }> {
    const ev = await evaluateClassifier(this.model, this.s.test, { threads: this.s.threads });
    const onnx = exportOnnx(this.model);
    return {
      accuracy: ev.accuracy,
      logits: await this.logits(floats(this.s.test), this.s.test.n),
      onnx,
      parameters: this.model.parameterCount(),
    };
  }

  private publicRows(indices: Int32Array): Float32Array {
    const x = new Float32Array(indices.length * this.per);
    indices.forEach((j, i) => x.set(this.s.publicX!.subarray(j * this.per, (j + 1) * this.per), i * this.per));
    return x;
  }

  private async logits(x: Float32Array, n: number): Promise<Float32Array> {
    const p = await Predictor.fromBytes(exportOnnx(this.model), { threads: this.s.threads });
    try {
      return (await p.predictMany(x, [n, ...this.s.test.sampleShape], ['logits']))[0];
    } finally {
      await p.release();
    }
  }
}
