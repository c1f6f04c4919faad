/**
 * The form of steps 1–3 as a config: it reads the controls into a FormState and writes the YAML config
 * `kdistill run` would take for it (the worker validates that text with parseWebConfig, so the page never
 * runs anything the CLI would not). The YAML is written here by hand, in the flow style of examples/*.yaml,
 * because the page's main thread does not load the library (its YAML module included) to stay light.
 */
import type { MethodInfo } from './protocol.js';

export type DataSource = 'mnist' | 'fashion-mnist' | 'image-folder' | 'csv' | 'jsonl';

export interface LossTermState {
  method: string;
  weight: number;
  /** For methods with a `temperature` option; null otherwise. */
  temperature: number | null;
  /** Further options as YAML flow text ("studentNode: block2/relu, teacherNode: conv2"), possibly empty. */
  options: string;
}

export interface FormState {
  name: string;
  seed: number;
  data: DataSource;
  validation: { kind: 'none' | 'perClass' | 'fraction'; value: number };
  teacher: { kind: 'zoo'; model: string; epochs: number } | { kind: 'file' };
  student: string;
  /** An ONNX student given in the page (/inputs/student.onnx) instead of the zoo model. */
  studentFile: boolean;
  loss: LossTermState[];
  epochs: number;
  batchSize: number;
  lr: number;
  baseline: boolean;
  checkpointEvery: number;
}

/** Where each kind of dropped data lives, relative to /inputs (worker.ts writes it there). */
export const DATA_PATH: Record<DataSource, string | null> = {
  mnist: null,
  'fashion-mnist': null,
  'image-folder': 'images',
  csv: 'data.csv',
  jsonl: 'data.jsonl',
};

/** A YAML scalar: plain when it cannot be misread (names, paths, numbers), else double-quoted (JSON is valid YAML). */
function scalar(v: string | number | boolean): string {
  if (typeof v !== 'string') return String(v);
  return /^[A-Za-z_./][A-Za-z0-9_./-]*$/.test(v) && !/^(true|false|null|yes|no|on|off|~)$/i.test(v) ? v : JSON.stringify(v);
}

/** A number field's value, NaN kept: the schema then names the field, rather than the page guessing a value. */
function num(v: number): string {
  return Number.isFinite(v) ? String(v) : JSON.stringify(String(v));
}

function lossOptions(t: LossTermState): string {
  const parts: string[] = [];
  if (t.temperature !== null) parts.push(`temperature: ${num(t.temperature)}`);
  const extra = t.options.trim().replace(/^\{\s*|\s*\}$/g, '');
  if (extra) parts.push(extra);
  return parts.length ? `, options: { ${parts.join(', ')} }` : '';
}

