/**
 * The Open Inference Protocol (KServe v2), as NVIDIA Triton, KServe, Seldon MLServer, OpenVINO Model Server and
 * TorchServe serve it over HTTP/REST: `POST /v2/models/{name}[/versions/{v}]/infer` with JSON tensors
 * (`name`, `shape`, `datatype`, `data`), or with the binary-tensor extension (a JSON header of
 * `Inference-Header-Content-Length` bytes, then the raw tensors) where the server lists `binary_tensor_data`.
 * Before the first request the server's readiness (`/v2/health/ready`), the model's readiness and its
 * metadata (`GET /v2/models/{name}`: input names, shapes, datatypes) are checked against the data.
 */
import { KdError } from '../../util/errors.js';
import { bodyText, type HttpWire, type WireAnswer, type WireRequest } from './http-wire.js';
import { flattenJson, fromBinary, isOipNumeric, OIP_SIZES, toBinary, type OipDatatype } from './oip-tensors.js';

/** Which model of an Open Inference server teaches, and how its tensors are named and sent. */
export interface OpenInferenceOptions {
  /** The model's name on the server. */
  model: string;
  /** Its version (`/versions/{v}` in every path); left out: the server's default version. */
  version?: string;
  /** The input tensor to feed (default: the model's only input). */
  inputName?: string;
  /** The output tensor holding the class scores (default: the only output, or the one named `logits`). */
  outputName?: string;
  /** Send and receive tensors in binary: true, false, or 'auto' (default): when the server lists `binary_tensor_data`. */
  binary?: boolean | 'auto';
  /** What the scores output holds: 'logits' (default) or 'probabilities' (turned into log-probabilities). */
  outputKind?: 'logits' | 'probabilities';
}

/** A GET through the teacher's transport (its headers, token, timeout and retries); resolves to the answer of any status. */
export type Get = (url: string) => Promise<WireAnswer>;

interface MetaTensor {
  name: string;
  datatype: string;
  shape: number[];
}

/** What the metadata check settled: the names and datatypes requests use, and the binary choice. */
interface Resolved {
  input: { name: string; datatype: OipDatatype };
  /** Requested name (`logits`, or a feature's) → the model's output name. */
  outputs: Map<string, string>;
  binary: boolean;
}

const HEADER = 'inference-header-content-length';
const MIN_PROB = 1e-8;

/** The HTTP wire of one model of an Open Inference server; `check` must succeed before `encode`. */
export class OpenInferenceWire implements HttpWire {
  readonly where: string;
  readonly identity: string;
  /** The server's root, without a trailing slash. */
  private readonly base: string;
  private readonly modelPath: string;
  private resolved?: Resolved;
  private ids = 0;

  constructor(
    base: string,
    private readonly o: OpenInferenceOptions,
    private readonly classes: number,
  ) {
    const u = new URL(base);
    const root = `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
    this.modelPath = `${root}/v2/models/${encodeURIComponent(o.model)}${o.version ? `/versions/${encodeURIComponent(o.version)}` : ''}`;
    this.where = `${this.modelPath}/infer`;
    this.identity = `open-inference ${this.where} ${o.inputName ?? ''} ${o.outputName ?? ''} ${o.outputKind ?? 'logits'}`;
    this.base = root;
  }

  /**
   * Server and model ready, metadata matching samples of `sampleShape` (float data, or integer token ids) and
   * logits of the teacher's classes; also settles the tensor names, datatypes and binary mode. Every mismatch
   * is a TEACHER_MISMATCH error naming the model, the tensor and what to change.
   */
  async check(
    get: Get,
    sampleShape: readonly number[],
    integer: boolean | undefined,
    names: readonly string[] = ['logits'],
  ): Promise<void> {
    const ready = await get(`${this.base}/v2/health/ready`);
    if (ready.status !== 200)
      throw new KdError(
        'TEACHER_NOT_READY',
        `Open Inference server ${this.base} is not ready (GET /v2/health/ready answered HTTP ${ready.status}); ` +
          'start it, or wait until its models are loaded',
      );
    const meta = await get(this.modelPath);
    if (meta.status !== 200)
      throw new KdError(
        'TEACHER_MISMATCH',
        `Open Inference server ${this.base} has no model '${this.o.model}'${this.o.version ? ` version '${this.o.version}'` : ''} ` +
          `(GET ${this.modelPath} answered HTTP ${meta.status}: ${this.explain(meta) || 'no body'}); check http.model and http.version`,
      );
    const m = this.json(meta, 'model metadata') as { inputs?: MetaTensor[]; outputs?: MetaTensor[] };
    if (!Array.isArray(m.inputs) || !Array.isArray(m.outputs))
      throw this.bad(`its model metadata (GET ${this.modelPath}) lists no 'inputs' and 'outputs' arrays`);
    const input = this.pick(m.inputs, this.o.inputName, 'input', 'inputName');
    const datatype = this.inputType(input, integer);
    this.checkShape(input, sampleShape, 'input', `the data's samples are [${sampleShape.join(', ')}]`);
    const outputs = new Map<string, string>();
    for (const name of names) {
      const out =
        name === 'logits'
          ? this.pick(
              m.outputs,
              this.o.outputName ?? (m.outputs.some((t) => t.name === 'logits') ? 'logits' : undefined),
              'output',
              'outputName',
            )
          : this.pick(m.outputs, name, 'output', 'outputName');
      if (!isOipNumeric(out.datatype))
        throw this.mismatch(`output '${out.name}' is ${out.datatype}, not a numeric datatype; serve class scores as FP32`);
      if (name === 'logits') this.checkShape(out, [this.classes], 'output', `the student has ${this.classes} classes`);
      outputs.set(name, out.name);
    }
    const modelReady = await get(`${this.modelPath}/ready`);
    if (modelReady.status !== 200)
      throw new KdError(
        'TEACHER_NOT_READY',
        `Open Inference model '${this.o.model}' on ${this.base} is not ready (GET ${this.modelPath}/ready answered HTTP ` +
          `${modelReady.status}); wait until the server has loaded it`,
      );
    this.resolved = { input: { name: input.name, datatype }, outputs, binary: await this.binaryMode(get, datatype) };
  }

