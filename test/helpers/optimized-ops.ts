import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOnnx } from '../../src/graph/onnx.js';
import { ort } from '../../src/runtime/ort.js';

/** Ops of the graph ONNX Runtime actually runs after its optimisations (saved by the session): which Q/DQ pairs it fused. */
export async function optimizedOps(bytes: Uint8Array): Promise<string[]> {
  const path = join(mkdtempSync(join(tmpdir(), 'kd-opt-')), 'opt.onnx');
  const s = await ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: 'extended',
    optimizedModelFilePath: path,
    intraOpNumThreads: 1,
  });
  await s.release();
  return parseOnnx(readFileSync(path)).graph!.node.map((n) => n.opType);
}
