/** Step 1's report on a teacher file: what `inspectModel` found (as `kdistill inspect` prints it), as page elements. */
import { para, table } from './dom.js';
import type { TeacherInfo } from './protocol.js';

const shapeText = (s: readonly (number | string)[]) => `[${s.join(', ')}]`;

/** The summary line, the inputs and outputs tables, and the tappable nodes (folded: a model may have hundreds). */
export function teacherReport(t: TeacherInfo): HTMLElement[] {
  const head = para(
    `${t.name}: ${t.parameters.toLocaleString('en')} parameters, ${t.nodes} nodes, opset ${t.opset}` +
      (t.producer ? `, made by ${t.producer}` : '') +
      '.',
  );
  const taps = document.createElement('details');
  const sum = document.createElement('summary');
  sum.textContent = `${t.taps.length} tappable nodes (for feature methods)`;
  const scroll = document.createElement('div');
  scroll.className = 'scroll';
  scroll.append(
    table(
      'teacher-taps',
      ['node', 'op', 'shape (batch 1)'],
      t.taps.map((x) => [x.node, x.op, shapeText(x.shape)]),
    ),
  );
  taps.append(sum, scroll);
  return [
    head,
    table(
      'teacher-inputs',
      ['input', 'type', 'shape'],
      t.inputs.map((x) => [x.name, x.dtype, shapeText(x.shape)]),
    ),
    table(
      'teacher-outputs',
      ['output', 'type', 'shape'],
      t.outputs.map((x) => [x.name, x.dtype, shapeText(x.shape)]),
    ),
    taps,
  ];
}
