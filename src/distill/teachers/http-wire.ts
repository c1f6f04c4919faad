import { KdError } from '../../util/errors.js';
import { readAnswer, type PartialOptions } from './answers.js';

/** A request as the transport sends it: where, what, and how it is labelled. */
export interface WireRequest {
  readonly url: string;
  readonly body: string | Uint8Array<ArrayBuffer>;
  readonly headers: Readonly<Record<string, string>>;
}

/** An answer as the transport received it. */
export interface WireAnswer {
  readonly status: number;
  readonly body: Uint8Array;
  readonly headers: Headers;
}

/**
 * How a chunk of samples is put on the wire and how the server's answer is read back. `HttpTeacher` owns
 * everything around it (batching, concurrency, rate limit, retries, budget, token); a wire owns only the bytes.
 */
export interface HttpWire {
  /** What messages call the endpoint, e.g. `https://host/v2/models/m/infer` (origin and path, never a query). */
  readonly where: string;
  /** Part of the cache key besides the version: answers of another endpoint or output must never be reused. */
  readonly identity: string;
  /** One request for `n` samples of `shape` (the chunk's), serialised now: the caller may reuse `x` afterwards. */
  encode(x: Float32Array | BigInt64Array, shape: readonly number[], names: readonly string[]): WireRequest;
  /** A 2xx answer → one flat Float32Array per requested name; every problem is a BAD_TEACHER_ANSWER error. */
  decode(a: WireAnswer, n: number, names: readonly string[]): Float32Array[];
  /** The server's explanation in an error answer (a 4xx body), shortened for a message. */
  explain(a: WireAnswer): string;
}

const utf8 = new TextDecoder();
/** A body as text, for JSON and for messages. */
export const bodyText = (a: WireAnswer): string => utf8.decode(a.body);

/** kdistill's own JSON batch protocol (README, "HTTP teachers"): `POST url` with `{ inputs, shape, outputs }`. */
export function kdistillWire(url: string, classes: number, partial: PartialOptions = {}): HttpWire {
  const u = new URL(url);
  const where = `${u.origin}${u.pathname}`;
  return {
    where,
    identity: url,
    encode(x, shape, names) {
      const n = shape[0],
        per = x.length / n;
      const inputs = Array.from({ length: n }, (_, i) => Array.from(x.subarray(i * per, (i + 1) * per), Number));
      return {
        url,
        body: JSON.stringify({ inputs, shape, outputs: names }),
        headers: { 'content-type': 'application/json', accept: 'application/json' },
      };
    },
    decode(a, n, names) {
      const text = bodyText(a);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new KdError(
          'BAD_TEACHER_ANSWER',
          `HTTP teacher ${where}: the answer is not valid JSON (${(e as Error).message}); ` +
            `it starts with ${JSON.stringify(text.slice(0, 80))}`,
        );
      }
      if (typeof json !== 'object' || json === null || Array.isArray(json))
        throw new KdError(
          'BAD_TEACHER_ANSWER',
          `HTTP teacher ${where}: the answer must be a JSON object with 'logits', ` +
            `'topk' or 'label', got ${Array.isArray(json) ? 'an array' : String(json)}`,
        );
      return readAnswer(json, n, names, classes, partial, `HTTP teacher ${where}`);
    },
    explain: (a) => bodyText(a).slice(0, 200),
  };
}
