/** The pacing pieces of `HttpTeacher`: a concurrency bound, a request-rate limit, retry delays. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** At most `limit` holders at once; the others wait in arrival order. */
export class Semaphore {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(readonly limit: number) {}

  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    // The releaser hands its slot over directly, so `active` never drops between two holders.
    await new Promise<void>((r) => this.queue.push(r));
  }

  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.active--;
  }
}

/**
 * A token bucket: `rate` tokens per second, at most `burst` saved up; each request takes one. Waiters
 * are served in arrival order, so a steady stream of requests is paced at exactly `rate`.
 */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly rate: number,
    readonly burst = 1,
  ) {
    this.tokens = burst;
  }

  take(): Promise<void> {
    if (!Number.isFinite(this.rate)) return Promise.resolve();
    const turn = this.chain.then(async () => {
      const now = performance.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
      if (this.tokens < 1) {
        await sleep(((1 - this.tokens) / this.rate) * 1000);
        this.tokens = 1;
        this.last = performance.now();
      }
      this.tokens -= 1;
    });
    this.chain = turn;
    return turn;
  }
}

/**
 * Delay before retry number `attempt` (0 = the first retry): exponential from `baseMs`, capped at
 * `maxMs`, with "equal jitter" (half fixed, half random) so clients that failed together do not
 * come back together, yet none retries at once.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const d = Math.min(maxMs, baseMs * 2 ** attempt);
  return d / 2 + random() * (d / 2);
}

/** A Retry-After header in milliseconds (delta-seconds or an HTTP date), or undefined if absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const s = Number(header.trim());
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const t = Date.parse(header);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}
