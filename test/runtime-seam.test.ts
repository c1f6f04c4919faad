import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { Model } from '../src/nn/model.js';
import { mlp } from '../src/nn/zoo/index.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { nodeRuntime } from '../src/runtime/node/index.js';
import { startOnnxTeacher } from '../src/runtime/onnx-teacher.js';
import { createSession } from '../src/runtime/ort.js';
import { runtime, setRuntime } from '../src/runtime/runtime.js';
import { readInput, readText, writeAtomic } from '../src/runtime/storage.js';
import { KdError } from '../src/util/errors.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

/**
 * Files outside the Node runtime, the CLI and `node/` folders that still import Node, owned by other parts of
 * issue 11 (config, data loaders, the runner). The lead empties this list as those parts are merged.
 */
const PENDING: string[] = [];

const BUILTINS = new Set(builtinModules.map((m) => m.replace(/^node:/, '')));

/** Whether a module specifier names Node itself: `node:*`, a bare builtin (`fs`, `fs/promises`, ...), or onnxruntime-node. */
function isNodeModule(spec: string): boolean {
  if (spec.startsWith('node:') || spec === 'onnxruntime-node' || spec.startsWith('onnxruntime-node/')) return true;
  return BUILTINS.has(spec) || BUILTINS.has(spec.split('/')[0]);
}

/** The Node modules a TypeScript source imports: static, type-only, re-exported, dynamic `import()` and `require()`. */
export function nodeImportsOf(source: string): string[] {
  const info = ts.preProcessFile(source, true, true);
  return info.importedFiles.map((f) => f.fileName).filter(isNodeModule);
}

