import type { QuantizationRow } from './quantized-row.js';
import type { CacheStats } from '../distill/teachers/cache.js';
import type { Latency } from '../runtime/latency.js';

/** One row of a run's comparison table: a stage's model (or one peer of a cohort) on the test set. */
export interface SummaryRow {
  /** The stage: teacher, baseline, distilled for a classic config; the stage's name in a pipeline. */
  role: string;
  model: string;
  testAccuracy: number;
  testLoss: number;
  /** Top-1 agreement on the test set with `agreeWith`; null for the model the others are compared with. */
  agreement: number | null;
  /** The stage's first teacher, else the run's first stage; null when this row is that reference. */
  agreeWith: string | null;
  parameters?: number;
  fileBytes: number;
  latencyMs: Latency[];
  file: string;
  /** Accuracy on each reported class subset: over all classes, and within the subset only (a task head). */
  subsets?: Record<string, { accuracy: number; taskAccuracy: number }>;
  /** Answers of cached teachers read from disk (hits) and asked of the teacher (misses) while this stage trained. */
  teacherCache?: (CacheStats & { teacher: string })[];
  /** Test-set counts of (true class, predicted class), row = true class; for up to 50 classes. */
  confusion?: number[][];
  /** A quantisation-aware stage: its int8 file (from what it learned) scored beside the fake-quantised graph it trained. */
  quantization?: QuantizationRow;
  /** A language model: per-token perplexity on the test and validation text, a sample from a fixed prompt, and seconds taken. */
  language?: { perplexity: number; valPerplexity: number; sample: string; seconds: number };
  /** Interaction data: NDCG@k and Recall@k over the users' held-out items, their known items left out of the ranking. */
  ranking?: { k: number; ndcg: number; recall: number; users: number };
  /** Test accuracy within each of the corpus' own collections in the test set (SpamAssassin's easy ham, hard ham, spam). */
  groups?: Record<string, { n: number; accuracy: number }>;
}

/** What every run leaves in `summary.json`, whichever front-end started it (`kdistill run`, `kdistill distill`, the library). */
export interface RunSummary {
  name: string;
  seed: number;
  dataset: string;
  trainSamples: number;
  validationSamples: number;
  testSamples: number;
  /** The dataset's class names, when it has them (Fashion-MNIST, image folders, JSONL labels). */
  classNames?: string[];
  rows: SummaryRow[];
  seconds: number;
  /** A federated run: its protocol, and per party its private split, the bytes it sent and received each round, the rounds it missed. */
  federated?: {
    algorithm: string;
    rounds: number;
    publicSamples: number;
    parties: { samples: number; classCounts: number[]; bytesUp: number[]; bytesDown: number[]; dropped: number[] }[];
  };
}

/** The comparison table printed at the end of a run. */
export function formatSummary(s: RunSummary): string {
  const w = Math.max(11, ...s.rows.map((r) => r.role.length + 1));
  // A file's label is its path; the table shows the file's name (summary.json keeps the path).
  const label = (r: SummaryRow) => r.model.replace(/^.*[\\/]/, '');
  const mw = Math.min(40, Math.max(18, ...s.rows.map((r) => label(r).length)));
  const subsets = Object.keys(s.rows[0]?.subsets ?? {});
  const groups = Object.keys(s.rows[0]?.groups ?? {});
  const k = s.rows[0]?.ranking?.k;
  const head =
    `${'role'.padEnd(w)} ${'model'.padEnd(mw)} test acc   agree   params    file KiB   p50 ms (b=1 / b=32)` +
    (k ? `   NDCG@${k}  Recall@${k}` : '') +
    (s.rows[0]?.language ? '   test ppl' : '') +
    subsets.map((n) => `   ${n}: acc / task`).join('') +
    groups.map((n) => `   ${n}`).join('');
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const agree = (r: SummaryRow) => (r.agreement === null ? '—' : `${(r.agreement * 100).toFixed(1)}%`);
  const lines = s.rows.map(
    (r) =>
      `${r.role.padEnd(w)} ${label(r).slice(-mw).padEnd(mw)} ${(r.testAccuracy * 100).toFixed(2).padStart(7)}%  ${agree(r).padStart(6)}  ` +
      `${String(r.parameters ?? '?').padStart(7)}  ${(r.fileBytes / 1024).toFixed(0).padStart(9)}   ` +
      r.latencyMs
        .map((l) => l.p50.toFixed(2))
        .join(' / ')
        .padEnd(13) +
      (r.ranking ? `   ${r.ranking.ndcg.toFixed(4).padStart(7)}  ${r.ranking.recall.toFixed(4).padStart(9)}` : '') +
      (r.language ? `   ${r.language.perplexity.toFixed(3).padStart(8)}` : '') +
      subsets.map((n) => `   ${pct(r.subsets![n].accuracy)} / ${pct(r.subsets![n].taskAccuracy)}`.padEnd(n.length + 17)).join('') +
      groups.map((n) => `   ${(r.groups?.[n] ? pct(r.groups[n].accuracy) : '—').padStart(n.length)}`).join(''),
  );
  const notes = subsets.length ? ['subsets: acc = over all classes, task = within the subset only (a task head)'] : [];
  const f = s.federated;
  if (f) {
    const mean = (k: 'bytesUp' | 'bytesDown') =>
      f.parties.reduce((a, p) => a + p[k].reduce((x, y) => x + y, 0), 0) / f.parties.length / f.rounds;
    const kb = (v: number) => `${(v / 1024).toFixed(1)} KiB`;
    notes.push(
      `${f.algorithm}, ${f.parties.length} parties, ${f.rounds} rounds: per party and round ${kb(mean('bytesUp'))} sent, ` +
        `${kb(mean('bytesDown'))} received (mean); rounds missed: ${f.parties.reduce((a, p) => a + p.dropped.length, 0)}`,
    );
  }
  const counts = `${s.trainSamples} train / ${s.validationSamples} validation / ${s.testSamples} test samples`;
  const totals = `${s.dataset}: ${counts}, ${s.seconds} s`;
  return [head, ...lines, totals, ...notes].join('\n');
}
