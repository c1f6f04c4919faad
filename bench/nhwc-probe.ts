// Which float NHWC kernels does this ONNX Runtime's CPU provider have? (docs/performance.md, "What was tried").
// Opens a one-node session per candidate (a 3×3 conv or a 2×2 max-pool over an NHWC [2, 8, 8, 16] input), runs it
// once and prints OK with the output shape, or the error ORT gave.
// Usage: npx tsx bench/nhwc-probe.ts
import '../src/node-setup.js';
import { A, type Attrs } from '../src/graph/types.js';
import { Graph } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import { createSession, ort } from '../src/runtime/ort.js';

const candidates: [domain: string, opType: string][] = [
  ['com.microsoft', 'NhwcFusedConv'],
  ['com.microsoft', 'NhwcConv'],
  ['com.ms.internal.nhwc', 'Conv'],
  ['com.microsoft', 'NhwcMaxPool'],
  ['com.ms.internal.nhwc', 'MaxPool'],
];
const [N, H, W, C] = [2, 8, 8, 16];

for (const [domain, opType] of candidates) {
  const pool = opType.endsWith('MaxPool');
  const g = new Graph('probe');
  const x = g.input('x', 'float32', [N, H, W, C]);
  const w = g.input('w', 'float32', [C, C, 3, 3]);
  const attrs: Attrs = pool
    ? { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) }
    : { kernel_shape: A.ints([3, 3]), pads: A.ints([1, 1, 1, 1]) };
  // Pushed as is: kdistill's shape inference does not know these ops.
  g.nodes.push({ name: 'probe', opType, inputs: pool ? [x.name] : [x.name, w.name], outputs: ['y'], attrs, domain });
  g.info.set('y', { dtype: 'float32', shape: pool ? [N, H / 2, W / 2, C] : [N, H, W, C] });
  g.output(g.value('y'));
  try {
    const s = await createSession(toOnnx(g), { threads: 1 });
    const feeds: Record<string, ort.Tensor> = { x: new ort.Tensor('float32', new Float32Array(N * H * W * C).fill(1), [N, H, W, C]) };
    if (!pool) feeds.w = new ort.Tensor('float32', new Float32Array(C * C * 9).fill(0.1), [C, C, 3, 3]);
    const r = await s.run(feeds);
    console.log(`${domain}.${opType}: OK, output ${r.y.dims.join('×')}`);
    await s.release();
  } catch (e) {
    console.log(
      `${domain}.${opType}: ${String((e as Error).message)
        .split('\n')[0]
        .slice(0, 160)}`,
    );
  }
}
