import { readInput } from '../util/fs.js';
import { foldBatchNorm } from '../graph/fold-bn.js';
import { parseOnnx, toOnnx } from '../graph/onnx.js';
import type { Model } from '../nn/model.js';
import { KdError } from '../util/errors.js';
import { createSession, ort, type SessionOptions } from './ort.js';

export interface ExportOptions {
  /** Fold BatchNorm into the preceding Conv/Gemm (default true). */
  foldBn?: boolean;
  /** Model outputs to expose (default all the model returns, e.g. logits). */
  outputs?: string[];
  /** Intermediate nodes to expose as extra outputs, by node name (feature taps). */
  taps?: string[];
  metadata?: Record<string, string>;
}

/**
 * The model as a standalone inference ONNX file: eval-mode graph, parameters as initializers,
 * dropout gone, BatchNorm folded, symbolic batch. Any ONNX runtime can run it.
 */
export function exportOnnx(model: Model, o: ExportOptions = {}): Uint8Array {
  const b = model.build('eval');
  const g = b.graph;
  const outs = o.outputs ? o.outputs.map((k) => {
    const v = b.outputs[k];
    if (!v) throw new KdError('UNKNOWN_OUTPUT', `model '${model.name}' has no output '${k}' (it has ${Object.keys(b.outputs).join(', ')})`);
    return v.name;
  }) : Object.values(b.outputs).map((v) => v.name);
  for (const t of o.taps ?? []) {
    if (!g.has(t)) throw new KdError('UNKNOWN_NODE', `model '${model.name}' has no node '${t}'; \`kdistill inspect <model.onnx>\` lists the tappable nodes`);
    outs.push(t);
  }
  g.outputs.length = 0;
  g.output(...outs.map((n) => g.value(n)));
  if (o.foldBn !== false) foldBatchNorm(g);
  return toOnnx(g, { metadata: { 'kdistill.model': model.name, ...o.metadata } });
}

/** An ONNX Runtime inference session with batched prediction over a whole array of samples. */
export class Predictor {
  private constructor(readonly session: ort.InferenceSession, readonly inputName: string) {}

  static async fromBytes(bytes: Uint8Array, opts: SessionOptions = {}, source = 'model'): Promise<Predictor> {
    const m = parseOnnx(bytes, source);
    const init = new Set(m.graph!.initializer.map((t) => t.name));
    const inputs = m.graph!.input.filter((i) => !init.has(i.name));
    if (inputs.length !== 1) throw new KdError('BAD_MODEL', `Predictor needs a model with one input, this one has ${inputs.map((i) => i.name).join(', ')}`);
    return new Predictor(await createSession(bytes, opts), inputs[0].name);
  }

  static async fromModel(model: Model, opts: SessionOptions & ExportOptions = {}): Promise<Predictor> {
    return Predictor.fromBytes(exportOnnx(model, opts), opts);
  }

  static async fromFile(path: string, opts: SessionOptions = {}): Promise<Predictor> {
    return Predictor.fromBytes(readInput(path, 'model file'), opts, path);
  }

  /** Runs one batch; returns every output by name. */
  async run(x: ort.Tensor, outputs?: string[]): Promise<Record<string, ort.Tensor>> {
    const feeds = { [this.inputName]: x };
    return (outputs ? this.session.run(feeds, outputs) : this.session.run(feeds)) as Promise<Record<string, ort.Tensor>>;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
