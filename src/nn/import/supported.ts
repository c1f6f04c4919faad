/** Which ops an imported student may contain, and the check that every op trainable weights reach can be differentiated. */
import '../../autodiff/rules/index.js';
import { gradRule, isNonDifferentiable } from '../../autodiff/rule.js';
import { rules } from '../../graph/infer/core.js';
import { KdError } from '../../util/errors.js';

/** Ops the importer emits itself rather than as the file's node (BatchNormalization: the train-mode layer). */
const HANDLED = new Set(['BatchNormalization', 'Dropout']);
/** Control flow is refused: its bodies are subgraphs the importer does not re-emit. */
const CONTROL_FLOW = new Set(['Loop', 'If', 'Scan']);

/** Inputs (by position) that are settings, not weights: a float initializer there stays a constant. */
export const NON_PARAM_INPUTS: Readonly<Record<string, readonly number[]>> = {
  Resize: [1, 2, 3],
  Clip: [1, 2],
  Pad: [1, 2],
  ConstantOfShape: [0],
  Pow: [1],
  Dropout: [1, 2],
};

/** Whether kdistill can build (shape-infer and run) an op of this type. */
export function isSupported(opType: string): boolean {
  return HANDLED.has(opType) || (rules.has(opType) && !CONTROL_FLOW.has(opType));
}

/** Whether gradients pass through an op of this type (or it needs none). */
function differentiable(opType: string): boolean {
  return HANDLED.has(opType) || isNonDifferentiable(opType) || gradRule(opType) !== undefined;
}

/**
 * Refuses, before any training, a node without a gradient rule that trainable parameters reach: the gradient
 * of every parameter before it would have to pass through it. Nodes only frozen weights and the input reach
 * need no gradient, so freezing the part of the model up to such a node is the way out.
 */
export function checkTrainable(
  nodes: readonly { name: string; opType: string; inputs: readonly string[]; outputs: readonly string[] }[],
  trainable: (initializer: string) => boolean,
  source: string,
): void {
  // Value → some trainable parameters it depends on (a few, for the message).
  const reach = new Map<string, string[]>();
  for (const n of nodes) {
    const from = [...new Set(n.inputs.flatMap((i) => (trainable(i) ? [i] : (reach.get(i) ?? []))))].slice(0, 3);
    if (!from.length || isNonDifferentiable(n.opType)) continue;
    if (!differentiable(n.opType))
      throw new KdError(
        'NO_GRADIENT',
        `${source}: node '${n.name}' is a ${n.opType}, an op kdistill has no gradient rule for, and trainable parameters feed it ` +
          `(${from.map((p) => `'${p}'`).join(', ')}${from.length === 3 ? ', …' : ''}); freeze the part of the model up to this node ` +
          `(student.freeze: patterns matching those parameters or the nodes that read them, e.g. '${from[0]}') so no gradient has to ` +
          `pass through it, or file the op (${n.opType}) as an issue so it gets a gradient rule`,
      );
    for (const o of n.outputs) reach.set(o, from);
  }
}
