/**
 * An ONNX graph being edited by the teacher adapters: nodes to run before and after the original ones, new constants,
 * and value names that are fresh in the graph.
 */
import { create } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AT,
  AttributeProtoSchema,
  NodeProtoSchema,
  ValueInfoProtoSchema,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf/dist/onnx_pb.js';
import { tensorProto } from '../../graph/onnx.js';
import type { TensorData } from '../../graph/types.js';

/** A graph being edited: nodes before and after the original ones, new constants, fresh value names. */
export class GraphEdit {
  readonly before: NodeProto[] = [];
  readonly after: NodeProto[] = [];
  readonly constants: TensorProto[] = [];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  nodes: NodeProto[];
  private readonly used = new Set<string>();

  constructor(private readonly g: GraphProto) {
    this.inputs = [...g.input];
    this.outputs = [...g.output];
    this.valueInfo = [...g.valueInfo];
    this.nodes = [...g.node];
    for (const v of [...g.input, ...g.output, ...g.valueInfo, ...g.initializer]) this.used.add(v.name);
    for (const n of g.node) for (const v of [...n.input, ...n.output, n.name]) this.used.add(v);
  }

  /** A value or node name not yet in the graph, starting from `base`. */
  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }

  has(name: string): boolean {
    return this.used.has(name);
  }

  constant(base: string, t: TensorData): string {
    const name = this.fresh(`kdistill_adapt/${base}`);
    this.constants.push(tensorProto(name, t));
    return name;
  }

  node(to: NodeProto[], opType: string, inputs: string[], output: string, attrs: Record<string, string | number | number[]> = {}): string {
    to.push(
      create(NodeProtoSchema, {
        name: this.fresh(`kdistill_adapt/${opType}`),
        opType,
        input: inputs,
        output: [output],
        attribute: Object.entries(attrs).map(([name, v]) =>
          typeof v === 'string'
            ? create(AttributeProtoSchema, { name, type: AT.STRING, s: new TextEncoder().encode(v) as Uint8Array<ArrayBuffer> })
            : typeof v === 'number'
              ? create(AttributeProtoSchema, { name, type: AT.INT, i: BigInt(v) })
              : create(AttributeProtoSchema, { name, type: AT.INTS, ints: v.map((x) => BigInt(x)) }),
        ),
      }),
    );
    return output;
  }

  /** Renames a value the original nodes produce or read, and its output and type declarations. */
  rename(from: string, to: string): void {
    const r = (n: string) => (n === from ? to : n);
    this.nodes = this.nodes.map((n) => create(NodeProtoSchema, { ...n, input: n.input.map(r), output: n.output.map(r) }));
    this.outputs = this.outputs.map((v) => (v.name === from ? create(ValueInfoProtoSchema, { ...v, name: to }) : v));
    this.valueInfo = this.valueInfo.map((v) => (v.name === from ? create(ValueInfoProtoSchema, { ...v, name: to }) : v));
  }

  graph(): GraphProto {
    return {
      ...this.g,
      node: [...this.before, ...this.nodes, ...this.after],
      initializer: [...this.g.initializer, ...this.constants],
      input: this.inputs,
      output: this.outputs,
      valueInfo: this.valueInfo,
    };
  }
}
