/**
 * One party of a federated run: its model and its private split, and the few things a protocol may ask of it. It
 * runs in a worker of its own (node/party-worker.ts), so the coordinator reaches it only through messages and sees
 * nothing but the replies below.
 */
import { fedSamples } from '../../data/batches.js';
import type { Dataset } from '../../data/dataset.js';
import type { LossTerm } from '../loss.js';
import { Model } from '../../nn/model.js';
import { zooModel } from '../../nn/zoo/index.js';
import { exportOnnx, Predictor } from '../../runtime/inference.js';
import { runtime } from '../../runtime/runtime.js';
import type { Teacher } from '../../runtime/teacher.js';
import { fitClassifier } from '../../train/classifier.js';
import { argmaxRows } from '../../util/argmax.js';

/** What a party is made of when the simulation starts (not protocol traffic: its own data, dealt once). */
export interface PartySetup {
  readonly index: number;
  readonly model: string;
  readonly seed: number;
  readonly private: Dataset;
  /** The public transfer set's samples (FedMD), unlabeled. */
  readonly publicX?: Float32Array;
  /** Its labels, with `public.labelled` (FedMD's transfer-learning phase). */
  readonly publicY?: Int32Array;
  readonly test: Dataset;
  readonly batchSize: number;
  readonly lr: number;
  readonly threads: number;
}

/** The key of sample `i` of row-major float32 samples `x` (`per` values each): the sha256 of the bytes fed. */
function sampleKey(x: Float32Array, i: number, per: number): string {
  return runtime().sha256(new Uint8Array(x.buffer, x.byteOffset + i * per * 4, per * 4));
}

/** Protocol targets for the samples of `x`: row `rowOf(i)` for sample i, keyed as the batcher will feed it. */
function targetTable(x: Float32Array, n: number, rowOf: (i: number) => Float32Array): Map<string, Float32Array> {
  const per = x.length / Math.max(1, n);
  return new Map(Array.from({ length: n }, (_, i) => [sampleKey(x, i, per), rowOf(i)]));
}

/** Answers the samples it was built for from a table keyed by each sample's bytes (targets fixed by the protocol). */
class TableTeacher implements Teacher {
  constructor(
    private readonly table: ReadonlyMap<string, Float32Array>,
    private readonly width: number,
  ) {}
  async predictMany(x: Float32Array | BigInt64Array, shape: readonly number[]): Promise<Float32Array[]> {
    const n = shape[0],
      per = x.length / n;
    const out = new Float32Array(n * this.width);
    for (let i = 0; i < n; i++) {
      const row = this.table.get(sampleKey(x as Float32Array, i, per));
      if (!row) throw new Error('a sample outside the table reached the protocol teacher');
      out.set(row, i * this.width);
    }
    return [out];
  }
  async release(): Promise<void> {}
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
      teacher: table ? new TableTeacher(table, this.classes) : undefined,
      teacherShapes: table ? { logits: [this.classes] } : undefined,
    });
  }

  /** Local training on the private split (cross-entropy). */
  async trainPrivate(epochs: number): Promise<void> {
    await this.fit(this.s.private, epochs);
  }

  /** FedMD's transfer learning: cross-entropy on the labelled public set (public data: nothing is sent). */
  async trainPublic(epochs: number): Promise<void> {
    const s = this.s;
    if (!s.publicX || !s.publicY) throw new Error('trainPublic needs the labelled public set');
    const n = s.publicY.length;
    await this.fit({ name: 'public', x: s.publicX, y: s.publicY, n, sampleShape: s.test.sampleShape, numClasses: this.classes }, epochs);
  }

  /** FedMD's upload: the model's class scores on the public samples `indices`. */
  async publicLogits(indices: Int32Array): Promise<Float32Array> {
    return this.logits(exportOnnx(this.model), this.publicRows(indices), indices.length);
  }

  /** FedMD's digest: the model regresses the consensus scores on the same public samples. */
  async digest(indices: Int32Array, consensus: Float32Array, epochs: number): Promise<void> {
    const x = this.publicRows(indices),
      K = this.classes;
    const ds: Dataset = {
      name: 'public',
      x,
      y: new Int32Array(indices.length),
      n: indices.length,
      sampleShape: this.s.test.sampleShape,
      numClasses: K,
    };
    const table = targetTable(x, ds.n, (i) => consensus.subarray(i * K, (i + 1) * K));
    await this.fit(ds, epochs, [{ method: 'logit_mse', weight: 1 }], table);
  }

  /** FD's upload: the mean class scores of the private samples of each label, and how many samples each mean covers. */
  async labelLogits(): Promise<{ means: Float32Array; counts: Int32Array }> {
    return this.labelMeans(fedSamples(this.s.private));
  }

  /** The per-label means of the model's scores on the private samples `x` (as fed). */
  private async labelMeans(x: Float32Array): Promise<{ means: Float32Array; counts: Int32Array }> {
    const ds = this.s.private,
      K = this.classes;
    const logits = await this.logits(exportOnnx(this.model), x, ds.n);
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
    const x = fedSamples(ds);
    const own = (await this.labelMeans(x)).means;
    const table = targetTable(x, ds.n, (i) => {
      const c = ds.y[i];
      return (have[c] ? global : own).subarray(c * K, (c + 1) * K);
    });
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
    const test = this.s.test,
      K = this.classes;
    const onnx = exportOnnx(this.model);
    const logits = await this.logits(onnx, fedSamples(test), test.n);
    const correct = argmaxRows(logits, K).reduce((a, c, i) => a + (c === test.y[i] ? 1 : 0), 0);
    return { accuracy: correct / test.n, logits, onnx, parameters: this.model.parameterCount() };
  }

  private publicRows(indices: Int32Array): Float32Array {
    const x = new Float32Array(indices.length * this.per);
    indices.forEach((j, i) => x.set(this.s.publicX!.subarray(j * this.per, (j + 1) * this.per), i * this.per));
    return x;
  }

  private async logits(onnx: Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
    const p = await Predictor.fromBytes(onnx, { threads: this.s.threads });
    try {
      return (await p.predictMany(x, [n, ...this.s.test.sampleShape], ['logits']))[0];
    } finally {
      await p.release();
    }
  }
}
