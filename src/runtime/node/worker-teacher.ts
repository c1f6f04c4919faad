import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { KdError } from '../../util/errors.js';
import type { Teacher } from '../teacher.js';

// onnxruntime-node's run() occupies the calling thread, so a teacher in the main thread can never
// overlap the student's step. In a worker thread it can: the teacher computes batch k+1 while the
// student trains on batch k, which turns two cores into one teacher core and one student core.
// The input tensor of the run call below, spliced into WORKER_SOURCE to keep that line short.
const INPUT_TENSOR = "new ort.Tensor(m.x instanceof BigInt64Array ? 'int64' : 'float32', m.x, m.shape)";
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
(async () => {
  let session;
  try {
    session = await ort.InferenceSession.create(workerData.model, {
      intraOpNumThreads: workerData.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
  } catch (e) { parentPort.postMessage({ error: String(e && e.message || e) }); return; }
  parentPort.postMessage({ ready: true, inputs: session.inputNames, outputs: session.outputNames });
  parentPort.on('message', async (m) => {
    if (m.close) { await session.release(); parentPort.close(); return; }
    try {
      const out = await session.run({ [m.input]: ${INPUT_TENSOR} }, m.outputs);
      const data = m.outputs.map((o) => out[o].data);
      parentPort.postMessage({ id: m.id, data }, data.map((d) => d.buffer));
    } catch (e) { parentPort.postMessage({ id: m.id, error: String(e && e.message || e) }); }
  });
})();
`;

interface Reply {
  id?: number;
  data?: Float32Array[];
  error?: string;
  ready?: boolean;
  inputs?: string[];
  outputs?: string[];
}

/**
 * A frozen ONNX teacher running in its own worker thread, so `predict` overlaps whatever the main
 * thread does next (the student's step). Requests are answered in order.
 */
export class WorkerTeacher implements Teacher {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: Float32Array[]) => void; reject: (e: Error) => void }>();

  private constructor(
    private readonly worker: Worker,
    readonly inputName: string,
    readonly outputNames: string[],
  ) {
    worker.on('message', (m: Reply) => {
      const w = m.id === undefined ? undefined : this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id!);
      if (m.error) w.reject(new KdError('TEACHER_FAILED', `teacher inference failed: ${m.error}`));
      else w.resolve(m.data!);
    });
    const fail = (e: Error) => {
      this.closed = true;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    worker.on('error', (e) => fail(new KdError('TEACHER_FAILED', `teacher worker crashed: ${e.message}`)));
    worker.on('exit', (code) => fail(new KdError('TEACHER_FAILED', `teacher worker exited (code ${code})`)));
  }

  private closed = false;

  /** Starts a worker holding an ORT session for `model` (ONNX bytes) with `threads` intra-op threads. */
  static async start(model: Uint8Array, threads = 1): Promise<WorkerTeacher> {
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { model, threads, ortPath } });
    const first = await new Promise<Reply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (first.error) {
      await worker.terminate();
      throw new KdError('BAD_ONNX', `teacher model could not be loaded: ${first.error}`);
    }
    return new WorkerTeacher(worker, first.inputs![0], first.outputs!);
  }

  /** Requests `output` for a batch; `x` is copied at call time, so the caller may reuse its buffer at once. */
  async predict(x: Float32Array | BigInt64Array, shape: readonly number[], output = 'logits'): Promise<Float32Array> {
    return (await this.predictMany(x, shape, [output]))[0];
  }

  /** Requests several outputs (e.g. logits and features by node name) for one batch, in the order asked. */
  predictMany(x: Float32Array | BigInt64Array, shape: readonly number[], outputs: readonly string[]): Promise<Float32Array[]> {
    if (this.closed) return Promise.reject(new KdError('TEACHER_FAILED', 'the teacher worker is no longer running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, x, shape, input: this.inputName, outputs: [...outputs] });
    });
  }

  /** Stops the worker (and frees its session); waits until it has exited. */
  async release(): Promise<void> {
    if (this.closed) return;
    const exited = new Promise((r) => this.worker.once('exit', r));
    this.worker.postMessage({ close: true });
    // A worker that does not wind down by itself is stopped.
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Output names of the teacher model. */
  get outputs(): string[] {
    return this.outputNames;
  }
}
