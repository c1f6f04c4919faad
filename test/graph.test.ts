import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Graph } from '../src/graph/graph.js';
import * as op from '../src/graph/ops.js';
import { parseOnnx, toOnnx } from '../src/graph/onnx.js';
import { createSession, toOrt } from '../src/runtime/ort.js';
import { KdError } from '../src/util/errors.js';

describe('graph builder', () => {
  it('infers shapes with a symbolic batch and names every node', () => {
    const g = new Graph('m');
    const x = g.input('x', 'float32', ['N', 1, 28, 28]);
    const w = g.initializer('w', op.f32(new Array(8 * 9).fill(0.1), [8, 1, 3, 3]), true);
    const y = g.scoped('block1', () => op.conv(x, w, undefined, { pads: [1, 1, 1, 1], name: 'conv' }));
    assert.deepEqual(y.shape, ['N', 8, 28, 28]);
    assert.equal(y.name, 'block1/conv');
    const p = op.maxPool(y, { kernel: [2, 2] })[0];
    assert.deepEqual(p.shape, ['N', 8, 14, 14]);
    const f = op.reshape(p, [0, -1]);
    assert.deepEqual(f.shape, ['N', 8 * 14 * 14]);
    assert.ok(g.nodes.every((n) => n.name.length > 0));
    assert.equal(new Set(g.nodes.map((n) => n.name)).size, g.nodes.length);
  });

  it('reports shape mismatches with both shapes', () => {
    const g = new Graph('m');
    const a = g.input('a', 'float32', ['N', 3]);
    const b = g.input('b', 'float32', [4, 2]);
    assert.throws(() => op.matmul(a, b), (e: unknown) => e instanceof KdError && /\[N, 3\].*\[4, 2\]/.test(e.message));
  });

  it('serialises to ONNX that onnxruntime runs, and parses back', async () => {
    const g = new Graph('m');
    const x = g.input('x', 'float32', ['N', 3]);
    const w = g.initializer('w', op.f32([1, 2, 3, 4, 5, 6], [3, 2]), true);
    const y = op.relu(op.matmul(x, w), 'out');
    g.output(y);
    const bytes = toOnnx(g);
    const m = parseOnnx(bytes);
    assert.equal(m.graph!.node.length, 2);
    assert.equal(m.opsetImport[0].version, 18n);
    const s = await createSession(bytes, { threads: 1 });
    const r = await s.run({ x: toOrt(op.f32([1, 0, -1, 0, 0, 2], [2, 3])) });
    assert.deepEqual(Array.from(r.out.data as Float32Array), [0, 0, 10, 12]);
    await s.release();
  });

  it('rejects bytes that are not ONNX', () => {
    assert.throws(() => parseOnnx(new Uint8Array([0xff, 0xff, 0xff, 0x01]), 'bad.onnx'), /bad.onnx is not a valid ONNX file/);
  });
});
