import { KdError } from '../util/errors.js';
import type { Graph } from './graph.js';

/**
 * Renames values of a finished graph (inputs, node inputs and outputs, graph outputs) in place, for export
 * under names the graph was not built with: an imported model written back under its file's input and output
 * names. The graph is not built further afterwards (its name registry is not updated).
 */
export function renameValues(g: Graph, renames: Readonly<Record<string, string>>): void {
  const map = new Map(Object.entries(renames).filter(([from, to]) => from !== to && g.has(from)));
  if (!map.size) return;
  for (const [from, to] of map)
    if (g.has(to) && !map.has(to))
      throw new KdError('DUPLICATE_NAME', `cannot export value '${from}' as '${to}': graph '${g.name}' already has a value named '${to}'`);
  const r = (n: string) => map.get(n) ?? n;
  g.inputs.splice(0, g.inputs.length, ...g.inputs.map(r));
  g.outputs.splice(0, g.outputs.length, ...g.outputs.map(r));
  g.nodes.splice(0, g.nodes.length, ...g.nodes.map((n) => ({ ...n, inputs: n.inputs.map(r), outputs: n.outputs.map(r) })));
  for (const [from, to] of map) {
    g.info.set(to, g.info.get(from)!);
    g.info.delete(from);
  }
}
