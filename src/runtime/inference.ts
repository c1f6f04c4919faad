import { foldBatchNorm } from '../graph/fold-bn.js';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType as DT, type ModelProto } from 'onnx-buf/dist/onnx_pb.js';
import { parseOnnx, toOnnx } from '../graph/onnx.js';
import { renameValues } from '../graph/rename.js';
import { Graph } from '../graph/graph.js';
import { emitModel, type Model } from '../nn/model.js';
import { QAT_KEY, qatParams } from '../nn/quant/model.js';
import { KdError } from '../util/errors.js';
import { createSession, ort, type SessionOptions } from './ort.js';
import { readInput } from './storage.js';
import type { Teacher } from './teacher.js';

/** What `exportOnnx` writes: BatchNorm folding, the outputs and feature taps, and the file metadata. */
export interface ExportOptions {
  /** Fold BatchNorm into the preceding Conv/Gemm (default true). */
  foldBn?: boolean;
  /** Model outputs to expose (default all the model returns, e.g. logits). */
  outputs?: string[];
  /** Intermediate nodes to expose as extra outputs, by node name (feature taps). */
  taps?: string[];
  metadata?: Record<string, string>;
  /**
   * Keep the core's input and output names (`x`, `logits`) even where the model's file had others (an imported
   * student, whose export otherwise restores its own names so it drops back into the serving code it came from).
   */
  coreNames?: boolean;
  /**
   * A quantisation-aware model: write its fake-quantised graph (float ops computing what the int8 model will) instead of
   * the float model carrying its learned quantisation parameters as metadata (the default, which `quantizeInt8` reads).
   */
  fakeQuant?: boolean;
}

/** Metadata key of an export whose input and output names are the model's own: JSON { core name: file name }. */
export const IO_NAMES_KEY = 'kdistill.io';

/**
 * The model as a standalone inference ONNX file: eval-mode graph, parameters as initializers,
 * dropout gone, BatchNorm folded, symbolic batch. Any ONNX runtime can run it.
 */
export function exportOnnx(model: Model, o: ExportOptions = {}): Uint8Array {
  const q = model.def.quantization;
  const def = q && !o.fakeQuant ? q.float : model.def;
  const b = emitModel(def, new Graph(def.name), 'eval', { kind: 'initializers', values: model.values });
  const g = b.graph;
  const outs = o.outputs
    ? o.outputs.map((k) => {
        const v = b.outputs[k];
        if (!v)
          throw new KdError('UNKNOWN_OUTPUT', `model '${model.name}' has no output '${k}' (it has ${Object.keys(b.outputs).join(', ')})`);
        return v.name;
      })
    : Object.values(b.outputs).map((v) => v.name);
  for (const t of o.taps ?? []) {
    if (!g.has(t))
      throw new KdError(
        'UNKNOWN_NODE',
        `model '${model.name}' has no node '${t}'; \`kdistill inspect <model.onnx>\` lists the tappable nodes`,
      );
    outs.push(t);
  }
  g.outputs.length = 0;
  g.output(...outs.map((n) => g.value(n)));
  if (o.foldBn !== false) foldBatchNorm(g);
  const io = o.coreNames ? undefined : model.def.ioNames;
  const renames = Object.fromEntries(
    Object.entries(io ?? {}).flatMap(([core, own]) => {
      const v = core in b.inputs ? b.inputs[core] : b.outputs[core];
      return v && v.name !== own ? [[v.name, own]] : [];
    }),
  );
  renameValues(g, renames);
  const ioMeta: Record<string, string> = Object.keys(renames).length ? { [IO_NAMES_KEY]: JSON.stringify(io) } : {};
  const qat: Record<string, string> = q && !o.fakeQuant ? { [QAT_KEY]: JSON.stringify(renamedQat(model, renames)) } : {};
  return toOnnx(g, { metadata: { 'kdistill.model': model.name, ...ioMeta, ...qat, ...o.metadata } });
}

