import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { KdError } from '../util/errors.js';
import { writeAtomic } from '../util/fs.js';

const require = createRequire(import.meta.url);

/** Versions a run records so its numbers can be traced to the software that made them. */
export function versions(): Record<string, string> {
  const v = (pkg: string) => {
    try {
      return (require(`${pkg}/package.json`) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  };
  return {
    kdistill: (require('../../package.json') as { version: string }).version,
    node: process.version,
    'onnxruntime-node': v('onnxruntime-node'),
    os: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: `${os.cpus()[0]?.model ?? 'unknown'} ×${os.cpus().length}`,
  };
}

/**
 * A run directory: the config as given and as resolved, seed and versions (`run.json`), every logged
 * event as one JSON line in `metrics.jsonl`, checkpoints, exported models and `summary.json`.
 */
export class RunDir {
  readonly checkpoints: string;
  private readonly metricsPath: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.checkpoints = join(dir, 'checkpoints');
    mkdirSync(this.checkpoints, { recursive: true });
    this.metricsPath = join(dir, 'metrics.jsonl');
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** Records what the run was started with: the config text, its resolved form, the seed and the versions. */
  start(info: { configText?: string; resolvedText?: string; seed: number; command: string[] }): void {
    if (info.configText !== undefined) writeFileSync(this.path('config.yaml'), info.configText);
    if (info.resolvedText !== undefined) writeFileSync(this.path('config.resolved.yaml'), info.resolvedText);
    // A new run in the same folder starts a fresh metrics log instead of appending to the old one.
    writeFileSync(this.metricsPath, '');
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
    if (!existsSync(saved))
      throw new KdError(
        'NOTHING_TO_RESUME',
        `nothing to resume in ${this.dir}: it holds no config.resolved.yaml (start the run without --resume)`,
      );
    if (readFileSync(saved, 'utf8') !== resolvedText)
      throw new KdError(
        'CONFIG_CHANGED',
        `cannot resume ${this.dir}: the config differs from the one the run was started with (${saved}); restore it, or start a new run under another name or outDir`,
      );
    this.log({ event: 'resume', command });
  }

  /** Appends one metrics event (a step's loss terms, an epoch's evaluation, ...). */
  log(event: Record<string, unknown>): void {
    appendFileSync(this.metricsPath, `${JSON.stringify({ t: Date.now(), ...event })}\n`);
  }

  write(name: string, data: string | Uint8Array): void {
    writeAtomic(this.path(name), [data]);
  }
}
