/** Reading run directories and writing report.html in Node: the files a run leaves, and uPlot from its package. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, relative, resolve } from 'node:path';
import type { RunSummary } from '../../train/report.js';
import { writeAtomic } from '../../runtime/storage.js';
import { KdError } from '../../util/errors.js';
import type { ExportReport } from '../export-report.js';
import type { SeedsSummary } from '../seeds.js';
import { metricsSeries, type ReportRun } from '../html/data.js';
import { type ReportAssets, renderReport } from '../html/render.js';
import { tileSamples } from '../../distill/datafree/grid.js';
import { encodePng } from '../../distill/datafree/node/png.js';
import { attentionFigure } from './attention.js';

let assets: ReportAssets | undefined;
/** uPlot's browser build and stylesheet, read once from the installed `uplot` package. */
export function reportAssets(): ReportAssets {
  if (assets) return assets;
  const req = createRequire(import.meta.url);
  const file = (f: string) => readFileSync(req.resolve(`uplot/dist/${f}`), 'utf8');
  assets = { uplotJs: file('uPlot.iife.min.js'), uplotCss: file('uPlot.min.css') };
  return assets;
}

const readJson = <T>(file: string): T | undefined => (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined);

/** What a report needs from a finished run directory; a directory without summary.json is named with what to do. */
export function readReportRun(dir: string, label = basename(resolve(dir))): ReportRun {
  const summaryFile = join(dir, 'summary.json');
  if (!existsSync(summaryFile))
    throw new KdError(
      'NO_SUMMARY',
      `${summaryFile} not found: ${dir} is not a finished run directory (a run writes summary.json when it ends; ` +
        'finish an interrupted one with `kdistill run <config> --resume`)',
    );
  const summary = readJson<RunSummary>(summaryFile)!;
  const metrics = join(dir, 'metrics.jsonl');
  const { steps, epochs } = existsSync(metrics) ? metricsSeries(readFileSync(metrics, 'utf8')) : { steps: {}, epochs: {} };
  const config = existsSync(join(dir, 'config.resolved.yaml')) ? readFileSync(join(dir, 'config.resolved.yaml'), 'utf8') : undefined;
  return {
    label,
    summary,
    config,
    run: readJson(join(dir, 'run.json')),
    steps,
    epochs,
    exportReport: readJson<ExportReport>(join(dir, 'export-report.json')),
    synthesized: synthesizedGrids(dir),
  };
}

/** The first samples each data-free stage trained on (`<stage>-synth.json`), tiled into PNG data URIs. */
function synthesizedGrids(dir: string): ReportRun['synthesized'] {
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir).filter((f) => f.endsWith('-synth.json'));
  if (!files.length) return undefined;
  return files.sort().map((f) => {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { x: number[]; y: number[]; shape: number[]; range?: [number, number] };
    const png = encodePng(tileSamples(p.x, p.shape, p.range ?? [0, 1], 8));
    return { stage: f.replace(/-synth\.json$/, ''), labels: p.y, png: `data:image/png;base64,${png.toString('base64')}` };
  });
}

/** Writes `<dir>/report.html` for one finished run (with attention maps when its loss compares features); returns its path. */
export async function writeRunReport(dir: string): Promise<string> {
  const out = join(dir, 'report.html');
  const run = readReportRun(dir);
  const attention = await attentionFigure(dir);
  writeAtomic(out, [renderReport({ runs: [attention ? { ...run, attention } : run] }, reportAssets())], { what: 'report' });
  return out;
}

/** One page comparing several runs (each linked to its own report.html when it has one), written to `out`. */
export function writeComparisonReport(dirs: readonly string[], out: string): string {
  const runs = dirs.map((d) => readReportRun(d, d));
  const links = dirs.map((d) => (existsSync(join(d, 'report.html')) ? relative(resolve(out, '..'), join(resolve(d), 'report.html')) : ''));
  writeAtomic(out, [renderReport({ runs, links }, reportAssets())], { what: 'report' });
  return out;
}

/** The report of a multi-seed run: the seed statistics, then each seed's run. */
export function writeSeedsReport(dir: string, seeds: SeedsSummary): string {
  const out = join(dir, 'report.html');
  const runs = seeds.runs.map((r, i) => readReportRun(join(dir, r), `seed ${seeds.seeds[i]} (${r})`));
  writeAtomic(out, [renderReport({ runs, seeds, links: seeds.runs.map((r) => `${r}/report.html`) }, reportAssets())], { what: 'report' });
  return out;
}
