import assert from 'node:assert/strict';
import { KdError } from '../../src/util/errors.js';

/** Awaits `p`, which must reject with a KdError of `code` whose message matches `re`; returns the error. */
export async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<KdError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(e instanceof KdError, `expected a KdError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  return e;
}
