import { runtime } from '../runtime/runtime.js';
import { readText, writeAtomic } from '../runtime/storage.js';
import { join } from '../util/path.js';
import { KdError } from '../util/errors.js';

/** Versions a run records so its numbers can be traced to the software that made them (from the registered runtime). */
export function versions(): Record<string, string> {
  return runtime().versions();
}

/**
 * A run directory: the config as given and as resolved, seed and versions (`run.json`), every logged
 * event as one JSON line in `metrics.jsonl`, checkpoints, exported models and `summary.json`.
 */
export class RunDir {
  readonly checkpoints: string;
  private readonly metricsPath: string;
  /** Sees every logged event as it is written (a front-end's live charts); set with {@link RunDir.observe}. */
  private observer?: (event: Record<string, unknown>) => void;

  constructor(readonly dir: string) {
    const { storage } = runtime();
    storage.mkdirp(dir);
    this.checkpoints = this.path('checkpoints');
    storage.mkdirp(this.checkpoints);
    this.metricsPath = this.path('metrics.jsonl');
  }

  /** A file or folder of the run directory. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** Records what the run was started with: the config text, its resolved form, the seed and the versions. */
  start(info: { configText?: string; resolvedText?: string; seed: number; command: string[] }): void {
    if (info.configText !== undefined) writeAtomic(this.path('config.yaml'), [info.configText], { what: 'config' });
    if (info.resolvedText !== undefined) writeAtomic(this.path('config.resolved.yaml'), [info.resolvedText], { what: 'config' });
    // A new run in the same folder starts a fresh metrics log instead of appending to the old one.
    writeAtomic(this.metricsPath, [''], { what: 'metrics log' });
    writeAtomic(this.path('run.json'), [
      `${JSON.stringify({ startedAt: new Date().toISOString(), seed: info.seed, command: info.command, versions: versions() }, null, 2)}\n`,
    ]);
  }

  /**
   * Reopens an interrupted run for `--resume`: the config it was started with must be the one given now
   * (a changed config would silently mix two experiments); the metrics log is appended to, not restarted.
   */
  resume(resolvedText: string, command: string[]): void {
    const saved = this.path('config.resolved.yaml');
    if (!runtime().storage.exists(saved))
      throw new KdError(
        'NOTHING_TO_RESUME',
        `nothing to resume in ${this.dir}: it holds no config.resolved.yaml (start the run without --resume)`,
      );
    if (readText(saved, 'resolved config') !== resolvedText)
      throw new KdError(
        'CONFIG_CHANGED',
        `cannot resume ${this.dir}: the config differs from the one the run was started ` +
          `with (${saved}); restore it, or start a new run under another name or outDir`,
      );
    this.log({ event: 'resume', command });
  }

  /** Appends one metrics event (a step's loss terms, an epoch's evaluation, ...). */
  log(event: Record<string, unknown>): void {
    const e = { t: Date.now(), ...event };
    runtime().storage.append(this.metricsPath, `${JSON.stringify(e)}\n`);
    this.observer?.(e);
  }

  /** Calls `fn` with every event logged from now on (one observer; a later call replaces it). */
  observe(fn: ((event: Record<string, unknown>) => void) | undefined): void {
    this.observer = fn;
  }

  /** Writes a file of the run directory atomically. */
  write(name: string, data: string | Uint8Array): void {
    writeAtomic(this.path(name), [data]);
  }
}
