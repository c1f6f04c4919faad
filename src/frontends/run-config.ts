import { configToYaml, type ResolvedConfig } from '../config/index.js';
import { executePlan } from '../train/execute.js';
import { planFromConfig } from './config-plan.js';
import { preflight } from '../train/preflight.js';
import { formatSummary, type RunSummary } from '../train/report.js';
import { RunDir } from '../train/run-dir.js';
import { loadData } from './config-data.js';
import { runFederatedExperiment } from './federated-run.js';
import { runLmExperiment } from './lm-run.js';
import { KdError } from '../util/errors.js';

export { formatSummary, type RunSummary, type SummaryRow } from '../train/report.js';

/** How `runExperiment` runs: where it writes, whether it resumes, and where its lines for the user go. */
export interface RunOptions {
  /** The run directory (default: a new one at `cfg.outDir`, started with the resolved config, seed and versions). */
  readonly runDir?: RunDir;
  /** Continue an interrupted run: finished stages are reused, the interrupted one continues from its newest checkpoint. */
  readonly resume?: boolean;
  /** Lines for the user: resumed stages, the final table. */
  readonly log?: (line: string) => void;
  /** Every metrics event as it is logged (step losses, epoch evaluations, ...), for live charts. */
  readonly onEvent?: (event: Record<string, unknown>) => void;
  /** Awaited between ORT runs: return a promise that resolves when the user resumes a paused run. */
  readonly pause?: () => Promise<void>;
}

/**
 * Runs an experiment from a resolved config, the one core every front-end uses: the data is split once, the
 * config becomes a plan of stages, every stage is checked against its teachers (preflight), the stages run in
 * order, and `summary.json` gets one row per model. Validation data picks the best checkpoint; test is only reported.
 */
export async function runExperiment(cfg: ResolvedConfig, opts: RunOptions = {}): Promise<RunSummary> {
  const t0 = Date.now();
  const rd = opts.runDir ?? new RunDir(cfg.outDir);
  if (!opts.runDir && opts.resume) rd.resume(configToYaml(cfg), ['runExperiment']);
  else if (!opts.runDir) rd.start({ resolvedText: configToYaml(cfg), seed: cfg.seed, command: ['runExperiment'] });
  if (opts.onEvent) rd.observe(opts.onEvent);
  if (cfg.dataset.name === 'udhr-text') {
    if (opts.resume) throw new KdError('BAD_OPTION', 'a language-model run cannot resume yet; start it again without --resume');
    const summary = await runLmExperiment(cfg, rd, opts.log);
    rd.write('summary.json', `${JSON.stringify(summary, null, 2)}\n`);
    opts.log?.(formatSummary(summary));
    return summary;
  }
  const data = loadData(cfg);
  if (cfg.federated) {
    const summary = await runFederatedExperiment(cfg, data, rd, opts.log);
    rd.write('summary.json', `${JSON.stringify(summary, null, 2)}\n`);
    opts.log?.(formatSummary(summary));
    return summary;
  }
  const plan = planFromConfig(cfg, data);
  await preflight(plan);
  const rows = await executePlan(plan, { runDir: rd, resume: opts.resume, log: opts.log, pause: opts.pause });
  const summary: RunSummary = {
    name: plan.name,
    seed: plan.seed,
    dataset: plan.dataset,
    trainSamples: data.train.n,
    validationSamples: data.val?.n ?? 0,
    testSamples: data.test.n,
    ...(data.test.classNames ? { classNames: [...data.test.classNames] } : {}),
    rows,
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  rd.write('summary.json', `${JSON.stringify(summary, null, 2)}\n`);
  opts.log?.(formatSummary(summary));
  return summary;
}
