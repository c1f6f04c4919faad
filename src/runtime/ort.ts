import os from 'node:os';
import ort from 'onnxruntime-node';
import type { TensorData } from '../graph/types.js';

export { ort };

/** Session options shared by every kdistill session. */
export interface SessionOptions {
  /** Intra-op threads; defaults to every core of the machine. */
  threads?: number;
  /** ORT graph optimisation level; 'all' fuses Conv+BN and picks layouts. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Let idle intra-op threads spin for work. Off by default when several sessions alternate
   * (teacher and student): spinning pools of two sessions would fight over the same cores.
   */
  spin?: boolean;
}

export function defaultThreads(): number {
  return os.availableParallelism?.() ?? os.cpus().length;
}

/** Creates an ORT inference session from ONNX bytes with kdistill's defaults. */
export async function createSession(model: Uint8Array, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: opts.threads ?? defaultThreads(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opts.optimization ?? 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
    extra: { session: { intra_op: { allow_spinning: opts.spin ? '1' : '0' } } },
  });
}

/** Wraps a TensorData as an ORT tensor without copying. */
export function toOrt(t: TensorData): ort.Tensor {
  return new ort.Tensor(t.dtype, t.data as never, t.shape as number[]);
}
