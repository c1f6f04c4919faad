import type { Graph } from './graph.js';
import type { Node, TensorData } from './types.js';

/**
 * Folds inference-mode BatchNormalization into the Conv or Gemm that feeds it (when that producer
 * has constant weights and no other consumer): W' = W·s, b' = (b − mean)·s + β with s = γ/√(var + ε).
 * Any ONNX runtime then runs one op instead of two. Returns the number of folds.
 */
export function foldBatchNorm(g: Graph): number {
  const consumers = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  for (const o of g.outputs) consumers.set(o, (consumers.get(o) ?? 0) + 1);
  let folds = 0;
  for (let k = 0; k < g.nodes.length; k++) {
    const bn = g.nodes[k];
    if (bn.opType !== 'BatchNormalization') continue;
    const prodIdx = g.nodes.findIndex((n) => n.outputs[0] === bn.inputs[0]);
    if (prodIdx < 0) continue;
    const prod = g.nodes[prodIdx];
    if (consumers.get(prod.outputs[0]) !== 1) continue;
    const isConv = prod.opType === 'Conv';
    const isGemm =
      prod.opType === 'Gemm' && prod.attrs.transB?.value !== 1 && prod.attrs.alpha === undefined && prod.attrs.beta === undefined;
    if (!isConv && !isGemm) continue;
    const w = g.constant(prod.inputs[1]);
    const [gamma, beta, mean, vr] = bn.inputs.slice(1).map((n) => g.constant(n));
    if (!w || !gamma || !beta || !mean || !vr) continue;
    const bias = prod.inputs[2] ? g.constant(prod.inputs[2]) : undefined;
    if (prod.inputs[2] && !bias) continue;
    const eps = bn.attrs.epsilon?.kind === 'float' ? bn.attrs.epsilon.value : 1e-5;
    const C = gamma.shape[0];
    const s = new Float32Array(C);
    for (let c = 0; c < C; c++) s[c] = (gamma.data as Float32Array)[c] / Math.sqrt((vr.data as Float32Array)[c] + eps);
    const wd = Float32Array.from(w.data as Float32Array);
    if (isConv) {
      const per = wd.length / C; // conv weights are [Cout, ...]
      for (let i = 0; i < wd.length; i++) wd[i] *= s[Math.floor(i / per)];
    } else {
      for (let i = 0; i < wd.length; i++) wd[i] *= s[i % C]; // Gemm weights are [in, out]
    }
    const bd = new Float32Array(C);
    for (let c = 0; c < C; c++)
      bd[c] = ((bias ? (bias.data as Float32Array)[c] : 0) - (mean.data as Float32Array)[c]) * s[c] + (beta.data as Float32Array)[c];
    const wv = g.initializer(`${prod.inputs[1]}_folded`, { dtype: 'float32', shape: w.shape, data: wd } as TensorData);
    const bv = g.initializer(`${prod.name}/bias_folded`, { dtype: 'float32', shape: [C], data: bd });
    const fused: Node = { ...prod, inputs: [prod.inputs[0], wv.name, bv.name], outputs: [bn.outputs[0]] };
    g.nodes[prodIdx] = fused;
    g.nodes.splice(k, 1);
    k--;
    folds++;
  }
  pruneInitializers(g);
  return folds;
}

/** Drops initializers no node reads any more (the unfolded weights and BN statistics). */
export function pruneInitializers(g: Graph): void {
  const used = new Set(g.nodes.flatMap((n) => n.inputs));
  for (const o of g.outputs) used.add(o);
  for (const name of [...g.initializers.keys()]) if (!used.has(name)) g.initializers.delete(name);
}
