import { KdError } from '../../util/errors.js';
import { readAnswer, type PartialOptions } from './answers.js';
import { backoffMs, retryAfterMs, Semaphore, sleep, TokenBucket } from './http-limits.js';
import { httpKey } from './keys.js';
import type { Teacher } from '../../runtime/teacher.js';

/** Where an `HttpTeacher` sends batches and how it limits, retries and checks requests. */
export interface HttpTeacherOptions {
  /** The endpoint; each request is `POST url` with a JSON batch (README, "HTTP teachers"). */
  url: string;
  /** Classes per logits row, to check answers and to expand top-k / label answers. */
  classes: number;
  /** Bump it when the model behind the URL changes: it is part of the cache key (no version: not cacheable by key). */
  version?: string;
  /** Samples per request; larger batches are split (default 64). */
  maxBatch?: number;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Requests per second, as a token bucket holding `burst` tokens (default: unlimited, burst 1). */
  rateLimit?: number;
  burst?: number;
  /** Per request, answer included (default 30 000 ms). */
  timeoutMs?: number;
  /** Retries of a request after a timeout, network error, 408, 429 or 5xx (default 4). */
  retries?: number;
  /** First retry delay, doubled each time up to `maxBackoffMs`, with jitter (defaults 500 and 30 000 ms); a Retry-After header wins. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Budget: at most this many requests in this teacher's life, retries included (default unlimited). */
  maxCalls?: number;
  /** Name of the environment variable holding a bearer token (`Authorization: Bearer <token>`); the token is never logged or stored. */
  authEnv?: string;
  /** Further request headers. */
  headers?: Readonly<Record<string, string>>;
  /** How top-k or label answers become logits. */
  partial?: PartialOptions;
  /** Source of jitter (tests make it fixed). */
  random?: () => number;
}

type Attempt = { status: number; text: string; retryAfter: string | null } | { fail: string };

/**
 * A teacher behind an HTTP endpoint speaking kdistill's JSON batch protocol: batches are split to
 * `maxBatch`, sent with bounded concurrency under a rate limit, retried with backoff, and counted
 * against a budget. Errors name the endpoint (origin and path only) and never contain the token.
 */
export class HttpTeacher implements Teacher {
  readonly cacheKey?: string;
  /** Requests sent so far, retries included. */
  calls = 0;
  readonly #token?: string;
  private readonly where: string;
  private readonly sem: Semaphore;
  private readonly bucket: TokenBucket;