/** The model's quantisation parameters under the names its exported file gives the tensors. */
function renamedQat(model: Model, renames: Record<string, string>) {
  const p = qatParams(model)!;
  return { ...p, activations: Object.fromEntries(Object.entries(p.activations).map(([k, v]) => [renames[k] ?? k, v])) };
}

/** A graph input as declared in an ONNX file: element type and dims (numbers where fixed, names or '?' where not). */
export interface DeclaredInput {
  readonly name: string;
  readonly dtype?: string;
  /** Absent when the file declares no shape. */
  readonly dims?: readonly (number | string)[];
}

const ELEM: Record<number, string> = {
  [DT.FLOAT]: 'float32',
  [DT.INT64]: 'int64',
  [DT.INT32]: 'int32',
  [DT.DOUBLE]: 'float64',
  [DT.BOOL]: 'bool',
  [DT.UINT8]: 'uint8',
  [DT.FLOAT16]: 'float16',
};

/** The inputs a model takes at run time (graph inputs that are not initializers), as declared. */
export function declaredInputs(m: ModelProto): DeclaredInput[] {
  const g = m.graph!;
  const init = new Set(g.initializer.map((t) => t.name));
  return g.input
    .filter((i) => !init.has(i.name))
    .map((i) => {
      const t = i.type?.value.case === 'tensorType' ? i.type.value.value : undefined;
      const dims = t?.shape
        ? t.shape.dim.map((d) =>
            d.value.case === 'dimValue' && d.value.value > 0n ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : '?',
          )
        : undefined;
      return { name: i.name, dtype: t ? ELEM[t.elemType] : undefined, dims };
    });
}

/** `float32[N, 4]`-style text for messages. */
export function describeInput(i: DeclaredInput): string {
  return `${i.dtype ?? ''}${i.dims ? `[${i.dims.join(', ')}]` : ''}`;
}

/**
 * Why a tensor of type `dtype` and shape `dims` does not fit `i`, or undefined if it does (as far as
 * the file declares). Checked before ONNX Runtime sees the tensor, whose own message names neither the
 * model nor the fix.
 */
export function inputMismatch(i: DeclaredInput, dtype: string, dims: readonly number[]): string | undefined {
  const typeOk = !i.dtype || i.dtype === dtype;
  const rankOk = !i.dims || i.dims.length === dims.length;
  const dimsOk = rankOk && (!i.dims || i.dims.every((d, k) => typeof d !== 'number' || d === dims[k]));
  if (typeOk && dimsOk) return undefined;
  return `takes input '${i.name}' as ${describeInput(i)}, but was given ${dtype}[${dims.join(', ')}]`;
}

/**
 * An ONNX Runtime inference session with batched prediction over a whole array of samples; as a
 * {@link Teacher} it answers in the calling thread (a worker teacher overlaps the student instead).
 */
