/**
 * The end of a run in the page: the comparison table of summary.json (the rows `kdistill run` prints) and the
 * download links. Files arrive from the worker as bytes and are offered as Blob object URLs, so a download is a
 * copy inside the browser; nothing is uploaded anywhere.
 */
import type { RunSummary, SummaryRow } from '../src/browser.js';
import type { RunFile } from './protocol.js';

const urls: string[] = [];

/** Frees the previous run's object URLs (each holds its file's bytes in memory until revoked) and their buttons. */
export function clearDownloads(): void {
  for (const u of urls.splice(0)) URL.revokeObjectURL(u);
  document.getElementById('downloads')!.replaceChildren();
}

function objectUrl(f: RunFile): string {
  const type = f.name.endsWith('.json') ? 'application/json' : 'application/octet-stream';
  const u = URL.createObjectURL(new Blob([f.bytes as Uint8Array<ArrayBuffer>], { type }));
  urls.push(u);
  return u;
}

function link(a: HTMLAnchorElement, f: RunFile, url: string): void {
  a.href = url;
  a.download = f.name;
}

function button(id: string, cls: string, f: RunFile, url: string): HTMLAnchorElement {
  const a = document.createElement('a');
  a.id = id;
  a.className = `button ${cls}`;
  link(a, f, url);
  a.textContent = `Download ${f.name}`;
  return a;
}

const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(2)}%`);
const kib = (b: number) => (b < 1024 ? `${b} B` : b < 1024 * 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${(b / 1024 / 1024).toFixed(2)} MiB`);

/** The model users come for: the distilled student of a classic config, else the last stage's model. */
export function studentRow(s: RunSummary): SummaryRow | undefined {
  return s.rows.find((r) => r.role === 'distilled') ?? s.rows.find((r) => r.file === 'student.onnx') ?? s.rows.at(-1);
}

/** Fills the summary table and the download links from a finished run. */
export function showSummary(s: RunSummary, files: readonly RunFile[]): void {
  clearDownloads();
  const byName = new Map(files.map((f) => [f.name, { f, url: objectUrl(f) }]));
  const body = document.querySelector('#summary-table tbody')!;
  body.replaceChildren(
    ...s.rows.map((r) => {
      const tr = document.createElement('tr');
      tr.dataset.role = r.role;
      const cells: [string, string?][] = [
        [r.role],
        // A file teacher's model is its path in the tab's storage (/inputs/teacher.onnx): its name says enough.
        [r.model.startsWith('/') ? r.model.slice(r.model.lastIndexOf('/') + 1) : r.model],
        [pct(r.testAccuracy), 'num'],
        [r.agreement === null ? '—' : `${pct(r.agreement)}${r.agreeWith ? ` vs ${r.agreeWith}` : ''}`, 'num'],
        [r.parameters === undefined ? '?' : r.parameters.toLocaleString('en'), 'num'],
        [kib(r.fileBytes), 'num'],
        [r.latencyMs.length ? r.latencyMs.map((l) => `${l.p50.toFixed(2)} ms`).join(' / ') : '—', 'num'],
      ];
      for (const [text, cls] of cells) {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      const td = document.createElement('td');
      const got = byName.get(r.file);
      if (got) {
        const a = document.createElement('a');
        link(a, got.f, got.url);
        a.textContent = r.file;
        td.append(a);
      } else td.textContent = r.file;
      tr.append(td);
      return tr;
    }),
  );
  const note = document.getElementById('summary-note')!;
  note.textContent =
    `${s.dataset}: ${s.trainSamples.toLocaleString('en')} train / ${s.validationSamples.toLocaleString('en')} validation / ` +
    `${s.testSamples.toLocaleString('en')} test samples, ${s.seconds} s. Latency measured in this tab.`;
  const student = studentRow(s);
  const st = student && byName.get(student.file);
  const sum = byName.get('summary.json');
  const buttons: HTMLAnchorElement[] = [];
  if (st) buttons.push(button('download-student', 'primary', st.f, st.url));
  if (sum) buttons.push(button('download-summary', 'secondary', sum.f, sum.url));
  document.getElementById('downloads')!.replaceChildren(...buttons);
  document.getElementById('results')!.hidden = false;
}
