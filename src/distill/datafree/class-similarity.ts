import { parseOnnx, tensorFromProto } from '../../graph/onnx.js';
import type { TensorData } from '../../graph/types.js';
import { KdError } from '../../util/errors.js';

/**
 * Ops between the final layer and the output that keep the class order: reshapes, and the monotone maps of a teacher
 * that outputs probabilities (Softmax, and the clamp and Log its `output: { kind: probs }` adapter adds).
 */
const PASS_THROUGH = new Set(['Identity', 'Flatten', 'Reshape', 'Squeeze', 'Softmax', 'LogSoftmax', 'Log', 'Max', 'Clip']);

/**
 * The teacher's final-layer weights as one row per class [classes][features]: the Gemm (or MatMul, with or without
 * its Add) that produces the class scores. ZSKD reads its class similarities from them.
 */
export function finalLayerWeights(bytes: Uint8Array, source = 'teacher'): Float32Array[] {
  return finalLayer(bytes, source, 'ZSKD reads class similarities from').weights;
}

/**
 * The final fully connected layer of a teacher: the value it reads (the penultimate features, by the file's value
 * name) and its weights per class. `who` says in a refusal which method needs it.
 */
export function finalLayer(bytes: Uint8Array, source: string, who: string): { input: string; weights: Float32Array[] } {
  const g = parseOnnx(bytes, source).graph!;
  const inits = new Map<string, TensorData>(g.initializer.map((t) => [t.name, tensorFromProto(t)]));
  const producer = new Map(g.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
  const refuse = (why: string): never => {
    throw new KdError(
      'BAD_TEACHER',
      `${source}: ${why}; ${who} a final fully connected layer (Gemm or MatMul with a constant weight) producing the ` +
        'class scores; pick another dataFree method for this teacher',
    );
  };
  let node = producer.get(g.output[0].name);
  // A Max's other operand is the clamp's constant; the scores are the operand a node makes.
  while (node && PASS_THROUGH.has(node.opType)) node = producer.get(node.input.find((i) => producer.has(i)) ?? node.input[0]);
  if (node?.opType === 'Add') node = node.input.map((i) => producer.get(i)).find((n) => n?.opType === 'MatMul' || n?.opType === 'Gemm');
  if (!node || (node.opType !== 'Gemm' && node.opType !== 'MatMul'))
    return refuse(`its output '${g.output[0].name}' is not made by a Gemm or MatMul`);
  const w = inits.get(node.input[1]);
  if (w?.shape.length !== 2 || w.dtype !== 'float32') return refuse(`node '${node.name}' takes no constant 2-D float weight`);
  const transB = node.opType === 'Gemm' && node.attribute.some((a) => a.name === 'transB' && Number(a.i) === 1);
  // MatMul and a plain Gemm hold [features, classes]; Gemm with transB (PyTorch's Linear) holds [classes, features].
  const [rows, cols] = w.shape as number[];
  const [classes, features] = transB ? [rows, cols] : [cols, rows];
  const data = w.data as Float32Array;
  const weights = Array.from({ length: classes }, (_, k) =>
    Float32Array.from({ length: features }, (_, j) => (transB ? data[k * cols + j] : data[j * cols + k])),
  );
  return { input: node.input[0], weights };
}

/**
 * ZSKD's class similarity matrix: cosine similarity of the final-layer weight vectors, each row min-max scaled to
 * [0, 1] (so a class is most similar to itself, 1, and least to one other, 0).
 */
export function classSimilarity(weights: readonly Float32Array[]): number[][] {
  const norm = weights.map((w) => Math.sqrt(w.reduce((a, b) => a + b * b, 0)) || 1);
  return weights.map((wi, i) => {
    const row = weights.map((wj, j) => wi.reduce((a, b, t) => a + b * wj[t], 0) / (norm[i] * norm[j]));
    const lo = Math.min(...row),
      hi = Math.max(...row);
    return row.map((v) => (hi > lo ? (v - lo) / (hi - lo) : 1));
  });
}
