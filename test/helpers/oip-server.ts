/**
 * An Open Inference Protocol (KServe v2) server for tests, written from the protocol's specification
 * (kserve.github.io, "Open Inference Protocol (V2)" REST section and its binary-tensor-data extension), not from
 * any server's code: health, server metadata, model metadata and readiness, and inference with JSON tensors or
 * binary tensors after a JSON header of `Inference-Header-Content-Length` bytes. Errors are `{ "error": "..." }`
 * with a 4xx status, as the protocol's $inference_error_response. It serves one ONNX model through ONNX Runtime.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSession, ort } from '../../src/runtime/ort.js';

export interface OipModel {
  name: string;
  version: string;
  bytes: Uint8Array;
  /** Metadata: the input's and output's shapes with -1 for the batch (what a batching Triton model lists). */
  inputShape: number[];
  outputShape: number[];
  /** The datatype the metadata lists for the input (the server itself computes in FP32). */
  inputDatatype?: string;
}

export interface OipServerOptions {
  /** List `binary_tensor_data` in the server metadata and accept binary tensors (default true). */
  binary?: boolean;
}

/** A request as the server saw it: the path, whether it carried binary tensors, the JSON header. */
export interface OipLogEntry {
  method: string;
  path: string;
  binary: boolean;
  json?: { id?: string; inputs: { name: string; shape: number[]; datatype: string }[]; outputs?: { name: string }[] };
}

const SIZES: Record<string, number> = { FP32: 4, FP64: 8, FP16: 2, INT64: 8, INT32: 4 };

export async function startOipServer(model: OipModel, o: OipServerOptions = {}) {
  const binary = o.binary ?? true;
  const session = await createSession(model.bytes, { threads: 1 });
  const [inName] = session.inputNames,
    [outName] = session.outputNames;
  const log: OipLogEntry[] = [];
  let ready = true;
  const paths = [`/v2/models/${model.name}`, `/v2/models/${model.name}/versions/${model.version}`];

  const error = (res: ServerResponse, status: number, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: message }));
  };
  const json = (res: ServerResponse, v: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(v));
  };

  async function infer(req: IncomingMessage, body: Buffer, res: ServerResponse, entry: OipLogEntry) {
    const head = req.headers['inference-header-content-length'];
    if (head !== undefined && !binary) return error(res, 400, 'binary tensor data is not supported by this server');
    const split = head === undefined ? body.length : Number(head);
    if (!Number.isInteger(split) || split > body.length) return error(res, 400, `bad Inference-Header-Content-Length ${head}`);
    let r: {
      id?: string;
      parameters?: { binary_data_output?: boolean };
      inputs: { name: string; shape: number[]; datatype: string; data?: number[]; parameters?: { binary_data_size?: number } }[];
      outputs?: { name: string; parameters?: { binary_data?: boolean } }[];
    };
    try {
      r = JSON.parse(body.subarray(0, split).toString('utf8'));
    } catch {
      return error(res, 400, 'the request is not valid JSON');
    }
    entry.binary = head !== undefined;
    entry.json = r;
    if (!Array.isArray(r.inputs) || r.inputs.length !== 1) return error(res, 400, `expected 1 input, got ${r.inputs?.length}`);
    const t = r.inputs[0];
    if (t.name !== inName) return error(res, 400, `unexpected inference input '${t.name}' for model '${model.name}'`);
    const want = model.inputDatatype ?? 'FP32';
    if (t.datatype !== want) return error(res, 400, `input '${t.name}' expects datatype ${want}, got ${t.datatype}`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.shape.length !== model.inputShape.length || t.shape.some((d, i) => model.inputShape[i] !== -1 && model.inputShape[i] !== d))
      return error(res, 400, `input '${t.name}' has shape [${t.shape}], the model takes [${model.inputShape}]`);
    let x: Float32Array;
    const size = t.parameters?.binary_data_size;
    if (size !== undefined) {
      if (size !== count * SIZES[t.datatype] || split + size > body.length) return error(res, 400, `binary_data_size ${size} is wrong`);
      const dv = new DataView(body.buffer, body.byteOffset + split, size);
      x = Float32Array.from({ length: count }, (_, i) => (t.datatype === 'FP64' ? dv.getFloat64(8 * i, true) : dv.getFloat32(4 * i, true)));
    } else {
      if (!Array.isArray(t.data) || t.data.flat(Infinity).length !== count)
        return error(
          res,
          400,
          `input '${t.name}' has ${Array.isArray(t.data) ? t.data.flat(Infinity).length : 'no'} values for [${t.shape}]`,
        );
      x = Float32Array.from(t.data.flat(Infinity) as number[]);
    }
    const requested = r.outputs ?? [{ name: outName }];
    const unknown = requested.find((q) => q.name !== outName);
    if (unknown) return error(res, 400, `unexpected inference output '${unknown.name}' for model '${model.name}'`);
    const out = (await session.run({ [inName]: new ort.Tensor('float32', x, t.shape) }))[outName];
    const values = out.data as Float32Array;
    const asBinary = binary && (requested[0].parameters?.binary_data ?? r.parameters?.binary_data_output ?? false);
    const meta = { name: outName, shape: [...out.dims], datatype: 'FP32' };
    const answer = { model_name: model.name, model_version: model.version, ...(r.id !== undefined ? { id: r.id } : {}) };
    if (!asBinary) return json(res, { ...answer, outputs: [{ ...meta, data: Array.from(values) }] });
    const raw = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    const header = Buffer.from(JSON.stringify({ ...answer, outputs: [{ ...meta, parameters: { binary_data_size: raw.length } }] }));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) });
    res.end(Buffer.concat([header, raw]));
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', async () => {
      const path = (req.url ?? '').split('?')[0];
      const entry: OipLogEntry = { method: req.method ?? '', path, binary: false };
      log.push(entry);
      if (req.method === 'GET') {
        if (path === '/v2/health/live') return json(res, { live: true });
        if (path === '/v2/health/ready') return ready ? json(res, { ready: true }) : error(res, 503, 'the server is not ready');
        if (path === '/v2') return json(res, { name: 'kdistill-test-oip', version: '2', extensions: binary ? ['binary_tensor_data'] : [] });
        if (paths.includes(path))
          return json(res, {
            name: model.name,
            versions: [model.version],
            platform: 'onnxruntime_onnx',
            inputs: [{ name: inName, datatype: model.inputDatatype ?? 'FP32', shape: model.inputShape }],
            outputs: [{ name: outName, datatype: 'FP32', shape: model.outputShape }],
          });
        if (paths.some((p) => path === `${p}/ready`)) return json(res, { name: model.name, ready: true });
        return error(res, 404, `unknown model or path '${path}'`);
      }
      if (req.method === 'POST' && paths.some((p) => path === `${p}/infer`)) return infer(req, Buffer.concat(chunks), res, entry);
      error(res, 404, `unknown path '${path}'`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    setReady: (v: boolean) => {
      ready = v;
    },
    close: async () => {
      server.closeAllConnections();
      server.close();
      await session.release();
    },
  };
}
