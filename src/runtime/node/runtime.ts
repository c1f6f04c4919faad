import { hash } from 'node:crypto';
import { createRequire } from 'node:module';
import os from 'node:os';
import ort from 'onnxruntime-node';
import type { Runtime } from '../runtime.js';
import { probeNchwcBlock } from '../nchwc-probe.js';
import { nodeStorage } from './storage.js';
import { WorkerTeacher } from './worker-teacher.js';

const require = createRequire(import.meta.url);

/** Version of an installed package, 'unknown' when it cannot be found. */
function versionOf(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * kdistill on Node: onnxruntime-node, node:fs, node:crypto and worker-thread teachers.
 * Execution providers: onnxruntime-node 1.30 also lists webgpu (bundled; it needs a GPU adapter, which
 * machines without Vulkan lack) and cuda/tensorrt (not bundled: the install script that fetches them is
 * skipped), so only cpu is offered.
 */
export const nodeRuntime: Runtime = {
  name: 'node',
  ort,
  providers: ['cpu'],
  nchwcBlock: (provider) => (provider === 'cpu' && process.env.KDISTILL_NCHWC !== '0' ? probeNchwcBlock(provider) : Promise.resolve(0)),
  defaultThreads: () => os.availableParallelism?.() ?? os.cpus().length,
  storage: nodeStorage,
  // One-shot `hash` costs a third of a createHash() chain, which shows when a cache hashes every sample.
  sha256: (data) => hash('sha256', data, 'hex'),
  versions: () => ({
    // From src/runtime/node/ and dist/runtime/node/ alike, the package root is three levels up.
    kdistill: (require('../../../package.json') as { version: string }).version,
    node: process.version,
    'onnxruntime-node': versionOf('onnxruntime-node'),
    os: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: `${os.cpus()[0]?.model ?? 'unknown'} ×${os.cpus().length}`,
  }),
  startWorkerTeacher: (model, threads) => WorkerTeacher.start(model, threads),
};
