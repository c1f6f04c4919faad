import { Graph, type Value } from '../graph/graph.js';
import { KdError } from '../util/errors.js';
import { BuildContext, type InputSpec, type Mode, type ParamSource, type ParamSpec } from './context.js';
import { initialize } from './init.js';
import type { QuantSpec } from './quant/spec.js';

/** A model as code: its inputs and a function that emits its forward pass under a BuildContext. */
export interface ModelDef {
  readonly name: string;
  readonly inputs: Readonly<Record<string, InputSpec>>;
  /** Emits the forward pass and returns named outputs; classifiers return `logits`. */
  forward(ctx: BuildContext, inputs: Record<string, Value>): Record<string, Value>;
  /**
   * The names an exported file gives the model's inputs and outputs, by the core's name (`{ x: 'pixels' }`,
   * `{ logits: 'scores' }`): an imported model works under the core's names and is written back under its own.
   */
  readonly ioNames?: Readonly<Record<string, string>>;
  /** Set on a model trained with fake quantisation (see `withQuantization`): how, and the same model computing in float. */
  readonly quantization?: { readonly spec: QuantSpec; readonly float: ModelDef };
}

/** The result of building a model into a fresh graph. */
export interface BuiltModel {
  readonly graph: Graph;
  readonly ctx: BuildContext;
  readonly inputs: Record<string, Value>;
  readonly outputs: Record<string, Value>;
}

/** Emits `def` into graph `g` (which may already hold other models, e.g. a training step). */
export function emitModel(
  def: ModelDef,
  g: Graph,
  mode: Mode,
  source: ParamSource = { kind: 'inputs' },
  makeInput?: BuildContext['makeInput'],
): BuiltModel {
  const ctx = new BuildContext(g, mode, source, makeInput);
  const ins = Object.fromEntries(Object.entries(def.inputs).map(([k, s]) => [k, ctx.makeInput(k, s.dtype, s.shape)]));
  const outputs = def.forward(ctx, ins);
  return { graph: g, ctx, inputs: ins, outputs };
}

/**
 * A model definition plus its current parameter and buffer values. Values are seeded per
 * parameter name, so two models built with the same seed start identical.
 */
export class Model {
  readonly specs: ReadonlyMap<string, ParamSpec>;
  readonly values = new Map<string, Float32Array>();

  constructor(
    readonly def: ModelDef,
    readonly seed = 0,
  ) {
    const probe = emitModel(def, new Graph(def.name), 'train');
    this.specs = probe.ctx.params;
    for (const s of this.specs.values())
      this.values.set(
        s.name,
        initialize(
          s.init,
          s.shape.reduce((a, b) => a * b, 1),
          seed,
          s.name,
        ),
      );
  }

  get name(): string {
    return this.def.name;
  }

  /** Number of trainable parameters (buffers excluded). */
  parameterCount(): number {
    let n = 0;
    for (const s of this.specs.values()) if (s.trainable) n += s.shape.reduce((a, b) => a * b, 1);
    return n;
  }

  trainableNames(): string[] {
    return [...this.specs.values()].filter((s) => s.trainable).map((s) => s.name);
  }
  bufferNames(): string[] {
    return [...this.specs.values()].filter((s) => !s.trainable).map((s) => s.name);
  }

  /** Builds the model alone into a new graph whose outputs are the model's outputs. */
  build(mode: Mode, source: ParamSource = { kind: 'initializers', values: this.values }): BuiltModel {
    const b = emitModel(this.def, new Graph(this.def.name), mode, source);
    b.graph.output(...Object.values(b.outputs));
    return b;
  }

  /** Copies values in from another model or a checkpoint, checking names and sizes. */
  load(values: ReadonlyMap<string, Float32Array>, source = 'checkpoint'): void {
    for (const [name, spec] of this.specs) {
      const v = values.get(name);
      if (!v) throw new KdError('MISSING_PARAM', `${source} has no value for parameter '${name}' of model '${this.name}'`);
      const n = spec.shape.reduce((a, b) => a * b, 1);
      if (v.length !== n)
        throw new KdError(
          'SHAPE_MISMATCH',
          `${source}: parameter '${name}' has ${v.length} values, model '${this.name}' expects [${spec.shape.join(', ')}]`,
        );
      this.values.get(name)!.set(v);
    }
  }
}
