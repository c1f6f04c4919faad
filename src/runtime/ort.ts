import type * as Ort from 'onnxruntime-common';
import type { TensorData } from '../graph/types.js';
import { KdError } from '../util/errors.js';
import { type OrtModule, runtime } from './runtime.js';

/**
 * The registered runtime's ONNX Runtime module (onnxruntime-node or onnxruntime-web), looked up on each use
 * so modules can be imported before the runtime is registered: `new ort.Tensor(...)`, `ort.InferenceSession`.
 */
export const ort: OrtModule = new Proxy({} as OrtModule, { get: (_, key) => Reflect.get(runtime().ort, key) });

/** The ONNX Runtime types under the names code already uses (`ort.Tensor`, `ort.InferenceSession`). */
export declare namespace ort {
  /** A tensor of any ONNX Runtime (onnxruntime-common's type). */
  type Tensor = Ort.Tensor;
  /** An inference session of any ONNX Runtime (onnxruntime-common's type). */
  type InferenceSession = Ort.InferenceSession;
}

/** Session options shared by every kdistill session. */
export interface SessionOptions {
  /** Intra-op threads; defaults to the runtime's default (every core of the machine on Node). */
  threads?: number;
  /** ORT graph optimisation level; 'all' fuses Conv+BN and picks layouts. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Let idle intra-op threads spin for work. Off by default when several sessions alternate
   * (teacher and student): spinning pools of two sessions would fight over the same cores.
   */
  spin?: boolean;
  /** Execution provider, one of the runtime's `providers` (default: the runtime's first, 'cpu' on Node, 'wasm' in a browser). */
  provider?: string;
  /**
   * Write ONNX Runtime's per-node profile to `<profile>_<timestamp>.json` (Chrome trace format); the file is
   * complete once the session is released (see `bench/profile.ts`, which sums it by phase and op type).
   */
  profile?: string;
}

/** Intra-op threads a session gets when none are asked for (the registered runtime's default). */
export function defaultThreads(): number {
  return runtime().defaultThreads();
}

/** Creates an ORT inference session from ONNX bytes with kdistill's defaults. */
export async function createSession(model: Uint8Array, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const rt = runtime();
  const provider = opts.provider ?? rt.providers[0];
  if (!rt.providers.includes(provider))
    throw new KdError(
      'UNKNOWN_PROVIDER',
      `execution provider '${provider}' is not available in the ${rt.name} runtime; ` +
        `it offers ${rt.providers.map((p) => `'${p}'`).join(', ')}`,
    );
  const session = await rt.ort.InferenceSession.create(model, {
    // Without a provider list onnxruntime-node runs on its CPU provider, as kdistill always has.
    ...(provider === 'cpu' ? {} : { executionProviders: [provider] }),
    intraOpNumThreads: opts.threads ?? rt.defaultThreads(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opts.optimization ?? 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
    ...(opts.profile ? { enableProfiling: true, profileFilePrefix: opts.profile } : {}),
    extra: { session: { intra_op: { allow_spinning: opts.spin ? '1' : '0' } } },
  }).catch((e: unknown) => {
    // ORT's words for a browser without a usable GPU ("no available backend found") hide what to change.
    if (provider === 'webgpu' && /adapter|backend/i.test(String(e)))
      throw new KdError('NO_WEBGPU', `WebGPU is not usable in this browser (${String(e)}); use the wasm provider`);
    throw e;
  });
  return rt.serialRuns ? serialised(session) : session;
}

/** The session with its runs queued one after another, for runtimes that refuse overlapping runs of one session. */
function serialised(s: ort.InferenceSession): ort.InferenceSession {
  const run = s.run.bind(s);
  let last: Promise<unknown> = Promise.resolve();
  s.run = ((...args: Parameters<typeof run>) => {
    const next = last.then(() => run(...args));
    last = next.catch(() => undefined);
    return next;
  }) as typeof s.run;
  return s;
}

/** Wraps a TensorData as an ORT tensor without copying. */
export function toOrt(t: TensorData): ort.Tensor {
  return new ort.Tensor(t.dtype, t.data as never, t.shape as number[]);
}
