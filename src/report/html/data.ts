/**
 * What a report shows of one run, read from its directory's files: the summary, the resolved config, the logged
 * metrics (steps thinned to a chartable number of points), and the export report when `kdistill export` ran.
 * Parsing is here and pure, so the report builds from the same text in Node and in a tab.
 */
import type { ExportReport } from '../export-report.js';
import type { RunSummary } from '../../train/report.js';

/** One stage's training curves: x = step, one series per logged number (loss terms, grad_norm, acc, agree). */
export interface StepSeries {
  step: number[];
  series: Record<string, (number | null)[]>;
}

/** One stage's validation after each epoch. */
export interface EpochSeries {
  epoch: number[];
  valAccuracy: (number | null)[];
  valLoss: (number | null)[];
}

/** Maps of `values.length` images, each `height × width` in row-major order, scaled to [0, 1]. */
export interface ImageStack {
  height: number;
  width: number;
  values: number[][];
}

/** Test images and, for each feature term's node pair, the teacher's and the student's attention on them. */
export interface AttentionFigure {
  images: ImageStack;
  labels: number[];
  pairs: { method: string; teacherNode: string; studentNode: string; teacher: ImageStack; student: ImageStack }[];
}

/** Everything a report needs from one run directory. */
export interface ReportRun {
  /** How the run is named on the page (its directory). */
  label: string;
  summary: RunSummary;
  /** config.resolved.yaml (every default filled in). */
  config?: string;
  /** run.json: start time, seed, versions. */
  run?: { startedAt?: string; seed?: number; versions?: Record<string, string> };
  steps: Record<string, StepSeries>;
  epochs: Record<string, EpochSeries>;
  exportReport?: ExportReport;
  /** For runs with feature terms: teacher and student attention maps on a few test images. */
  attention?: AttentionFigure;
  /** For data-free stages: a grid of the first synthesised samples (a PNG data URI) and the teacher's labels of them. */
  synthesized?: { stage: string; png: string; labels: number[] }[];
}

/** Steps kept per stage: enough for the shape of a curve, few enough for a small file. */
export const MAX_POINTS = 1500;
const SKIP = new Set(['t', 'stage', 'step', 'event', 'epoch']);

/** Parses metrics.jsonl into per-stage step and epoch series, keeping every k-th step so none has over `maxPoints`. */
export function metricsSeries(
  jsonl: string,
  maxPoints = MAX_POINTS,
): { steps: Record<string, StepSeries>; epochs: Record<string, EpochSeries> } {
  const stepRows = new Map<string, Record<string, unknown>[]>();
  const epochs: Record<string, EpochSeries> = {};
  for (const line of jsonl.split('\n')) {
    if (!line.trim()) continue;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue; // a line cut by a killed run: the rest still charts
    }
    const stage = String(e.stage ?? 'run');
    if (e.event === 'epoch') {
      if (!epochs[stage]) epochs[stage] = { epoch: [], valAccuracy: [], valLoss: [] };
      const s = epochs[stage];
      s.epoch.push(Number(e.epoch));
      s.valAccuracy.push(typeof e.valAccuracy === 'number' ? e.valAccuracy : null);
      s.valLoss.push(typeof e.valLoss === 'number' ? e.valLoss : null);
    } else if (e.event === undefined && typeof e.step === 'number') {
      if (!stepRows.has(stage)) stepRows.set(stage, []);
      stepRows.get(stage)!.push(e);
    }
  }
  const steps: Record<string, StepSeries> = {};
  for (const [stage, rows] of stepRows) {
    const k = Math.max(1, Math.ceil(rows.length / maxPoints));
    const kept = rows.filter((_, i) => i % k === 0 || i === rows.length - 1);
    const names = [...new Set(kept.flatMap((r) => Object.keys(r).filter((n) => !SKIP.has(n) && typeof r[n] === 'number')))];
    steps[stage] = {
      step: kept.map((r) => r.step as number),
      series: Object.fromEntries(
        names.map((n) => [
          n,
          kept.map((r) => (typeof r[n] === 'number' && Number.isFinite(r[n]) ? +(r[n] as number).toPrecision(5) : null)),
        ]),
      ),
    };
  }
  return { steps, epochs };
}
