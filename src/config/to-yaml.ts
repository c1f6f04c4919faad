import { Document, isScalar, visit } from 'yaml';
import type { ResolvedConfig } from './schema.js';

/** A stage as written: keys left at null (not given) or empty lists are left out. */
function dropNulls(o: object): object {
  return Object.fromEntries(
    Object.entries(o)
      .filter(([, v]) => v !== null && !(Array.isArray(v) && v.length === 0))
      .map(([k, v]) => [k, Array.isArray(v) ? v.map((x) => (x && typeof x === 'object' ? dropNulls(x) : x)) : v]),
  );
}

/** The resolved config as YAML for `config.resolved.yaml`: complete, absolute, and loadable as a config again. */
export function configToYaml(config: ResolvedConfig): string {
  // A classic config is written as one (its stages are derived), a pipeline as its stages; nulls mean
  // "not given" and stay out, so the file loads back to the same config.
  const { teacher, student, loss, baseline, stages, federated, ...rest } = config;
  // A classic data-free run keeps its `dataFree` on the distilled stage; it is written back as the user's flat mapping.
  const df = stages.find((s) => s.name === 'distilled')?.dataFree;
  const dataFree = df ? { dataFree: { method: df.method, n: df.n, range: df.range, ...df.options } } : {};
  const shape = federated
    ? { ...rest, federated }
    : teacher
      ? { ...rest, teacher, student, loss, baseline, ...dataFree }
      : { ...rest, stages: stages.map(dropNulls) };
  // The teacher often shares the run's optimizer object; anchors and aliases would only obscure the file.
  const doc = new Document(shape, { aliasDuplicateObjects: false });
  // Short lists of numbers (betas, image size) read better inline.
  visit(doc, {
    Seq(_, seq) {
      if (seq.items.every((it) => isScalar(it) && typeof it.value === 'number')) seq.flow = true;
    },
  });
  doc.commentBefore = ' Resolved by kdistill: every default filled in, every path absolute. `kdistill run` accepts this file as it is.';
  return doc.toString({ lineWidth: 0 });
}
