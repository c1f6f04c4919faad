import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { basename, dirname, isAbsolute, join, resolve } from '../src/util/path.js';

// The helpers stand in for node:path's posix functions where Node is absent, so they must agree with them.
const cases = [
  '',
  '.',
  '/',
  '//',
  'a',
  'a/',
  '/a',
  '/a/',
  'a/b',
  '/a/b/c.yaml',
  '/a//b/',
  'a/../..',
  '../x',
  '/..',
  '/a/../../b',
  './a/./b',
];

describe('util/path', () => {
  it('dirname, basename and isAbsolute agree with path.posix', () => {
    for (const c of cases) {
      assert.equal(dirname(c), path.posix.dirname(c), `dirname(${JSON.stringify(c)})`);
      assert.equal(basename(c), path.posix.basename(c), `basename(${JSON.stringify(c)})`);
      assert.equal(isAbsolute(c), path.posix.isAbsolute(c), `isAbsolute(${JSON.stringify(c)})`);
    }
  });

  it('join and resolve (from an absolute base) agree with path.posix', () => {
    for (const a of cases)
      for (const b of cases) {
        assert.equal(join(a, b), path.posix.join(a, b), `join(${JSON.stringify(a)}, ${JSON.stringify(b)})`);
        const base = `/cwd/${a}`;
        assert.equal(resolve(base, b), path.posix.resolve(base, b), `resolve(${JSON.stringify(base)}, ${JSON.stringify(b)})`);
      }
    assert.equal(resolve('/x', 'y', '/abs', 'z/../w'), '/abs/w');
  });

  it('resolve never reads a working directory: without an absolute part the result stays relative', () => {
    assert.equal(resolve('a', 'b/../c'), 'a/c');
    assert.equal(resolve('..', 'x'), '../x');
  });
});