/** The config the form describes, as YAML text with a comment on where its keys are explained. */
export function formToYaml(s: FormState): string {
  const lines = [
    '# Made by the form; every key is described in docs/config.md.',
    `name: ${scalar(s.name)}`,
    `seed: ${num(s.seed)}`,
    'dataset:',
    `  name: ${s.data}`,
  ];
  const path = DATA_PATH[s.data];
  if (path) lines.push(`  path: ${path}`);
  if (s.validation.kind !== 'none') lines.push(`  validation: { ${s.validation.kind}: ${num(s.validation.value)} }`);
  lines.push('teacher:');
  if (s.teacher.kind === 'file') lines.push('  file: teacher.onnx');
  else lines.push(`  model: ${scalar(s.teacher.model)}`, `  train: { epochs: ${num(s.teacher.epochs)} }`);
  lines.push('student:', s.studentFile ? '  file: student.onnx' : `  model: ${scalar(s.student)}`, 'loss:');
  for (const t of s.loss) lines.push(`  - { method: ${scalar(t.method)}, weight: ${num(t.weight)}${lossOptions(t)} }`);
  lines.push(
    `optimizer: { name: adam, lr: ${num(s.lr)} }`,
    'schedule: { kind: cosine }',
    `epochs: ${num(s.epochs)}`,
    `batchSize: ${num(s.batchSize)}`,
    `baseline: ${s.baseline}`,
    `checkpointEvery: ${num(s.checkpointEvery)}`,
  );
  return `${lines.join('\n')}\n`;
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
/** Whether the user gave an ONNX student (the page marks the field once the worker has stored it). */
const studentFileGiven = () => byId('student-file-info').dataset.state === 'ready';
const value = (id: string) => byId<HTMLInputElement>(id).value.trim();
const number = (id: string) => (value(id) === '' ? Number.NaN : Number(value(id)));
const checkedRadio = (name: string) => (document.querySelector(`input[name="${name}"]:checked`) as HTMLInputElement | null)?.value;

/** The loss terms' rows: one per term, with the method's temperature shown only where the method has one. */
export class LossEditor {
  private methods: readonly MethodInfo[] = [
    { name: 'ce', kind: 'label', description: 'cross-entropy with the labels', defaults: { labelSmoothing: 0 } },
    { name: 'kd', kind: 'response', description: 'Hinton et al. 2015', defaults: { temperature: 4 } },
  ];

  constructor(
    private readonly host: HTMLElement,
    private readonly onChange: () => void,
  ) {}

  /** The registered methods (from the worker), replacing the two the page knows before the worker is ready. */
  setMethods(methods: readonly MethodInfo[]): void {
    const state = this.read();
    this.methods = methods;
    this.render(state);
  }

  /** Teacher node names for the options field's suggestions (from the inspected teacher). */
  setTeacherNodes(nodes: readonly string[]): void {
    let list = document.getElementById('teacher-nodes');
    if (!list) {
      list = document.createElement('datalist');
      list.id = 'teacher-nodes';
      document.body.append(list);
    }
    list.replaceChildren(
      ...nodes.map((n) => {
        const o = document.createElement('option');
        o.value = n;
        return o;
      }),
    );
  }

  read(): LossTermState[] {
    return [...this.host.querySelectorAll<HTMLElement>('.loss-term')].map((row) => {
      const f = (name: string) => row.querySelector<HTMLInputElement>(`[data-field="${name}"]`)!;
      const temp = f('temperature');
      return {
        method: f('method').value,
        weight: f('weight').value === '' ? Number.NaN : Number(f('weight').value),
        temperature: temp.closest('label')!.hidden ? null : temp.value === '' ? Number.NaN : Number(temp.value),
        options: f('options').value,
      };
    });
  }

  render(terms: readonly LossTermState[]): void {
    this.host.replaceChildren(...terms.map((t, i) => this.row(t, i, terms.length)));
  }

  add(): void {
    const terms = this.read();
    terms.push({ method: 'kd', weight: 0.5, temperature: 4, options: '' });
    this.render(terms);
    this.onChange();
  }

  private row(t: LossTermState, i: number, count: number): HTMLElement {
    const row = document.createElement('div');
    row.className = 'loss-term';
    row.setAttribute('data-testid', `loss-term-${i}`);

    const method = document.createElement('select');
    method.dataset.field = 'method';
    method.id = `loss-method-${i}`;
    const names = this.methods.map((m) => m.name);
    if (!names.includes(t.method)) names.unshift(t.method);
    for (const name of names) {
      const info = this.methods.find((m) => m.name === name);
      const o = document.createElement('option');
      o.value = name;
      o.textContent = name;
      if (info) o.title = `${info.kind}: ${info.description}`;
      method.append(o);
    }
    method.value = t.method;

    const weight = this.input('weight', i, String(t.weight), 'number');
    weight.min = '0';
    weight.step = 'any';
    const temp = this.input('temperature', i, t.temperature === null ? '4' : String(t.temperature), 'number');
    temp.min = '0';
    temp.step = 'any';
    const options = this.input('options', i, t.options, 'text');
    options.setAttribute('list', 'teacher-nodes');
    options.spellcheck = false;

    const tempLabel = this.labelled('T', temp, 'Temperature');
    const optLabel = this.labelled('Options', options, 'Further options in YAML flow style, e.g. studentNode: block2/relu');
    const sync = () => {
      const info = this.methods.find((m) => m.name === method.value);
      tempLabel.hidden = !(info?.defaults && 'temperature' in info.defaults);
      const required = info && !info.defaults;
      options.placeholder = required ? 'required: see docs/methods.md' : 'optional';
      row.title = info ? `${info.name} (${info.kind}): ${info.description}` : '';
    };
    sync();
    method.addEventListener('change', () => {
      sync();
      this.onChange();
    });

    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'icon';
    remove.id = `loss-remove-${i}`;
    remove.setAttribute('data-testid', `loss-remove-${i}`);
    remove.setAttribute('aria-label', `Remove loss term ${i + 1}`);
    remove.textContent = '×';
    // dataset.disabled survives the page disabling every control during a run and enabling them after it.
    remove.dataset.disabled = String(count <= 1);
    remove.disabled = count <= 1;
    remove.addEventListener('click', () => {
      const terms = this.read();
      terms.splice(i, 1);
      this.render(terms);
      this.onChange();
    });

    row.append(this.labelled('Method', method), this.labelled('Weight', weight), tempLabel, optLabel, remove);
    return row;
  }

  private input(field: string, i: number, v: string, type: string): HTMLInputElement {
    const e = document.createElement('input');
    e.type = type;
    e.value = v;
    e.dataset.field = field;
    e.id = `loss-${field}-${i}`;
    return e;
  }

  private labelled(text: string, control: HTMLElement, title?: string): HTMLLabelElement {
    const l = document.createElement('label');
    l.className = 'field';
    l.append(text, ' ', control);
    if (title) l.title = title;
    return l;
  }
}

/** The form's controls as a FormState. */
export function readForm(loss: LossEditor): FormState {
  const data = (checkedRadio('data-source') ?? 'mnist') as DataSource;
  const teacherKind = checkedRadio('teacher-source') === 'file' ? 'file' : 'zoo';
  const vKind = value('data-validation-kind') as FormState['validation']['kind'];
  return {
    name: value('run-name'),
    seed: number('seed'),
    data,
    validation: { kind: vKind, value: number('data-validation-value') },
    teacher:
      teacherKind === 'file' ? { kind: 'file' } : { kind: 'zoo', model: value('teacher-zoo-model'), epochs: number('teacher-epochs') },
    student: value('student-model'),
    studentFile: studentFileGiven(),
    loss: loss.read(),
    epochs: number('epochs'),
    batchSize: number('batch-size'),
    lr: number('lr'),
    baseline: byId<HTMLInputElement>('baseline').checked,
    checkpointEvery: number('checkpoint-every'),
  };
}

/** The loss the page starts with: half cross-entropy, half Hinton KD at T = 4, as examples/mnist-cnn.yaml. */
export const DEFAULT_LOSS: LossTermState[] = [
  { method: 'ce', weight: 0.5, temperature: null, options: '' },
  { method: 'kd', weight: 0.5, temperature: 4, options: '' },
];
