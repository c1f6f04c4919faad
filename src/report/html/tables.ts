/** The report's tables as HTML: the comparison of models, seeds, per-class accuracy, confusion matrices, export. */
import type { ExportReport } from '../export-report.js';
import { perClassAccuracy } from '../../train/confusion.js';
import type { SeedsSummary } from '../seeds.js';
import type { RunSummary, SummaryRow } from '../../train/report.js';

/** Escapes text for HTML element content and attribute values. */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const pct = (v: number, d = 2) => (Number.isFinite(v) ? `${(v * 100).toFixed(d)}%` : '–');
const pts = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v * 100).toFixed(2)}`;
const kib = (b: number) => `${Math.round(b / 1024).toLocaleString('en-US')} KiB`;
const table = (head: string[], rows: string[][], cls = '') =>
  `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead>` +
  `<tbody>${rows.map((r) => `<tr>${r.join('')}</tr>`).join('')}</tbody></table>`;
const td = (v: string, cls = '') => `<td${cls ? ` class="${cls}"` : ''}>${v}</td>`;

/** A gain coloured by sign: green above zero, red below. */
const signed = (v: number) => td(pts(v), v > 0 ? 'up' : v < 0 ? 'down' : '');

/** Teacher / baseline / students side by side, with each student's gain over the baseline and the gap it closed. */
export function summaryTable(s: RunSummary): string {
  const base = s.rows.find((r) => r.role === 'baseline');
  const rows = s.rows.map((r) => {
    const teacher = s.rows.find((t) => t.role === r.agreeWith);
    const gain = base && r !== base && r.role !== 'teacher' ? r.testAccuracy - base.testAccuracy : undefined;
    const gap =
      gain !== undefined && teacher && teacher.testAccuracy > base!.testAccuracy
        ? gain / (teacher.testAccuracy - base!.testAccuracy)
        : undefined;
    const lat = (b: number) => r.latencyMs.find((l) => l.batch === b)?.p50.toFixed(2) ?? '–';
    return [
      td(`<b>${esc(r.role)}</b>`),
      td(`<span title="${esc(r.model)}">${esc(r.model.replace(/^.*[\\/]/, ''))}</span>`),
      td(pct(r.testAccuracy), 'num strong'),
      gain === undefined ? td('') : signed(gain),
      td(gap === undefined ? '' : `${Math.round(gap * 100)}%`, 'num'),
      td(r.agreement === null ? '—' : `${pct(r.agreement, 1)} <span class="dim">with ${esc(r.agreeWith)}</span>`),
      td(r.parameters?.toLocaleString('en-US') ?? '–', 'num'),
      td(kib(r.fileBytes), 'num'),
      td(`${lat(1)} / ${lat(32)}`, 'num'),
    ];
  });
  return table(
    ['role', 'model', 'test accuracy', 'vs baseline (points)', 'gap closed', 'agreement', 'parameters', 'file', 'p50 ms (b=1 / 32)'],
    rows,
    'summary',
  );
}

/** Mean ± std over seeds, each seed's value, and each student's paired difference from the baseline. */
export function seedsTable(s: SeedsSummary): string {
  const rows = s.rows.map((r) => [
    td(`<b>${esc(r.role)}</b>`),
    td(`<span title="${esc(r.model)}">${esc(r.model.replace(/^.*[\\/]/, ''))}</span>`),
    td(`${pct(r.mean)} <span class="dim">± ${(r.std * 100).toFixed(2)}</span>`, 'num strong'),
    ...r.accuracy.map((a) => td(pct(a), 'num')),
  ]);
  const head = ['role', 'model', 'test accuracy (mean ± std)', ...s.seeds.map((x) => `seed ${x}`)];
  const paired = s.paired.map((p) => [
    td(`<b>${esc(p.role)}</b> − ${esc(p.against)}`),
    td(`${pts(p.mean)} <span class="dim">± ${(p.std * 100).toFixed(2)}</span>`, `num ${p.withinNoise ? '' : p.mean > 0 ? 'up' : 'down'}`),
    td(p.withinNoise ? `within noise (spread ${(p.spread * 100).toFixed(2)})` : `beyond the spread (${(p.spread * 100).toFixed(2)})`),
    ...p.differences.map((d, i) =>
      td(`${pts(d)}${p.gapClosed ? ` <span class="dim">(${Math.round(p.gapClosed[i] * 100)}% of gap)</span>` : ''}`, 'num'),
    ),
  ]);
  return (
    table(head, rows, 'summary') +
    (paired.length
      ? table(['paired difference', 'mean ± std (points)', 'verdict', ...s.seeds.map((x) => `seed ${x}`)], paired, 'summary')
      : '')
  );
}

/** Per-class test accuracy of every row, and what the distilled student gains or loses on each class over the baseline. */
export function perClassTable(s: RunSummary): string {
  const rows = s.rows.filter((r) => r.confusion);
  if (!rows.length) return '';
  const acc = rows.map((r) => perClassAccuracy(r.confusion!));
  const base = rows.findIndex((r) => r.role === 'baseline');
  const students = rows.map((_, i) => i).filter((i) => i !== base && rows[i].role !== 'teacher');
  const classes = rows[0].confusion!.length;
  const name = (c: number) => esc(s.classNames?.[c] ?? String(c));
  const body = Array.from({ length: classes }, (_, c) => [
    td(name(c)),
    ...acc.map((a) => td(pct(a[c], 1), 'num')),
    ...(base >= 0 ? students.map((i) => signed(acc[i][c] - acc[base][c])) : []),
  ]);
  const head = ['class', ...rows.map((r) => esc(r.role)), ...(base >= 0 ? students.map((i) => `${esc(rows[i].role)} − baseline`) : [])];
  return table(head, body, 'per-class');
}

/** A confusion matrix as a heat table: cell shade by count share of its true class, the diagonal in green. */
export function confusionTable(r: SummaryRow, classNames?: readonly string[]): string {
  const m = r.confusion!;
  const name = (c: number) => esc(classNames?.[c] ?? String(c));
  const rows = m.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return [
      `<th>${name(i)}</th>`,
      ...row.map((v, j) => {
        const share = v / total;
        const alpha = i === j ? 0.15 + 0.6 * share : Math.min(0.85, Math.sqrt(share) * 1.4);
        const color = i === j ? `rgba(46,160,67,${alpha.toFixed(3)})` : `rgba(218,54,51,${alpha.toFixed(3)})`;
        return `<td style="background:${v ? color : 'transparent'}" title="true ${name(i)}, predicted ${name(j)}: ${v}">${v || ''}</td>`;
      }),
    ];
  });
  return (
    `<figure class="confusion"><figcaption><b>${esc(r.role)}</b> ${esc(r.model)} — rows: true class, columns: predicted</figcaption>` +
    table(['', ...m.map((_, j) => name(j))], rows, 'heat') +
    '</figure>'
  );
}

/** `kdistill export`'s measurements: every model at every precision. */
export function exportTable(e: ExportReport): string {
  const rows = e.rows.map((r) => [
    td(esc(r.role)),
    td(esc(r.precision)),
    td(pct(r.accuracy), 'num'),
    td(r.agreementWithTeacher === undefined ? '–' : pct(r.agreementWithTeacher, 1), 'num'),
    td(pct(r.agreementWithFp32, 1), 'num'),
    td(kib(r.fileBytes), 'num'),
    td(r.latencyMs.map((l) => `${l.p50.toFixed(2)}`).join(' / '), 'num'),
    td(esc(r.file ?? '')),
  ]);
  return table(['model', 'precision', 'test accuracy', 'agrees with teacher', 'agrees with fp32', 'file', 'p50 ms', 'file name'], rows);
}