  /** Whether `check` has run (the transport runs it once, before its first request). */
  get checked(): boolean {
    return this.resolved !== undefined;
  }

  encode(x: Float32Array | BigInt64Array, shape: readonly number[], names: readonly string[]): WireRequest {
    const r = this.resolved!;
    const id = `kdistill-${++this.ids}`;
    const outputs = names.map((n) => ({ name: r.outputs.get(n) ?? n, ...(r.binary ? { parameters: { binary_data: true } } : {}) }));
    const input = { name: r.input.name, shape: [...shape], datatype: r.input.datatype };
    if (!r.binary) {
      const data = Array.from(x, Number);
      return {
        url: this.where,
        body: JSON.stringify({ id, inputs: [{ ...input, data }], outputs }),
        headers: { 'content-type': 'application/json', accept: 'application/json' },
      };
    }
    const raw = toBinary(x, r.input.datatype);
    const head = new TextEncoder().encode(
      JSON.stringify({ id, inputs: [{ ...input, parameters: { binary_data_size: raw.length } }], outputs }),
    );
    const body = new Uint8Array(head.length + raw.length);
    body.set(head);
    body.set(raw, head.length);
    return {
      url: this.where,
      body,
      headers: {
        'content-type': 'application/octet-stream',
        accept: 'application/json, application/octet-stream',
        [HEADER]: String(head.length),
      },
    };
  }

  decode(a: WireAnswer, n: number, names: readonly string[]): Float32Array[] {
    const r = this.resolved!;
    const headLen = a.headers.get(HEADER);
    const split = headLen === null ? a.body.length : Number(headLen);
    if (!Number.isInteger(split) || split < 0 || split > a.body.length)
      throw this.bad(`its ${HEADER} header says ${headLen}, but the answer has ${a.body.length} bytes`);
    const res = this.json({ ...a, body: a.body.subarray(0, split) }, 'inference answer') as {
      outputs?: { name: string; shape: number[]; datatype: string; data?: unknown; parameters?: { binary_data_size?: number } }[];
    };
    if (!Array.isArray(res.outputs)) throw this.bad("its inference answer has no 'outputs' array");
    // Binary outputs follow the JSON in the order they are listed.
    let at = split;
    const byName = new Map<string, Float32Array>();
    for (const t of res.outputs) {
      if (!isOipNumeric(t.datatype)) throw this.bad(`output '${t.name}' is ${t.datatype}, not a numeric datatype`);
      const count = Array.isArray(t.shape) ? t.shape.reduce((p, d) => p * d, 1) : NaN;
      const size = t.parameters?.binary_data_size;
      let values: Float32Array;
      if (size !== undefined) {
        if (size !== count * OIP_SIZES[t.datatype] || at + size > a.body.length)
          throw this.bad(
            `output '${t.name}' says ${size} binary bytes for shape [${t.shape}] of ${t.datatype}; ${a.body.length - at} bytes are left`,
          );
        values = fromBinary(a.body.subarray(at, at + size), t.datatype, count);
        at += size;
      } else {
        const flat = flattenJson(t.data);
        if (!flat || flat.length !== count)
          throw this.bad(`output '${t.name}' has ${flat ? `${flat.length} values` : 'non-numeric data'} for shape [${t.shape}]`);
        values = Float32Array.from(flat);
      }
      byName.set(t.name, values);
    }
    return names.map((name) => {
      const served = r.outputs.get(name) ?? name;
      const v = byName.get(served);
      if (!v) throw this.bad(`the answer has no output '${served}' (it has: ${[...byName.keys()].join(', ') || 'none'})`);
      if (v.length % n !== 0 || (name === 'logits' && v.length !== n * this.classes))
        throw this.bad(
          `output '${served}' has ${v.length} values for ${n} samples${name === 'logits' ? ` of ${this.classes} classes` : ''}`,
        );
      if (name === 'logits' && this.o.outputKind === 'probabilities')
        for (let i = 0; i < v.length; i++) v[i] = Math.log(Math.max(v[i], MIN_PROB));
      for (let i = 0; i < v.length; i++)
        if (!Number.isFinite(v[i])) throw this.bad(`output '${served}' value ${i} is ${v[i]}, expected a finite number`);
      return v;
    });
  }

