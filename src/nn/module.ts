import type { Value } from '../graph/graph.js';
import type { BuildContext } from './context.js';

/**
 * A layer or block: it emits graph ops for its input under its own name scope. Applying the same
 * module twice shares its parameters (same names).
 */
export abstract class Module {
  constructor(readonly name: string) {}

  /** Emits this module's ops inside its scope. */
  apply(ctx: BuildContext, x: Value): Value {
    return ctx.scope(this.name, () => this.forward(ctx, x));
  }

  protected abstract forward(ctx: BuildContext, x: Value): Value;
}

/** A module from a function, for stateless steps (activations, reshapes) and quick compositions. */
export class Fn extends Module {
  constructor(
    name: string,
    private readonly fn: (ctx: BuildContext, x: Value) => Value,
  ) {
    super(name);
  }
  protected forward(ctx: BuildContext, x: Value): Value {
    return this.fn(ctx, x);
  }
}

/** Modules applied in order; each child's output node is tapped under `<name>/<child>`. */
export class Sequential extends Module {
  constructor(
    name: string,
    readonly layers: readonly Module[],
  ) {
    super(name);
  }
  protected forward(ctx: BuildContext, x: Value): Value {
    let h = x;
    for (const l of this.layers) h = l.apply(ctx, h);
    return h;
  }
}
