import type * as Ort from 'onnxruntime-common';
import { KdError } from '../util/errors.js';
import type { Storage } from './storage.js';
import type { Teacher } from './teacher.js';

/** What kdistill uses of an ONNX Runtime module; onnxruntime-node and onnxruntime-web both re-export it from onnxruntime-common. */
export type OrtModule = Pick<typeof Ort, 'Tensor' | 'InferenceSession' | 'env'>;

/**
 * Everything kdistill needs from the platform below the CLI: ONNX Runtime, threads, files and hashing.
 * One is registered per process (`import 'kdistill'` registers Node's, `import 'kdistill/browser'` the browser's).
 */
export interface Runtime {
  /** 'node' or 'web' (the built-in ones), or the name of a runtime of one's own; shown in messages. */
  readonly name: 'node' | 'web' | (string & {});
  /** The ONNX Runtime module sessions and tensors are made with. */
  readonly ort: OrtModule;
  /** Execution providers a session may ask for (`SessionOptions.provider`), the default first. */
  readonly providers: readonly string[];
  /** The provider training steps use when none is asked for (default: `providers[0]`, as every other session). */
  readonly trainProvider?: string;
  /** Whether a session must finish one run before the next starts (onnxruntime-web refuses overlapping runs). */
  readonly serialRuns?: boolean;
  /** Whether a run writes into output tensors it is given (onnxruntime-node); false: it returns new ones (onnxruntime-web). */
  readonly fillsOutputs?: boolean;
  /**
   * Lets the platform's event loop run tasks (messages, timers, storage callbacks) during a long training loop whose
   * awaits would otherwise settle as microtasks only; called after every ORT run. Absent: nothing to yield to.
   */
  yieldToEvents?(): Promise<void>;
  /**
   * The channel block of ONNX Runtime's NCHWc convolution kernels on `provider` (16 with AVX-512, 8 with AVX2), or 0
   * where it has none; training steps then run their convolutions in that layout (see `graph/nchwc.ts`).
   */
  nchwcBlock?(provider: string): Promise<number>;
  /** Intra-op threads a session gets when none are asked for. */
  defaultThreads(): number;
  /** Files: checkpoints, run directories, teacher caches, models the user names. */
  readonly storage: Storage;
  /** SHA-256 of bytes (or of a string's UTF-8), as 64 lowercase hex digits. */
  sha256(data: Uint8Array | string): string;
  /** Software versions a run records (kdistill, the runtime, ONNX Runtime, the machine). */
  versions(): Record<string, string>;
  /** An ONNX teacher in a thread of its own, so it overlaps the student's step; absent where threads are not available. */
  startWorkerTeacher?(model: Uint8Array, threads: number): Promise<Teacher>;
}

let current: Runtime | undefined;

/** Registers the runtime everything below the CLI uses; a later call replaces the earlier one. */
export function setRuntime(r: Runtime): void {
  current = r;
}

/** The registered runtime; a NO_RUNTIME error when none is, which says what to import. */
export function runtime(): Runtime {
  if (current) return current;
  throw new KdError(
    'NO_RUNTIME',
    "no kdistill runtime is registered: import 'kdistill' (Node) or 'kdistill/browser' (browser) before using kdistill's modules " +
      "(inside the kdistill repository: import 'src/runtime/node/index.ts' first)",
  );
}
