import { Graph } from '../graph/graph.js';
import { NCHWC_DOMAIN } from '../graph/nchwc.js';
import { toOnnx } from '../graph/onnx.js';
import { createSession } from './ort.js';
import { runtime } from './runtime.js';

const probed = new Map<string, Promise<number>>();

/**
 * Asks ONNX Runtime for its NCHWc channel block on `provider`: ReorderInput pads channels up to the block, so
 * reordering 4 channels reports it. 0 where the op is missing or the block is too small to pay (no AVX2).
 */
export function probeNchwcBlock(provider: string): Promise<number> {
  let p = probed.get(provider);
  if (!p) {
    p = (async () => {
      const g = new Graph('nchwc-probe');
      g.input('x', 'float32', [1, 4, 1, 1]);
      g.nodes.push({ name: 'y', opType: 'ReorderInput', inputs: ['x'], outputs: ['y'], attrs: {}, domain: NCHWC_DOMAIN });
      g.info.set('y', { dtype: 'float32', shape: ['n', 'c', 'h', 'w'] });
      g.outputs.push('y');
      try {
        const s = await createSession(toOnnx(g), { threads: 1, provider });
        const out = await s.run({ x: new (runtime().ort.Tensor)('float32', Float32Array.of(1, 2, 3, 4), [1, 4, 1, 1]) });
        await s.release();
        const block = out.y.dims[1];
        return block >= 8 ? block : 0;
      } catch {
        return 0;
      }
    })();
    probed.set(provider, p);
  }
  return p;
}
