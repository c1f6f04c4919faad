// The arithmetic floor of each `kdistill bench` row (not CI): how many floating-point operations one image's step
// needs, how fast this machine's best ONNX Runtime kernels compute, and so the highest images/s any engine built on
// them could reach, beside what 1.5× PyTorch would demand (docs/performance.md, "Why rows stay below 1.5×").
//   1. FLOPs per image: the multiply-adds of every Conv, Gemm and MatMul of the model (teacher and student for the KD
//      rows), ×2 per multiply-add, ×3 for training (forward, input gradient, weight gradient; the first layer has no
//      input gradient). Elementwise work is left out, so the floor is generous.
//   2. Peak: a 1024³ Gemm (MLAS SGEMM) and a 64→64 3×3 NCHWc convolution at 16² × 128 images, in GFLOP/s, at 1 and 2
//      threads; the faster is the ceiling a step made of those kernels could run at.
//   3. With --results <kd-step.json> (the output of `kdistill bench --json`): each row's PyTorch best layout, the
//      GFLOP/s 1.5× of it would need, and that as a share of the measured peak.
// Usage: npx tsx bench/floor.ts [--results bench/results/kd-step-YYYY-MM-DD.json]
import '../src/node-setup.js';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { trainPairs } from '../src/bench/train-step.js';
import { Graph } from '../src/graph/graph.js';
import { lowerConvsToNchwc } from '../src/graph/nchwc.js';
import * as op from '../src/graph/ops.js';
import { toOnnx } from '../src/graph/onnx.js';
import type { ModelDef } from '../src/nn/model.js';
import { Model } from '../src/nn/model.js';
import { referencePairs } from '../src/nn/zoo/index.js';
import { probeNchwcBlock } from '../src/runtime/nchwc-probe.js';
import { createSession, ort } from '../src/runtime/ort.js';

const { values: a } = parseArgs({ options: { results: { type: 'string' } } });

/** Multiply-adds per image of a model's Conv, Gemm and MatMul nodes, and those of its first layer. */
function macsPerImage(def: ModelDef): { total: number; first: number } {
  const g = new Model(def, 0).build('eval').graph;
  let total = 0,
    first = -1;
  for (const n of g.nodes) {
    let macs = 0;
    if (n.opType === 'Conv') {
      const w = g.info.get(n.inputs[1])!.shape as number[];
      const y = g.info.get(n.outputs[0])!.shape.slice(2) as number[];
      macs = w.reduce((p, q) => p * q, 1) * y.reduce((p, q) => p * q, 1);
    } else if (n.opType === 'Gemm' || n.opType === 'MatMul') {
      const w = g.info.get(n.inputs[1])!.shape as number[];
      macs = w.reduce((p, q) => p * q, 1);
    }
    if (macs && first < 0) first = macs;
    total += macs;
  }
  return { total, first: Math.max(first, 0) };
}

const trainFlops = (def: ModelDef) => {
  const m = macsPerImage(def);
  return 2 * (3 * m.total - m.first);
};
const evalFlops = (def: ModelDef) => 2 * macsPerImage(def).total;
const kd = referencePairs;
const flopsPerImage: Record<string, number> = {
  mlp: evalFlops(kd.mlp.teacher()) + trainFlops(kd.mlp.student()),
  cnn: evalFlops(kd.cnn.teacher()) + trainFlops(kd.cnn.student()),
  'cnn-train': trainFlops(trainPairs['cnn-train'].model()),
  resnet20: trainFlops(trainPairs.resnet20.model()),
};

async function timeGraph(g: Graph, feeds: Record<string, ort.Tensor>, threads: number): Promise<number> {
  const s = await createSession(toOnnx(g), { threads, spin: true });
  for (let i = 0; i < 3; i++) await s.run(feeds);
  const reps = 10;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await s.run(feeds);
  const ms = (performance.now() - t0) / reps;
  await s.release();
  return ms;
}
const rand = (shape: number[]) =>
  new ort.Tensor(
    'float32',
    Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => Math.random() - 0.5),
    shape,
  );

async function gemmPeak(threads: number): Promise<number> {
  const n = 1024;
  const g = new Graph('gemm');
  const x = g.input('a', 'float32', [n, n]),
    y = g.input('b', 'float32', [n, n]);
  // Four chained products so the result's copy out of ORT is a small share of the time.
  let h = x;
  for (let i = 0; i < 4; i++) h = op.gemm(h, y, undefined, { alpha: 1 / 32 });
  g.output(op.identity(h, 'out'));
  const ms = await timeGraph(g, { a: rand([n, n]), b: rand([n, n]) }, threads);
  return (4 * 2 * n ** 3) / ms / 1e6;
}

async function convPeak(threads: number, block: number): Promise<number> {
  const shape = [128, 64, 16, 16];
  const g = new Graph('conv');
  const x = g.input('x', 'float32', shape),
    w = g.input('w', 'float32', [64, 64, 3, 3]);
  let h = x;
  for (let i = 0; i < 4; i++) h = op.conv(h, w, undefined, { pads: [1, 1, 1, 1] });
  g.output(op.identity(op.reduceSum(h, undefined, false), 'out'));
  if (block) lowerConvsToNchwc(g, block);
  const ms = await timeGraph(g, { x: rand(shape), w: rand([64, 64, 3, 3]) }, threads);
  return (4 * 2 * 128 * 64 * 64 * 9 * 16 * 16) / ms / 1e6;
}

const block = (await probeNchwcBlock('cpu')) ?? 0;
const peak = new Map<number, number>();
for (const t of [1, 2]) {
  const gemm = await gemmPeak(t),
    conv = await convPeak(t, block);
  peak.set(t, Math.max(gemm, conv));
  console.log(
    `${t} thread(s): Gemm 1024³ ${gemm.toFixed(1)} GFLOP/s, Conv 64→64 3×3 at 16² (NCHWc block ${block}) ${conv.toFixed(1)} GFLOP/s`,
  );
}
console.log('\nrow        GFLOP per image (training: ×3 of forward)');
for (const [k, f] of Object.entries(flopsPerImage)) console.log(`${k.padEnd(10)} ${(f / 1e9).toFixed(4)}`);

if (a.results) {
  interface Side {
    imgPerSec: number;
  }
  const res = JSON.parse(readFileSync(a.results, 'utf8')) as {
    results: { pair: string; threads: number; mode: string; kdistill: Side; torch?: Side; torchChannelsLast?: Side }[];
  };
  console.log('\nrow        thr  mode        kdistill GFLOP/s  PyTorch best img/s  GFLOP/s  1.5× needs GFLOP/s  share of peak');
  for (const r of res.results) {
    const f = flopsPerImage[r.pair];
    const best = Math.max(r.torch?.imgPerSec ?? 0, r.torchChannelsLast?.imgPerSec ?? 0);
    if (!f || !best) continue;
    const need = (1.5 * best * f) / 1e9;
    const ours = ((r.kdistill.imgPerSec * f) / 1e9).toFixed(1).padStart(16);
    console.log(
      `${r.pair.padEnd(10)} ${String(r.threads).padStart(3)}  ${r.mode.padEnd(10)}  ${ours}  ` +
        `${String(best).padStart(18)}  ${((best * f) / 1e9).toFixed(1).padStart(7)}  ${need.toFixed(1).padStart(18)}  ` +
        `${((100 * need) / peak.get(r.threads)!).toFixed(0).padStart(12)}%`,
    );
  }
}
