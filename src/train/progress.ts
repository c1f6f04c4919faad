/**
 * Progress for long runs: on a terminal one line per stage rewritten in place (every loss term and
 * images/s), elsewhere a JSON line every `every` steps so CI logs and pipes stay parseable.
 */
/** Where progress lines go: a terminal or pipe (Node's stderr), or nothing where there is none (a browser). */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

// Looked up on the global object so a browser bundle, which has no `process`, needs no polyfill.
const stderr = (globalThis as { process?: { stderr?: ProgressStream } }).process?.stderr ?? { write: () => true };

export class Progress {
  private readonly tty: boolean;
  private t0 = Date.now();
  private seen = 0;

  constructor(
    private readonly stage: string,
    private readonly totalSteps: number,
    private readonly batchSize: number,
    private readonly every = 50,
    stream: ProgressStream = stderr,
  ) {
    this.tty = !!stream.isTTY;
    this.stream = stream;
  }
  private readonly stream: ProgressStream;

  /** Reports one finished step with its scalar outputs. */
  step(step: number, out: Record<string, number>): void {
    this.seen += this.batchSize;
    const last = step + 1 === this.totalSteps;
    if (!this.tty && (step + 1) % this.every !== 0 && !last) return;
    const rate = Math.round((this.seen / Math.max(1, Date.now() - this.t0)) * 1000);
    if (!this.tty) {
      this.stream.write(`${JSON.stringify({ stage: this.stage, step: step + 1, of: this.totalSteps, imgPerSec: rate, ...round(out) })}\n`);
      return;
    }
    if (step % 5 !== 0 && !last) return;
    const width = 24,
      done = Math.round(((step + 1) / this.totalSteps) * width);
    const terms = Object.entries(round(out))
      .map(([k, v]) => `${k} ${v}`)
      .join('  ');
    this.stream.write(
      `\r\x1b[2K${this.stage} [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${step + 1}/${this.totalSteps}  ${terms}  ${rate} img/s`,
    );
    if (last) this.stream.write('\n');
  }

  /** A free-form line (epoch evaluations), kept apart from the progress line. */
  note(event: Record<string, unknown>): void {
    if (this.tty)
      this.stream.write(
        `\r\x1b[2K${this.stage}: ${Object.entries(event)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}\n`,
      );
    else this.stream.write(`${JSON.stringify({ stage: this.stage, ...event })}\n`);
  }
}

function round(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, +v.toFixed(4)]));
}
