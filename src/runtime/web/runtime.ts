import * as ortWeb from 'onnxruntime-web';
import { KdError } from '../../util/errors.js';
import { sha256Hex } from '../../util/sha256.js';
import { MemoryStorage } from '../memory-storage.js';
import type { OrtModule, Runtime } from '../runtime.js';
import { recordChange } from './persist.js';

// Replaced by the bundler with package.json's version (scripts/build-web.mjs).
declare const __KDISTILL_VERSION__: string | undefined;

/** What the browser offers ONNX Runtime: threads (only where the page is cross-origin isolated) and WebGPU. */
export interface WebInfo {
  /** Intra-op threads sessions get. */
  readonly threads: number;
  /** Whether the page may share memory with workers (COOP/COEP headers), which wasm threads need. */
  readonly crossOriginIsolated: boolean;
  /** Execution providers on offer, the one sessions use first. */
  readonly providers: readonly string[];
}

/** Options of {@link configureWeb}. */
export interface WebOptions {
  /** wasm threads; more than 1 needs a cross-origin isolated page. Default: 1, or min(4, cores) when isolated. */
  readonly threads?: number;
  /**
   * 'wasm' (default) or 'webgpu' (opt-in, where `navigator.gpu` exists) for teachers and evaluations; ops WebGPU lacks
   * fall back to wasm. Training steps run on wasm either way (see `webRuntime.trainProvider`).
   */
  readonly provider?: 'wasm' | 'webgpu';
}

const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number; gpu?: unknown; userAgent?: string } };
const isolated = () => g.crossOriginIsolated === true;
const hasGpu = () => !!g.navigator?.gpu;

let threads = isolated() ? Math.min(4, g.navigator?.hardwareConcurrency ?? 1) : 1;
let provider: 'wasm' | 'webgpu' = 'wasm';
let started = false;

/**
 * Sets the browser's threads and execution provider. onnxruntime-web fixes its thread pool when the first session
 * starts, so a change after that is refused rather than silently ignored.
 */
export function configureWeb(o: WebOptions): WebInfo {
  if (o.threads !== undefined) {
    if (!Number.isInteger(o.threads) || o.threads < 1)
      throw new KdError('BAD_OPTION', `threads must be a positive integer, got ${o.threads}`);
    if (o.threads > 1 && !isolated())
      throw new KdError(
        'NO_THREADS',
        `threads: ${o.threads} needs a cross-origin isolated page (served with Cross-Origin-Opener-Policy: same-origin and ` +
          'Cross-Origin-Embedder-Policy: require-corp, as `kdistill serve` does); this page is not, so it runs on 1 thread',
      );
    if (started && o.threads !== threads)
      throw new KdError('TOO_LATE', 'threads can only be set before the first model runs; reload the page to change them');
    threads = o.threads;
  }
  if (o.provider !== undefined) {
    if (o.provider !== 'wasm' && o.provider !== 'webgpu') throw new KdError('BAD_OPTION', `provider must be 'wasm' or 'webgpu'`);
    if (o.provider === 'webgpu' && !hasGpu()) throw new KdError('NO_WEBGPU', 'this browser offers no WebGPU (navigator.gpu); use wasm');
    provider = o.provider;
  }
  return webInfo();
}

/** The browser's current thread count, isolation and providers. */
export function webInfo(): WebInfo {
  return { threads, crossOriginIsolated: isolated(), providers: webRuntime.providers };
}

/** The browser runtime's files: in memory, written through to IndexedDB under the prefixes `restoreStorage` names. */
export const webStorage = new MemoryStorage(recordChange);

const ort = ortWeb as unknown as OrtModule;

let lastYield = 0;
/**
 * onnxruntime-web resolves a run without a task of its own, so a training loop would starve its worker's messages
 * (Pause), timers and IndexedDB callbacks (checkpoints reaching disk) until it ended. A timer turn every 50 ms lets
 * them in at a cost of at most 4 ms in 50.
 */
function yieldToEvents(): Promise<void> {
  const now = performance.now();
  if (now - lastYield < 50) return Promise.resolve();
  lastYield = now;
  return new Promise((r) => setTimeout(r, 0));
}

/** kdistill in a browser (or a Web Worker): onnxruntime-web's wasm backend, WebGPU opt-in, files in memory and IndexedDB. */
export const webRuntime: Runtime = {
  name: 'web',
  get ort() {
    if (!started) {
      started = true;
      ortWeb.env.wasm.numThreads = threads;
    }
    return ort;
  },
  get providers() {
    const all = hasGpu() ? ['wasm', 'webgpu'] : ['wasm'];
    return provider === 'webgpu' ? ['webgpu', 'wasm'] : all;
  },
  // onnxruntime-web 1.30's WebGPU kernels return NaN weight gradients for kdistill's Conv backward (seen on
  // Chromium's SwiftShader adapter; test/browser/webgpu.test.ts), and ReLU hides the NaN from the loss: training
  // steps stay on wasm, and the WebGPU opt-in runs teachers and evaluations.
  trainProvider: 'wasm',
  serialRuns: true,
  fillsOutputs: false,
  yieldToEvents,
  defaultThreads: () => threads,
  storage: webStorage,
  sha256: sha256Hex,
  versions: () => ({
    kdistill: typeof __KDISTILL_VERSION__ === 'string' ? __KDISTILL_VERSION__ : 'unknown',
    'onnxruntime-web': ortWeb.env.versions?.web ?? 'unknown',
    browser: g.navigator?.userAgent ?? 'unknown',
    threads: String(threads),
  }),
};
