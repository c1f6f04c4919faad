/**
 * report.html: one self-contained page per run (or per comparison of runs, or per multi-seed run) with uPlot and
 * the data inlined, so it opens from disk with no request to any host. Tables are rendered here; the page's script
 * (client.ts) only draws the curves.
 */
import type { SeedsSummary } from '../seeds.js';
import { CLIENT_JS } from './client.js';
import type { ReportRun } from './data.js';
import { REPORT_CSS } from './style.js';
import { confusionTable, esc, exportTable, perClassTable, seedsTable, summaryTable } from './tables.js';

/** The chart library's files, read by the caller (in Node from the `uplot` package). */
export interface ReportAssets {
  uplotJs: string;
  uplotCss: string;
}

/** What one report shows: one or more runs, and across them the seed statistics when they are one config's seeds. */
export interface ReportInput {
  runs: ReportRun[];
  seeds?: SeedsSummary;
  /** Links to each run's own report (relative), shown on a comparison page. */
  links?: string[];
}

/** The page may run its inline scripts and styles and show data: images; it may fetch nothing. */
const CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";

/** Text that goes inside a <script> element as it is: `</` cannot end the element early. */
const scriptSafe = (s: string) => s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

export function renderReport(input: ReportInput, assets: ReportAssets): string {
  const { runs, seeds } = input;
  const first = runs[0].summary;
  const title = seeds ? `${first.name}: ${seeds.seeds.length} seeds` : runs.length > 1 ? `${runs.length} runs compared` : first.name;
  const sections: string[] = [];
  if (seeds) sections.push(`<h2>Over ${seeds.seeds.length} seeds</h2>${seedsLead(seeds)}${seedsTable(seeds)}`);
  else if (runs.length > 1) sections.push(`<h2>Runs side by side</h2>${comparison(runs, input.links)}`);
  runs.forEach((r, i) => {
    const body = runSection(r, i, !!seeds);
    sections.push(runs.length > 1 ? `<details${i === 0 ? ' open' : ''}><summary>${esc(r.label)}</summary>${body}</details>` : body);
  });
  // The payload is only what the charts draw; the tables are already HTML.
  const payload = { runs: runs.map((r) => ({ steps: r.steps, epochs: r.epochs, attention: r.attention })) };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<title>${esc(title)} — kdistill report</title>
<style>${assets.uplotCss}</style><style>${REPORT_CSS}</style></head>
<body><header><h1>${esc(title)}</h1><div class="meta">${esc(meta(runs[0], seeds))}</div></header>
<main>${sections.join('\n')}</main>
<script type="application/json" id="kd-data">${scriptSafe(JSON.stringify(payload))}</script>
<script>${scriptSafe(assets.uplotJs)}</script>
<script>${scriptSafe(CLIENT_JS)}</script>
</body></html>
`;
}

/** A difference in points with its sign, e.g. +0.28 or −0.10. */
const signedPts = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v * 100).toFixed(2)}`;

function meta(r: ReportRun, seeds?: SeedsSummary): string {
  const s = r.summary;
  const n = (v: number) => v.toLocaleString('en-US');
  const parts = [
    `dataset ${s.dataset}: ${n(s.trainSamples)} train / ${n(s.validationSamples)} validation / ${n(s.testSamples)} test samples`,
    seeds ? `seeds ${seeds.seeds.join(', ')}, ${seeds.seconds} s in all` : `seed ${s.seed}, ${s.seconds} s`,
  ];
  if (r.run?.startedAt) parts.push(`started ${r.run.startedAt}`);
  const v = r.run?.versions;
  if (v) parts.push(`kdistill ${v.kdistill ?? '?'}, onnxruntime ${v['onnxruntime-node'] ?? v['onnxruntime-web'] ?? '?'}, ${v.cpu ?? ''}`);
  return parts.join(' · ');
}

/** The sentence a reader wants first: did distillation beat training alone, by how much, beyond noise or not. */
function seedsLead(s: SeedsSummary): string {
  return s.paired
    .map((p) => {
      const gap = p.gapClosed
        ? `, closing ${p.gapClosed.map((g) => `${Math.round(g * 100)}%`).join(' / ')} of the gap to the ${esc(p.teacher)}`
        : '';
      const verdict = p.withinNoise
        ? 'within the seed spread: noise'
        : p.mean > 0
          ? 'beyond the seed spread'
          : 'worse beyond the seed spread';
      const diff = `${signedPts(p.mean)} ± ${(p.std * 100).toFixed(2)} points over ${p.differences.length} seeds`;
      return `<p class="lead"><b>${esc(p.role)}</b> vs the student trained alone: ${diff}${gap} — ${verdict}.</p>`;
    })
    .join('');
}

function comparison(runs: ReportRun[], links?: string[]): string {
  const roles = [...new Set(runs.flatMap((r) => r.summary.rows.map((x) => x.role)))];
  const head = ['run', ...roles.map(esc)];
  const rows = runs.map((r, i) => {
    const name = links?.[i] ? `<a href="${esc(links[i])}">${esc(r.label)}</a>` : esc(r.label);
    return `<tr><td>${name}</td>${roles
      .map((role) => {
        const x = r.summary.rows.find((y) => y.role === role);
        return `<td class="num">${x ? `${(x.testAccuracy * 100).toFixed(2)}% <span class="dim">${esc(x.model)}</span>` : '–'}</td>`;
      })
      .join('')}</tr>`;
  });
  const thead = `<thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead>`;
  return `<table class="summary">${thead}<tbody>${rows.join('')}</tbody></table>`;
}

function runSection(r: ReportRun, i: number, ofSeeds: boolean): string {
  const s = r.summary;
  const out = [`<h2>Models</h2>`, lead(r, ofSeeds), summaryTable(s)];
  const stages = Object.keys(r.steps);
  out.push(
    '<h2>Training</h2><div class="charts">',
    `<div class="chart" data-chart="${i}|val|acc"></div>`,
    `<div class="chart" data-chart="${i}|val|loss"></div>`,
    ...stages.flatMap((st) => [
      `<div class="chart" data-chart="${i}|loss|${esc(st)}"></div>`,
      `<div class="chart" data-chart="${i}|acc|${esc(st)}"></div>`,
    ]),
    '</div>',
  );
  const perClass = perClassTable(s);
  if (perClass) {
    out.push(
      '<h2>Per class</h2><p class="dim">Test accuracy on each class, and what each student gains or loses there over the baseline.</p>',
      perClass,
    );
    out.push(
      '<h3>Confusion matrices</h3><div class="confusions">',
      ...s.rows.filter((x) => x.confusion).map((x) => confusionTable(x, s.classNames)),
      '</div>',
    );
  }
  if (r.attention) out.push(attentionSection(r, i));
  for (const g of r.synthesized ?? [])
    out.push(
      `<h2>Synthesised inputs: ${esc(g.stage)}</h2><p class="dim">The first ${g.labels.length} samples the data-free method made ` +
        "from the teacher (no training data was read), row by row; the teacher's classes: " +
        `${esc(g.labels.map((c) => r.summary.classNames?.[c] ?? String(c)).join(', '))}.</p>`,
      `<img class="synth" alt="synthesised samples of stage ${esc(g.stage)}" src="${g.png}">`,
    );
  if (r.exportReport) out.push(`<h2>Export</h2>`, exportTable(r.exportReport));
  if (r.config)
    out.push(
      '<h2>Experiment as configured</h2><p class="dim">config.resolved.yaml: every default filled in.</p>',
      `<pre>${esc(r.config)}</pre>`,
    );
  return out.join('\n');
}

/** One line on the run's main question, when it has a baseline and a distilled student with a teacher above it. */
function lead(r: ReportRun, ofSeeds: boolean): string {
  const rows = r.summary.rows;
  const base = rows.find((x) => x.role === 'baseline');
  if (!base) return '';
  return rows
    .filter((x) => x !== base && x.role !== 'teacher' && x.agreeWith)
    .map((x) => {
      const t = rows.find((y) => y.role === x.agreeWith);
      const d = x.testAccuracy - base.testAccuracy;
      const gap =
        t && t.testAccuracy > base.testAccuracy
          ? ` (${Math.round((d / (t.testAccuracy - base.testAccuracy)) * 100)}% of the gap to the ${esc(t.role)})`
          : '';
      const pc = (v: number) => `${(v * 100).toFixed(2)}%`;
      const vs = `${pc(x.testAccuracy)} against ${pc(base.testAccuracy)} trained alone, ${signedPts(d)} points`;
      const spread = ofSeeds ? '' : '; one seed: run with --seeds to see the spread';
      return `<p class="lead"><b>${esc(x.role)}</b> ${esc(x.model)}: ${vs}${gap}${spread}.</p>`;
    })
    .join('');
}

/** Teacher and student attention on a few test images, one column per compared node pair (drawn by the page). */
function attentionSection(r: ReportRun, i: number): string {
  const a = r.attention!;
  const cls = (c: number) => esc(r.summary.classNames?.[c] ?? String(c));
  const head = ['test image', ...a.pairs.flatMap((p) => [`teacher ${esc(p.teacherNode)}`, `student ${esc(p.studentNode)}`])];
  const rows = a.labels.map(
    (label, j) =>
      `<tr><td><canvas class="map" data-map="${i}|${j}|input"></canvas><div class="dim">class ${cls(label)}</div></td>` +
      a.pairs
        .map(
          (_, k) =>
            `<td><canvas class="map" data-map="${i}|${j}|${k}|teacher"></canvas></td>` +
            `<td><canvas class="map" data-map="${i}|${j}|${k}|student"></canvas></td>`,
        )
        .join('') +
      '</tr>',
  );
  const terms = [...new Set(a.pairs.map((p) => p.method))].join(', ');
  return (
    `<h2>Attention maps</h2><p class="dim">What the feature terms (${esc(terms)}) compare: the mean over channels of the ` +
    'squared activation at each node, scaled per image (bright = high), for the teacher and the distilled student.</p>' +
    `<table class="maps"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`
  );
}
