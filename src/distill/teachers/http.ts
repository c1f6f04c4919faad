import { KdError } from '../../util/errors.js';
import type { PartialOptions } from './answers.js';
import { backoffMs, retryAfterMs, Semaphore, sleep, TokenBucket } from './http-limits.js';
import { kdistillWire, type HttpWire, type WireAnswer, type WireRequest } from './http-wire.js';
import { httpKey } from './keys.js';
import { OpenInferenceWire, type OpenInferenceOptions } from './open-inference.js';
import type { Teacher } from '../../runtime/teacher.js';

/** Where an `HttpTeacher` sends batches and how it limits, retries and checks requests. */
export interface HttpTeacherOptions extends Partial<Omit<OpenInferenceOptions, 'version'>> {
  /**
   * kdistill's protocol: the endpoint, each request `POST url` with a JSON batch (README, "HTTP teachers").
   * Open Inference: the server's root (`http://host:8000`), requests go to `/v2/models/{model}/...`.
   */
  url: string;
  /** 'kdistill' (default): kdistill's JSON batch protocol; 'open-inference': KServe v2 / Triton, with `model` required. */
  protocol?: 'kdistill' | 'open-inference';
  /** Classes per logits row, to check answers and to expand top-k / label answers. */
  classes: number;
  /**
   * Bump it when the model behind the URL changes: it is part of the cache key (no version: not cacheable by key).
   * Open Inference: also the model version requested (`/versions/{v}`).
   */
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

type Attempt = WireAnswer | { fail: string };

/**
 * A teacher behind an HTTP endpoint speaking kdistill's JSON batch protocol or the Open Inference Protocol:
 * batches are split to `maxBatch`, sent with bounded concurrency under a rate limit, retried with backoff, and
 * counted against a budget. Errors name the endpoint (origin and path only) and never contain the token.
 */
export class HttpTeacher implements Teacher {
  readonly cacheKey?: string;
  /** Requests sent so far, retries included. */
  calls = 0;
  readonly #token?: string;
  private readonly where: string;
  private readonly wire: HttpWire;
  private readonly sem: Semaphore;
  private readonly bucket: TokenBucket;
  /** The Open Inference metadata check, run once before the first request. */
  private checking?: Promise<void>;

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
    if (o.protocol === 'open-inference') {
      if (!o.model)
        throw new KdError('BAD_OPTION', `HTTP teacher ${this.where}: the Open Inference protocol needs the served model's name (model)`);
      this.wire = new OpenInferenceWire(o.url, { ...o, model: o.model }, o.classes);
      this.where = this.wire.where;
    } else this.wire = kdistillWire(o.url, o.classes, o.partial);
    // The kdistill protocol's key stays the URL's, so caches filled before Open Inference existed are still found.
    this.cacheKey = o.version === undefined ? undefined : httpKey(o.protocol === 'open-inference' ? this.wire.identity : o.url, o.version);
    this.sem = new Semaphore(Math.max(1, o.concurrency ?? 4));
    this.bucket = new TokenBucket(o.rateLimit ?? Infinity, o.burst ?? 1);
  }

  async predictMany(x: Float32Array | BigInt64Array, shape: readonly number[], names: readonly string[]): Promise<Float32Array[]> {
    await this.check(shape.slice(1), x instanceof BigInt64Array, names);
    const n = shape[0],
      per = shape.slice(1).reduce((a, b) => a * b, 1),
      max = Math.max(1, this.o.maxBatch ?? 64);
    const chunks: Promise<Float32Array[]>[] = [];
    for (let s = 0; s < n; s += max) {
      const m = Math.min(max, n - s);
      // Serialised now: the caller may reuse `x` as soon as this returns.
      const req = this.wire.encode(x.subarray(s * per, (s + m) * per), [m, ...shape.slice(1)], names);
      chunks.push(this.request(req, (a) => this.wire.decode(a, m, names)));
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

  /**
   * Open Inference: the server's and model's readiness and the model's metadata against samples of
   * `sampleShape` (run before the first request; preflight calls it to fail before training). No-op otherwise.
   */
  check(sampleShape: readonly number[], integer: boolean | undefined, names: readonly string[] = ['logits']): Promise<void> {
    const wire = this.wire;
    if (!(wire instanceof OpenInferenceWire)) return Promise.resolve();
    this.checking ??= wire.check(
      (url) => this.request({ url, headers: { accept: 'application/json' } }, (a) => a),
      sampleShape,
      integer,
      names,
    );
    // A failed check is not remembered: the next call asks again (the server may have come up).
    this.checking.catch(() => (this.checking = undefined));
    return this.checking;
  }

  async release(): Promise<void> {}

  /**
   * One request with retries (a GET when it has no body): a retry waits outside the concurrency bound, so
   * other chunks go on. A 2xx answer goes to `read`; for a GET, so does any 4xx (the caller judges it).
   */
  private async request<T>(req: Omit<WireRequest, 'body'> & { body?: WireRequest['body'] }, read: (a: WireAnswer) => T): Promise<T> {
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
        const r = await this.send(req);
        if ('fail' in r) last = r.fail;
        else if ((r.status >= 200 && r.status < 300) || (req.body === undefined && r.status < 500 && r.status !== 408 && r.status !== 429))
          return this.redacting(() => read(r));
        else if (r.status === 408 || r.status === 429 || r.status >= 500) {
          const why = this.redact(this.wire.explain(r).slice(0, 120));
          last = `HTTP ${r.status}${why ? ` (${why})` : ''}`;
          wait = retryAfterMs(r.headers.get('retry-after'));
        } else
          throw new KdError(
            'TEACHER_FAILED',
            `HTTP teacher ${this.where} answered HTTP ${r.status}: ${this.redact(this.wire.explain(r)) || '(no body)'}`,
          );
      } finally {
        this.sem.release();
      }
      if (attempt >= retries)
        throw new KdError('TEACHER_FAILED', `HTTP teacher ${this.where}: ${attempt + 1} attempts failed, the last with ${last}`);
      await sleep(wait ?? backoffMs(attempt, this.o.backoffMs ?? 500, this.o.maxBackoffMs ?? 30_000, this.o.random));
    }
  }

  private async send(req: Omit<WireRequest, 'body'> & { body?: WireRequest['body'] }): Promise<Attempt> {
    const timeout = this.o.timeoutMs ?? 30_000;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeout);
    const headers: Record<string, string> = { ...req.headers, ...this.o.headers };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    try {
      const res = await fetch(req.url, { method: req.body === undefined ? 'GET' : 'POST', headers, body: req.body, signal: ac.signal });
      // The timeout covers the body too: a server that stalls mid-answer is as stuck as a silent one.
      return { status: res.status, body: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
    } catch (e) {
      if (ac.signal.aborted) return { fail: `no answer within ${timeout} ms` };
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      return { fail: `a network error (${this.redact(cause?.code ?? cause?.message ?? (e as Error).message)})` };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs `f`; an error it throws loses the token from its message (a server may echo request headers back). */
  private redacting<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (this.#token && e instanceof KdError && e.message.includes(this.#token)) throw new KdError(e.code, this.redact(e.message));
      throw e;
    }
  }

  /** A server may echo request headers back in an error page; the token must not travel on in a message. */
  private redact(s: string): string {
    return this.#token ? s.split(this.#token).join('***') : s;
  }
}