  /** The protocol's error answer is `{ "error": "..." }`; anything else is shown as it came. */
  explain(a: WireAnswer): string {
    const text = bodyText(a);
    try {
      const e = (JSON.parse(text) as { error?: unknown }).error;
      if (typeof e === 'string') return e.slice(0, 300);
    } catch {}
    return text.slice(0, 200);
  }

  private async binaryMode(get: Get, datatype: OipDatatype): Promise<boolean> {
    const want = this.o.binary ?? 'auto';
    if (datatype === 'FP16' && want === false)
      throw this.mismatch("input takes FP16, which JSON cannot carry; set http.binary to true or 'auto'");
    if (want !== 'auto') return want;
    const server = await get(`${this.base}/v2`);
    let listed = false;
    if (server.status === 200) {
      const ext = (this.json(server, 'server metadata') as { extensions?: unknown }).extensions;
      listed = Array.isArray(ext) && ext.includes('binary_tensor_data');
    }
    if (datatype === 'FP16' && !listed)
      throw this.mismatch("input takes FP16, which JSON cannot carry, and the server does not list 'binary_tensor_data'");
    return listed;
  }

  private pick(list: MetaTensor[], name: string | undefined, what: 'input' | 'output', key: string): MetaTensor {
    const names = list.map((t) => `'${t.name}'`).join(', ') || 'none';
    if (name !== undefined) {
      const t = list.find((x) => x.name === name);
      if (!t) throw this.mismatch(`no ${what} is named '${name}' (its ${what}s: ${names}); check http.${key}`);
      return t;
    }
    if (list.length !== 1) throw this.mismatch(`the model has ${list.length} ${what}s (${names}); name the one to use with http.${key}`);
    return list[0];
  }

  private inputType(t: MetaTensor, integer: boolean | undefined): OipDatatype {
    // Undefined (preflight, before a batch exists): either kind of data.
    const ok = integer === undefined ? ['INT64', 'INT32', 'FP32', 'FP64', 'FP16'] : integer ? ['INT64', 'INT32'] : ['FP32', 'FP64', 'FP16'];
    if (!ok.includes(t.datatype))
      throw this.mismatch(
        `input '${t.name}' takes ${t.datatype}, but the data is ` +
          `${integer ? 'integer token ids (sent as INT64 or INT32)' : 'float (sent as FP32, FP64 or FP16)'}; ` +
          'serve the model with a matching input, or use data of that kind',
      );
    return t.datatype as OipDatatype;
  }

  /** A batching model lists [-1, ...sample]; -1 anywhere else matches any size too. */
  private checkShape(t: MetaTensor, sample: readonly number[], what: string, why: string): void {
    const s = t.shape;
    const fits =
      Array.isArray(s) &&
      s[0] === -1 &&
      (what === 'output'
        ? s.slice(1).every((d) => d === -1) || s.slice(1).reduce((p, d) => p * d, 1) === sample[0]
        : s.length === sample.length + 1 && s.slice(1).every((d, i) => d === -1 || d === sample[i]));
    if (!fits)
      throw this.mismatch(
        `${what} '${t.name}' has shape [${s}], but ${why}; kdistill sends batches [n, ${sample.join(', ')}] and reads [n, ...]. ` +
          'Serve a model that takes that (batch dimension -1), or adapt the data',
      );
  }

  private json(a: WireAnswer, what: string): Record<string, unknown> {
    try {
      const v = JSON.parse(bodyText(a)) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {}
    throw this.bad(`its ${what} is not a JSON object; it starts with ${JSON.stringify(bodyText(a).slice(0, 80))}`);
  }

  private bad(msg: string): KdError {
    return new KdError('BAD_TEACHER_ANSWER', `Open Inference teacher ${this.where}: ${msg}`);
  }

  private mismatch(msg: string): KdError {
    return new KdError('TEACHER_MISMATCH', `Open Inference model '${this.o.model}' on ${this.base}: ${msg}`);
  }
}
