import type { Graph, Value } from '../graph/graph.js';
import type { DType, Shape, TensorData } from '../graph/types.js';
import { KdError } from '../util/errors.js';
import type { Init } from './init.js';
import type { QuantSpec } from './quant/spec.js';

/** Whether a model is built for training (dropout, batch statistics) or for evaluation and export. */
export type Mode = 'train' | 'eval';

/** A model parameter (trainable) or buffer (state a layer updates itself, e.g. BatchNorm running statistics). */
export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Init;
  readonly trainable: boolean;
}

/** Where parameter values come from in the graph being built. */
export type ParamSource =
  /** Graph inputs fed each step (training and in-training evaluation). */
  | { kind: 'inputs' }
  /** Constant initializers holding these values (exported inference models). */
  | { kind: 'initializers'; values: ReadonlyMap<string, Float32Array> };

/** Per-step random input a layer needs (dropout masks), filled by the executor from a seeded stream. */
export interface NoiseSpec {
  readonly name: string;
  readonly shape: Shape;
}

/**
 * What layers see while a model builds its graph: the graph, the mode, and registries of the
 * parameters, buffer updates and noise inputs the layers declared. Names are scoped by module path.
 */
export class BuildContext {
  readonly params = new Map<string, ParamSpec>();
  readonly paramValues = new Map<string, Value>();
  /** New values of buffers computed in train mode (buffer name → value). */
  readonly bufferUpdates = new Map<string, Value>();
  readonly noise: NoiseSpec[] = [];
  /**
   * Fake quantisation the layers apply while this is set (a quantisation-aware model sets it around its forward pass);
   * undefined: the model computes in float.
   */
  quant?: QuantSpec;
  /** Each fake-quantised activation: the scope holding its range → the value it quantises (what the int8 exporter names it). */
  readonly quantSites = new Map<string, string>();
  /** Layers whose weights were fake-quantised (a model with none cannot train quantisation-aware). */
  readonly quantLayers: string[] = [];
  private readonly path: string[] = [];

  constructor(
    readonly g: Graph,
    readonly mode: Mode,
    readonly source: ParamSource = { kind: 'inputs' },
    /** Creates per-step inputs (noise); a multi-step graph slices them out of stacked loop inputs instead. */
    readonly makeInput: (name: string, dtype: DType, shape: Shape) => Value = (name, dtype, shape) => g.input(name, dtype, shape),
  ) {}

  get training(): boolean {
    return this.mode === 'train';
  }

  /**
   * The training step's number (float32 scalar, 1 at the first step) when this graph is a training step,
   * for layers on a schedule (codistillation's stale copies); train-graph.ts defines it as the value
   * 'step', a reserved name no model input may take. Undefined in eval mode and outside a training step.
   */
  step(): Value | undefined {
    return this.training && this.g.has('step') ? this.g.value('step') : undefined;
  }

  /** Runs `fn` inside a named scope: parameter names and node names get `name/` prefixed. */
  scope<T>(name: string, fn: () => T): T {
    this.path.push(name);
    try {
      return this.g.scoped(name, fn);
    } finally {
      this.path.pop();
    }
  }

  fullName(local: string): string {
    return [...this.path, local].join('/');
  }

  /** Declares (or reuses, when a module is applied twice) a trainable parameter. */
  param(local: string, shape: readonly number[], init: Init): Value {
    return this.declare(local, shape, init, true);
  }

  /** Declares a non-trainable buffer. */
  buffer(local: string, shape: readonly number[], init: Init): Value {
    return this.declare(local, shape, init, false);
  }

  /** Records the value a buffer takes after this step (train mode only). */
  updateBuffer(local: string, v: Value): void {
    this.bufferUpdates.set(this.fullName(local), v);
  }

  /** A uniform [0,1) input of the given shape (symbolic batch allowed), new every step. */
  uniformNoise(local: string, shape: Shape): Value {
    // A module applied twice draws fresh noise for each use.
    let name = this.fullName(local);
    for (let i = 1; this.g.has(name); i++) name = `${this.fullName(local)}_${i}`;
    this.noise.push({ name, shape });
    return this.makeInput(name, 'float32', shape);
  }

  private declare(local: string, shape: readonly number[], init: Init, trainable: boolean): Value {
    const name = this.fullName(local);
    const seen = this.paramValues.get(name);
    if (seen) return seen;
    this.params.set(name, { name, shape, init, trainable });
    let v: Value;
    // A graph input the caller already declared under this name (e.g. a test feeding it) is used as is.
    if (this.g.has(name)) {
      v = this.g.value(name);
      if (!this.g.inputs.includes(name) || v.shape.length !== shape.length || v.shape.some((d, i) => d !== shape[i]))
        throw new KdError(
          'DUPLICATE_NAME',
          `parameter '${name}' [${shape.join(', ')}] clashes with an existing value ${v.toString()} in graph '${this.g.name}'`,
        );
    } else if (this.source.kind === 'inputs') v = this.g.input(name, 'float32', shape);
    else {
      const data = this.source.values.get(name);
      if (!data) throw new KdError('MISSING_PARAM', `no value for parameter '${name}'`);
      if (data.length !== shape.reduce((a, b) => a * b, 1))
        throw new KdError('SHAPE_MISMATCH', `parameter '${name}' has ${data.length} values, expected shape [${shape.join(', ')}]`);
      const t: TensorData = { dtype: 'float32', shape, data };
      v = this.g.initializer(name, t, true);
    }
    this.paramValues.set(name, v);
    return v;
  }
}

/** Declared input of a model: dtype and shape with 'N' (or any symbol) for the batch. */
export interface InputSpec {
  readonly dtype: DType;
  readonly shape: Shape;
}