export class Predictor implements Teacher {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly inputName: string,
    /** What the model is called in messages (its file, or 'model'). */
    readonly source: string,
    private readonly input: DeclaredInput,
    /** The file's own output names by the core's (`logits` → `scores`) of an imported model's export: callers ask for `logits`. */
    private readonly aliases: ReadonlyMap<string, string> = new Map(),
  ) {}

  /**
   * A predictor for ONNX bytes. Passing `source` (the file name) marks the bytes as the user's: then a
   * model ONNX Runtime refuses to load is reported as a problem with that file, not as an internal error.
   */
  static async fromBytes(bytes: Uint8Array, opts: SessionOptions = {}, source?: string): Promise<Predictor> {
    const name = source ?? 'model';
    const m = parseOnnx(bytes, name);
    const inputs = declaredInputs(m);
    if (inputs.length !== 1)
      throw new KdError(
        'BAD_MODEL',
        `Predictor needs a model with one input, ${name} has ${inputs.length ? inputs.map((i) => `'${i.name}'`).join(', ') : 'none'}`,
      );
    let session: ort.InferenceSession;
    try {
      session = await createSession(bytes, opts);
    } catch (e) {
      if (source === undefined || (e instanceof KdError && e.code === 'NO_WEBGPU')) throw e;
      throw new KdError('BAD_ONNX', `ONNX Runtime cannot load ${source}: ${firstLine(e)}`);
    }
    return new Predictor(session, inputs[0].name, name, inputs[0], outputAliases(m, session.outputNames));
  }

  static async fromModel(model: Model, opts: SessionOptions & ExportOptions = {}): Promise<Predictor> {
    return Predictor.fromBytes(exportOnnx(model, opts), opts);
  }

  static async fromFile(path: string, opts: SessionOptions = {}): Promise<Predictor> {
    return Predictor.fromBytes(readInput(path, 'model file'), opts, path);
  }

  /** Runs one batch; returns every output by name. */
  async run(x: ort.Tensor, outputs?: string[]): Promise<Record<string, ort.Tensor>> {
    const why = inputMismatch(this.input, x.type, x.dims);
    if (why)
      throw new KdError(
        'SHAPE_MISMATCH',
        `${this.source} ${why}; the data does not fit this model (samples of ` +
          `[${x.dims.slice(1).join(', ')}]) — is it a model for another dataset?`,
      );
    const feeds = { [this.inputName]: x };
    if (!outputs) return this.session.run(feeds) as Promise<Record<string, ort.Tensor>>;
    const own = outputs.map((n) => this.aliases.get(n) ?? n);
    const r = (await this.session.run(feeds, own)) as Record<string, ort.Tensor>;
    outputs.forEach((n, i) => (r[n] = r[own[i]]));
    return r;
  }

  /** Runs one batch given as a flat array (`x` is copied, so the caller may reuse it at once); one Float32Array per name. */
  async predictMany(x: Float32Array | BigInt64Array, shape: readonly number[], names: readonly string[]): Promise<Float32Array[]> {
    const t = new ort.Tensor(x instanceof BigInt64Array ? 'int64' : 'float32', x.slice() as never, [...shape]);
    const out = await this.run(t, [...names]);
    return names.map((n) => {
      const d = out[n].data;
      return d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>, Number);
    });
  }

  /** Frees the session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * The bytes of a kdistill export that carries its model's own input and output names ({@link IO_NAMES_KEY}) with
 * the core's names back (`scores` → `logits`), for the places that read a stage's model by the core's names (a
 * trained imported student teaching a later stage). Other bytes are returned as they are.
 */
export function withCoreNames(bytes: Uint8Array, source = 'model'): Uint8Array {
  const m = parseOnnx(bytes, source);
  const meta = m.metadataProps.find((p) => p.key === IO_NAMES_KEY);
  if (!meta) return bytes;
  const back = new Map(Object.entries(JSON.parse(meta.value) as Record<string, string>).map(([core, own]) => [own, core]));
  const r = (n: string) => back.get(n) ?? n;
  const g = m.graph!;
  for (const v of [...g.input, ...g.output]) v.name = r(v.name);
  for (const n of g.node) {
    n.input = n.input.map(r);
    n.output = n.output.map(r);
  }
  m.metadataProps = m.metadataProps.filter((p) => p.key !== IO_NAMES_KEY);
  return toBinary(ModelProtoSchema, m);
}

/** Core output names (`logits`) of an export that carries its own names ({@link IO_NAMES_KEY}), mapped to those names. */
function outputAliases(m: ModelProto, outputs: readonly string[]): Map<string, string> {
  const meta = m.metadataProps.find((p) => p.key === IO_NAMES_KEY);
  if (!meta) return new Map();
  let io: Record<string, string>;
  try {
    io = JSON.parse(meta.value);
  } catch {
    return new Map();
  }
  return new Map(Object.entries(io).filter(([core, own]) => !outputs.includes(core) && outputs.includes(own)));
}

/** The first line of an error's message (ONNX Runtime appends multi-line detail). */
export function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e)
    .split('\n')[0]
    .trim();
}