  constructor(private readonly o: HttpTeacherOptions) {
    let u: URL;
    try {
      u = new URL(o.url);
    } catch {
      throw new KdError('BAD_OPTION', `HTTP teacher: '${o.url}' is not a URL`);
    }
    // Userinfo and query strings can hold secrets: messages show only where the endpoint is.
    this.where = `${u.origin}${u.pathname}`;
    if (!Number.isInteger(o.classes) || o.classes < 1)
      throw new KdError('BAD_OPTION', `HTTP teacher ${this.where}: classes must be a positive integer, got ${o.classes}`);
    if (o.authEnv) {
      // A browser has no environment: there the variable is simply unset.
      this.#token = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[o.authEnv];
      if (!this.#token)
        throw new KdError(
          'MISSING_CREDENTIALS',
          `HTTP teacher ${this.where}: the environment variable ${o.authEnv} (authEnv) is not set; export the token there`,
        );
    }
    this.cacheKey = o.version === undefined ? undefined : httpKey(o.url, o.version);
    this.sem = new Semaphore(Math.max(1, o.concurrency ?? 4));
    this.bucket = new TokenBucket(o.rateLimit ?? Infinity, o.burst ?? 1);
  }

  async predictMany(x: Float32Array | BigInt64Array, shape: readonly number[], names: readonly string[]): Promise<Float32Array[]> {
    const n = shape[0],
      per = shape.slice(1).reduce((a, b) => a * b, 1),
      max = Math.max(1, this.o.maxBatch ?? 64);
    const chunks: Promise<Float32Array[]>[] = [];
    for (let s = 0; s < n; s += max) {
      const m = Math.min(max, n - s);
      // Serialised now: the caller may reuse `x` as soon as this returns.
      const inputs = Array.from({ length: m }, (_, i) => Array.from(x.subarray((s + i) * per, (s + i + 1) * per), Number));
      chunks.push(this.request(JSON.stringify({ inputs, shape: [m, ...shape.slice(1)], outputs: names }), m, names));
    }
    const parts = await Promise.all(chunks);
    if (parts.length === 1) return parts[0];
    return names.map((_, k) => {
      const out = new Float32Array(parts.reduce((s, p) => s + p[k].length, 0));
      let off = 0;
      for (const p of parts) {
        out.set(p[k], off);
        off += p[k].length;
      }
      return out;
    });
  }

  async release(): Promise<void> {}

  /** One chunk, with retries: a retry waits outside the concurrency bound, so other chunks go on. */
  private async request(body: string, n: number, names: readonly string[]): Promise<Float32Array[]> {
    const retries = this.o.retries ?? 4;
    let last = '';
    for (let attempt = 0; ; attempt++) {
      let wait: number | undefined;
      await this.sem.acquire();
      try {
        await this.bucket.take();
        const max = this.o.maxCalls ?? Infinity;
        if (this.calls >= max)
          throw new KdError(
            'TEACHER_BUDGET',
            `HTTP teacher ${this.where}: its budget of ${max} calls is spent ` +
              `(${this.calls} calls made${last ? `; the last failed: ${last}` : ''}); ` +
              'raise maxCalls, or fill a teacher cache so that later runs need no calls',
          );
        this.calls++;
        const r = await this.send(body);
        if ('fail' in r) last = r.fail;
        else if (r.status >= 200 && r.status < 300) return this.parse(r.text, n, names);
        else if (r.status === 408 || r.status === 429 || r.status >= 500) {
          last = `HTTP ${r.status}${r.text ? ` (${this.redact(r.text.slice(0, 120))})` : ''}`;
          wait = retryAfterMs(r.retryAfter);
        } else
          throw new KdError(
            'TEACHER_FAILED',
            `HTTP teacher ${this.where} answered HTTP ${r.status}: ${this.redact(r.text.slice(0, 200)) || '(no body)'}`,
          );
      } finally {
        this.sem.release();
      }
      if (attempt >= retries)
        throw new KdError('TEACHER_FAILED', `HTTP teacher ${this.where}: ${attempt + 1} attempts failed, the last with ${last}`);
      await sleep(wait ?? backoffMs(attempt, this.o.backoffMs ?? 500, this.o.maxBackoffMs ?? 30_000, this.o.random));
    }
  }

  private async send(body: string): Promise<Attempt> {
    const timeout = this.o.timeoutMs ?? 30_000;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeout);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', ...this.o.headers };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    try {
      const res = await fetch(this.o.url, { method: 'POST', headers, body, signal: ac.signal });
      // The timeout covers the body too: a server that stalls mid-answer is as stuck as a silent one.
      return { status: res.status, text: await res.text(), retryAfter: res.headers.get('retry-after') };
    } catch (e) {
      if (ac.signal.aborted) return { fail: `no answer within ${timeout} ms` };
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      return { fail: `a network error (${this.redact(cause?.code ?? cause?.message ?? (e as Error).message)})` };
    } finally {
      clearTimeout(timer);
    }
  }

  private parse(text: string, n: number, names: readonly string[]): Float32Array[] {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new KdError(
        'BAD_TEACHER_ANSWER',
        `HTTP teacher ${this.where}: the answer is not valid JSON (${(e as Error).message}); ` +
          `it starts with ${JSON.stringify(this.redact(text.slice(0, 80)))}`,
      );
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      throw new KdError(
        'BAD_TEACHER_ANSWER',
        `HTTP teacher ${this.where}: the answer must be a JSON object with 'logits', ` +
          `'topk' or 'label', got ${Array.isArray(json) ? 'an array' : String(json)}`,
      );
    return readAnswer(json, n, names, this.o.classes, this.o.partial ?? {}, `HTTP teacher ${this.where}`);
  }

  /** A server may echo request headers back in an error page; the token must not travel on in a message. */
  private redact(s: string): string {
    return this.#token ? s.split(this.#token).join('***') : s;
  }
}
