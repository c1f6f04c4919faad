import type { GraphProto, NodeProto } from 'onnx-buf/dist/onnx_pb.js';

/*
 * Which activations of a float model get a QuantizeLinear/DequantizeLinear pair. The choices follow
 * what ONNX Runtime's CPU provider turns into integer kernels: a Conv/Gemm/MatMul whose inputs all come
 * from DequantizeLinear (and whose output goes to QuantizeLinear) becomes QLinearConv / QGemm /
 * QLinearMatMul; DQ → MaxPool/Flatten/Reshape… → Q with equal parameters is run on uint8 directly.
 * Pools and reshapes are quantized only downstream of an integer op, so a region kept in float (see
 * `exclude`) stays float: a lone uint8 MaxPool in NCHW ran ~5× slower than the float one in ORT 1.30.
 */

/** Ops computed in int8 when their weights/inputs are quantized, and which inputs are activations. */
const COMPUTE: Record<string, readonly number[]> = { Conv: [0], Gemm: [0, 1], MatMul: [0, 1], Add: [0, 1] };

/** Ops that only move or select values: their output reuses their input's scale and zero point. */
const PASS = new Set(['MaxPool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze']);

/** Ops that stay in the integer domain when their input is there (QLinearAveragePool…, or Relu dropped). */
const FOLLOW = new Set([...PASS, 'AveragePool', 'GlobalAveragePool']);

/** Ops a following Relu is folded into: a Q with zero point 0 clamps at 0 exactly as the Relu does. */
const RELU_INTO = new Set(['Conv', 'Gemm', 'MatMul', 'Add']);

export interface PlanOptions {
  /** Nodes (by name or first output) to keep in float, as ORT's `nodes_to_exclude`. */
  exclude?: readonly string[];
}

export interface QdqPlan {
  /** Activations (graph inputs or node outputs) that get a Q/DQ pair. */
  tensors: Set<string>;
  /** Pass-op outputs mapped to the tensor whose scale and zero point they reuse. */
  shared: Map<string, string>;
  /** Per node, the input positions that read the dequantized tensor instead of the float one. */
  reads: Map<NodeProto, number[]>;
  /** Nodes whose weights are quantized (Conv/Gemm/MatMul not kept in float). */
  intNodes: Set<NodeProto>;
  /** Relu nodes dropped because their producer's output is quantized with zero point 0 (as ORT's quantizer does). */
  droppedRelu: Set<NodeProto>;
}

/** Names that hold constants: initializers and Constant node outputs. */
export function constants(g: GraphProto): Set<string> {
  const c = new Set(g.initializer.map((t) => t.name));
  for (const n of g.node) if (n.opType === 'Constant') c.add(n.output[0]);
  return c;
}

/** The nodes `o` keeps in float. */
function floatNodesOf(g: GraphProto, o: PlanOptions): Set<NodeProto> {
  const exclude = new Set(o.exclude ?? []);
  return new Set(g.node.filter((n) => exclude.has(n.name) || exclude.has(n.output[0])));
}

export function planQdq(g: GraphProto, o: PlanOptions = {}): QdqPlan {
  const consts = constants(g);
  const floatNodes = floatNodesOf(g, o);
  const producer = new Map<string, NodeProto>();
  const uses = new Map<string, number>();
  for (const n of g.node) {
    for (const out of n.output) producer.set(out, n);
    for (const i of n.input) uses.set(i, (uses.get(i) ?? 0) + 1);
  }
  const outputs = new Set(g.output.map((x) => x.name));
  const tensors = new Set<string>();
  const reads = new Map<NodeProto, number[]>();
  const intNodes = new Set<NodeProto>();
  /** Values an integer op produced (directly, or through Relu and FOLLOW ops). */
  const inInt = new Set<string>();
  const read = (n: NodeProto, pos: number[]) => {
    if (!pos.length) return;
    reads.set(n, pos);
    for (const p of pos) tensors.add(n.input[p]);
  };
  for (const n of g.node) {
    if (floatNodes.has(n)) continue;
    const act = COMPUTE[n.opType];
    // Add with a constant is a bias add after MatMul: left in float, as quantizing a lone Add gains nothing.
    if (act && !(n.opType === 'Add' && n.input.some((i) => consts.has(i)))) {
      read(
        n,
        act.filter((p) => n.input[p] && !consts.has(n.input[p])),
      );
      intNodes.add(n);
      inInt.add(n.output[0]);
    } else if (FOLLOW.has(n.opType) && inInt.has(n.input[0])) {
      read(n, [0]);
      inInt.add(n.output[0]);
    } else if (n.opType === 'Relu' && inInt.has(n.input[0])) {
      inInt.add(n.output[0]);
    }
  }

  const shared = new Map<string, string>();
  for (const n of g.node) {
    if (!PASS.has(n.opType) || !tensors.has(n.input[0]) || !tensors.has(n.output[0])) continue;
    shared.set(n.output[0], shared.get(n.input[0]) ?? n.input[0]);
  }

  const droppedRelu = new Set<NodeProto>();
  for (const r of g.node) {
    if (r.opType !== 'Relu' || !tensors.has(r.output[0])) continue;
    const x = r.input[0];
    const p = producer.get(x);
    if (!p || !RELU_INTO.has(p.opType) || uses.get(x) !== 1 || outputs.has(x)) continue;
    droppedRelu.add(r);
  }
  return { tensors, shared, reads, intNodes, droppedRelu };
}