/** Where Node may be imported: the CLI and any folder named `node/`. */
function allowed(rel: string): boolean {
  return rel.startsWith('src/cli/') || rel.split('/').slice(0, -1).includes('node');
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const scanned = sources(SRC).map((f) => {
  const rel = relative(ROOT, f).split(sep).join('/');
  return { rel, imports: nodeImportsOf(readFileSync(f, 'utf8')) };
});

describe('runtime seam', () => {
  it('finds Node imports of every form in a source, and nothing in comments or strings', () => {
    const planted = [
      "import { readFileSync } from 'node:fs';",
      "import type { Worker } from 'worker_threads';",
      "import * as path from 'path';",
      "export { hash } from 'crypto';",
      "import ort from 'onnxruntime-node';",
      "const os = await import('os');",
      "const cp = require('child_process');",
      "import 'fs/promises';",
      "import { z } from 'zod';",
      "import { KdError } from '../util/errors.js';",
      "// import { x } from 'node:perf_hooks';",
      'const s = "from \'node:url\'";',
    ].join('\n');
    assert.deepEqual(nodeImportsOf(planted), [
      'node:fs',
      'worker_threads',
      'path',
      'crypto',
      'onnxruntime-node',
      'os',
      'child_process',
      'fs/promises',
    ]);
  });

  it('no file outside the CLI and node/ folders imports Node or onnxruntime-node (PENDING files aside)', () => {
    assert.ok(scanned.length > 100, `only ${scanned.length} sources found under ${SRC}`);
    const offenders = scanned
      .filter((f) => f.imports.length && !allowed(f.rel) && !PENDING.includes(f.rel))
      .map((f) => `${f.rel} imports ${f.imports.join(', ')}`);
    assert.deepEqual(offenders, [], `Node-only code belongs in a node/ folder or src/cli/:\n${offenders.join('\n')}`);
  });

  it('every PENDING file exists and still imports Node (a file made Node-free leaves the list)', () => {
    const stale = PENDING.filter((p) => !scanned.some((f) => f.rel === p && f.imports.length && !allowed(f.rel)));
    assert.deepEqual(stale, [], `remove from PENDING in test/runtime-seam.test.ts: ${stale.join(', ')}`);
  });

  it('onnxruntime-node is loaded by the Node runtime only', () => {
    const users = scanned.filter((f) => f.imports.some((i) => i.startsWith('onnxruntime-node'))).map((f) => f.rel);
    assert.deepEqual(users, ['src/runtime/node/runtime.ts']);
  });
});

describe('runtime registry and sessions', () => {
  const bytes = exportOnnx(new Model(mlp([4, 8, 3], { inputShape: [4] }), 1));

  it('runtime() before any registration is a NO_RUNTIME error that says what to import', () => {
    // A fresh process that loads the registry (and the ort facade) but no runtime.
    const code = [
      `const { runtime } = await import(${JSON.stringify(join(SRC, 'runtime', 'runtime.ts'))});`,
      `const { ort } = await import(${JSON.stringify(join(SRC, 'runtime', 'ort.ts'))});`,
      'for (const f of [() => runtime(), () => ort.Tensor]) {',
      '  try { f(); console.log("no error"); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }',
      '}',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', cwd: ROOT });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2, r.stdout);
    for (const line of lines) {
      assert.notEqual(line, 'no error');
      const e = JSON.parse(line) as { code: string; message: string };
      assert.equal(e.code, 'NO_RUNTIME');
      assert.match(e.message, /import 'kdistill' \(Node\) or 'kdistill\/browser'/);
    }
  });

  it('the Node runtime is registered by the test setup and offers the cpu provider', () => {
    assert.equal(runtime(), nodeRuntime);
    assert.equal(nodeRuntime.name, 'node');
    assert.deepEqual(nodeRuntime.providers, ['cpu']);
    assert.ok(nodeRuntime.defaultThreads() >= 1);
    assert.ok(nodeRuntime.versions()['onnxruntime-node']?.match(/^\d+\.\d+/));
  });

  it('createSession refuses an execution provider the runtime does not offer, naming those it does', async () => {
    await assert.rejects(createSession(bytes, { provider: 'cuda' }), (e: unknown) => {
      assert.ok(e instanceof KdError);
      assert.equal(e.code, 'UNKNOWN_PROVIDER');
      assert.match(e.message, /execution provider 'cuda' is not available in the node runtime; it offers 'cpu'/);
      return true;
    });
    const s = await createSession(bytes, { provider: 'cpu', threads: 1 });
    assert.deepEqual(s.outputNames, ['logits']);
    await s.release();
  });

  it('sha256 is the standard digest, of bytes and of UTF-8 text alike', () => {
    const abc = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    assert.equal(runtime().sha256('abc'), abc);
    assert.equal(runtime().sha256(new Uint8Array([97, 98, 99])), abc);
    assert.equal(runtime().sha256('é'), runtime().sha256(new Uint8Array([0xc3, 0xa9])));
  });

  it('storage writes atomically, appends, lists, sizes and removes, and names a missing file', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kd-seam-')), 'a', 'b');
    const { storage } = runtime();
    storage.mkdirp(dir);
    const f = `${dir}/x.txt`;
    assert.equal(storage.exists(f), false);
    writeAtomic(f, ['héllo ', new Uint8Array([119])]);
    storage.append(f, '!');
    assert.equal(readText(f, 'note'), 'héllo w!');
    assert.equal(storage.size(f), 9);
    assert.deepEqual(storage.list(dir), ['x.txt']);
    storage.remove(f);
    storage.remove(f);
    assert.deepEqual(storage.list(dir), []);
    assert.throws(
      () => readInput(f, 'note'),
      (e: unknown) => e instanceof KdError && e.code === 'MISSING_FILE' && e.message === `cannot read note ${f}: ENOENT`,
    );
  });

  it('an ONNX teacher runs in a worker where the runtime has one, in this thread where not, answering alike', async () => {
    const x = Float32Array.from({ length: 5 * 4 }, (_, i) => Math.sin(i));
    const worker = await startOnnxTeacher(bytes, { threads: 1 });
    assert.equal(worker.constructor.name, 'WorkerTeacher');
    const fromWorker = await worker.predictMany(x, [5, 4], ['logits']);
    await worker.release();
    setRuntime({ ...nodeRuntime, startWorkerTeacher: undefined });
    try {
      const inThread = await startOnnxTeacher(bytes, { threads: 1 });
      assert.ok(inThread instanceof Predictor);
      const answers = await inThread.predictMany(x, [5, 4], ['logits']);
      await inThread.release();
      assert.equal(answers.length, 1);
      assert.equal(answers[0].length, 15);
      assert.deepEqual([...answers[0]], [...fromWorker[0]]);
    } finally {
      setRuntime(nodeRuntime);
    }
  });

  it('a Predictor as teacher copies its input, so the caller may reuse the buffer at once', async () => {
    const p = await Predictor.fromBytes(bytes, { threads: 1 });
    const x = Float32Array.from({ length: 4 }, (_, i) => i + 1);
    const first = p.predictMany(x, [1, 4], ['logits']);
    x.fill(0);
    const [a] = await first;
    const [b] = await p.predictMany(Float32Array.from([1, 2, 3, 4]), [1, 4], ['logits']);
    const [z] = await p.predictMany(x, [1, 4], ['logits']);
    await p.release();
    assert.deepEqual([...a], [...b]);
    assert.notDeepEqual([...a], [...z]);
  });
});
