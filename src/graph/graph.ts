import { KdError } from '../util/errors.js';
import { inferShapes } from './shape-infer.js';
import type { Attrs, DType, Node, Shape, TensorData, ValueInfo } from './types.js';
import { shapeToString } from './types.js';

/** A composite with a hand-written gradient: its inputs, the nodes it spans, and its gradient rule. */
export interface CustomGradient {
  readonly inputs: readonly string[];
  readonly internal: ReadonlySet<Node>;
  readonly grad: (dy: Value) => (Value | undefined)[];
}

/** A handle on one value of a graph: what ops take and return. */
export class Value {
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
  ) {}
  get rank(): number {
    return this.shape.length;
  }
  toString(): string {
    return `${this.name}:${this.dtype}${shapeToString(this.shape)}`;
  }
}

/**
 * An ONNX-shaped graph under construction: named inputs, initializers, nodes in topological
 * order and outputs, with the inferred type of every value.
 */
export class Graph {
  readonly inputs: string[] = [];
  readonly outputs: string[] = [];
  readonly nodes: Node[] = [];
  readonly initializers = new Map<string, TensorData>();
  readonly info = new Map<string, ValueInfo>();
  private readonly used = new Set<string>();
  private readonly scopes: string[] = [];
  private readonly producerOf = new Map<string, Node>();
  /** Subgraphs whose gradient is given by hand (see {@link customGradient}), keyed by their output. */
  readonly customGrads = new Map<string, CustomGradient>();

  constructor(readonly name = 'graph') {}

  /** Runs `fn` with names prefixed by `scope/`, so layers get names like `block1/conv/Conv`. */
  scoped<T>(scope: string, fn: () => T): T {
    this.scopes.push(scope);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** A fresh name under the current scope; `exact` names are taken as given and must be free. */
  uniqueName(base: string, exact = false): string {
    const full = exact ? base : [...this.scopes, base].join('/');
    if (exact) {
      if (this.used.has(full)) throw new KdError('DUPLICATE_NAME', `graph '${this.name}' already has a value named '${full}'`);
      this.used.add(full);
      return full;
    }
    let name = full;
    for (let i = 1; this.used.has(name); i++) name = `${full}_${i}`;
    this.used.add(name);
    return name;
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    const n = this.uniqueName(name, true);
    this.inputs.push(n);
    this.info.set(n, { dtype, shape });
    return new Value(this, n, dtype, shape);
  }

  /** Adds a constant tensor; `exact` keeps the name (parameters), otherwise it is made unique in scope. */
  initializer(name: string, t: TensorData, exact = false): Value {
    const n = this.uniqueName(name, exact);
    this.initializers.set(n, t);
    this.info.set(n, { dtype: t.dtype, shape: t.shape });
    return new Value(this, n, t.dtype, t.shape);
  }

  /**
   * Declares a value this graph reads from an enclosing graph (a Loop body reading the loop's inputs):
   * usable by nodes, but neither an input nor an initializer of this graph.
   */
  outer(name: string, dtype: DType, shape: Shape): Value {
    this.used.add(name);
    this.info.set(name, { dtype, shape });
    return new Value(this, name, dtype, shape);
  }

  /** Looks up an existing value by name. */
  value(name: string): Value {
    const i = this.info.get(name);
    if (!i) throw new KdError('UNKNOWN_VALUE', `graph '${this.name}' has no value named '${name}'`);
    return new Value(this, name, i.dtype, i.shape);
  }

  has(name: string): boolean {
    return this.info.has(name);
  }

  /**
   * A value by its name or by the name of the node producing it (its first output): files from other
   * exporters name a node '/block/Relu' and its output '/block/Relu_output_0', and either may be used to tap it.
   */
  tap(name: string): Value | undefined {
    if (this.info.has(name)) return this.value(name);
    const n = this.nodes.find((x) => x.name === name);
    return n ? this.value(n.outputs[0]) : undefined;
  }

  producer(name: string): Node | undefined {
    return this.producerOf.get(name);
  }

  /** Constant data of a value if it is an initializer (used by shape inference for Reshape targets and the like). */
  constant(name: string): TensorData | undefined {
    return this.initializers.get(name);
  }

  /**
   * Appends a node and infers its outputs' types. `name` becomes the node name (scoped, unique);
   * outputs are named `<node>:<i>` unless `outNames` says otherwise.
   */
  node(
    opType: string,
    inputs: readonly (Value | string)[],
    attrs: Attrs = {},
    opts: { name?: string; nOut?: number; outNames?: string[]; domain?: string } = {},
  ): Value[] {
    const inNames = inputs.map((v) => (typeof v === 'string' ? v : v.name));
    for (const n of inNames) {
      if (n !== '' && !this.info.has(n)) throw new KdError('UNKNOWN_VALUE', `node ${opType}: input '${n}' is not in graph '${this.name}'`);
    }
    const name = this.uniqueName(opts.name ?? opType);
    const nOut = opts.outNames?.length ?? opts.nOut ?? 1;
    const outs = opts.outNames
      ? opts.outNames.map((o) => this.uniqueName(o, true))
      : nOut === 1
        ? [name]
        : Array.from({ length: nOut }, (_, i) => this.uniqueName(`${name}:${i}`, true));
    const node: Node = { name, opType, inputs: inNames, outputs: outs, attrs, domain: opts.domain };
    const inInfo = inNames.map((n) => (n === '' ? undefined : this.info.get(n)));
    const outInfo = inferShapes(this, node, inInfo);
    this.nodes.push(node);
    outs.forEach((o, i) => {
      this.info.set(o, outInfo[i]);
      this.producerOf.set(o, node);
    });
    return outs.map((o, i) => new Value(this, o, outInfo[i].dtype, outInfo[i].shape));
  }

  /**
   * Builds a composite from primitive ops whose gradient is supplied by `grad` instead of being derived
   * op by op: the reverse pass skips the composite's internal nodes and calls `grad` at its output.
   * Used where a closed form is much cheaper (train-mode BatchNorm).
   */
  customGradient(inputs: readonly Value[], build: () => Value, grad: (dy: Value) => (Value | undefined)[]): Value {
    const start = this.nodes.length;
    const out = build();
    const internal = new Set(this.nodes.slice(start));
    this.customGrads.set(out.name, { inputs: inputs.map((v) => v.name), internal, grad });
    return out;
  }

  /** Marks values as graph outputs (in order). */
  output(...vals: Value[]): void {
    for (const v of vals) if (!this.outputs.includes(v.name)) this.outputs.push(v.name);
  }
}
