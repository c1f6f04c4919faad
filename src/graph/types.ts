/** Element types kdistill graphs use; names follow ONNX TensorProto.DataType. */
export type DType = 'float32' | 'int64' | 'bool' | 'int32' | 'float64';

/** A dimension: a fixed size, or a symbol such as 'N' for the batch that ONNX Runtime resolves at run time. */
export type Dim = number | string;
/** A tensor shape: fixed sizes and symbolic dimensions. */
export type Shape = readonly Dim[];

/** A typed array matching a DType. */
export type TypedData = Float32Array | BigInt64Array | Uint8Array | Int32Array | Float64Array;

/** A constant tensor held in a graph (initializer) or passed to a session. */
export interface TensorData {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TypedData;
}

/** Attribute values carry their ONNX kind explicitly because ONNX distinguishes 1 (int) from 1.0 (float). */
export type Attr =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: TensorData }
  /** A subgraph (the body of Loop/If); typed loosely here to keep this module free of the Graph class. */
  | { kind: 'graph'; value: SubgraphRef };

/** What a graph attribute refers to: a Graph instance (see graph.ts) and the outputs of its body. */
export interface SubgraphRef {
  readonly graph: unknown;
}

export const A = {
  i: (value: number): Attr => ({ kind: 'int', value }),
  f: (value: number): Attr => ({ kind: 'float', value }),
  ints: (value: readonly number[]): Attr => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): Attr => ({ kind: 'floats', value }),
  s: (value: string): Attr => ({ kind: 'string', value }),
  t: (value: TensorData): Attr => ({ kind: 'tensor', value }),
  g: (graph: unknown): Attr => ({ kind: 'graph', value: { graph } }),
};

export type Attrs = Record<string, Attr>;

/** One operator application. Every node has a unique name so features can be tapped by it. */
export interface Node {
  readonly name: string;
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Attrs;
  readonly domain?: string;
}

/** Static type of a value: its element type and (possibly symbolic) shape. */
export interface ValueInfo {
  readonly dtype: DType;
  readonly shape: Shape;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isStatic(shape: Shape): shape is readonly number[] {
  return shape.every((d) => typeof d === 'number');
}

export function allocData(dtype: DType, n: number): TypedData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'bool':
      return new Uint8Array(n);
  }
}

export function shapeToString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}
