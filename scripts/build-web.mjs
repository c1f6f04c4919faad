// Builds the browser half of kdistill into dist/web/ (run after tsc by `npm run build` and `prepare`):
// - kdistill.js: src/browser.ts as one ES module, onnxruntime-web left outside it (ort.bundle.min.mjs and its
//   wasm are copied beside it, so ORT finds its wasm and starts its thread workers from its own file);
// - the web app (web/*.ts bundled, web/*.html, *.css and assets copied), importing the library as ./kdistill.js;
// - samples/*.kds: stratified subsets of MNIST and Fashion-MNIST from the dataset packages, when installed.
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
mkdirSync(out, { recursive: true });

/** Resolves imports to files that sit beside the bundle at run time instead of bundling them. */
const beside = (map) => ({
  name: 'beside',
  setup(b) {
    const filter = new RegExp(
      `^(${Object.keys(map)
        .map((k) => k.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
        .join('|')})$`,
    );
    b.onResolve({ filter }, (a) => ({ path: map[a.path], external: true }));
  },
});

const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  legalComments: 'none',
  logLevel: 'warning',
  define: { __KDISTILL_VERSION__: JSON.stringify(pkg.version) },
};

await build({
  ...common,
  entryPoints: [join(root, 'src', 'browser.ts')],
  outfile: join(out, 'kdistill.js'),
  plugins: [beside({ 'onnxruntime-web': './ort.bundle.min.mjs' })],
  minify: true,
  sourcemap: 'linked',
});
// A Node builtin reaching the bundle would fail only when a user's page loads it: fail the build instead.
const lib = readFileSync(join(out, 'kdistill.js'), 'utf8');
const nodeImport = lib.match(/from\s*"(node:[^"]+|fs|path|os|crypto|worker_threads)"/);
if (nodeImport)
  throw new Error(`dist/web/kdistill.js imports the Node module ${nodeImport[1]}; keep Node code out of src/browser.ts's graph`);

// onnxruntime-web exports no package.json; its wasm export sits in dist/.
const ortDist = dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm'));
for (const f of ['ort.bundle.min.mjs', 'ort-wasm-simd-threaded.jsep.wasm']) copyFileSync(join(ortDist, f), join(out, f));

const web = join(root, 'web');
if (existsSync(web)) {
  const entries = readdirSync(web).filter((f) => /^(app|worker|bench)\.ts$/.test(f));
  if (entries.length)
    await build({
      ...common,
      entryPoints: entries.map((f) => join(web, f)),
      outdir: out,
      plugins: [beside({ '../src/browser.js': './kdistill.js' })],
      minify: true,
      sourcemap: 'linked',
    });
  for (const f of readdirSync(web)) if (/\.(html|css|svg|png|ico)$/.test(f)) copyFileSync(join(web, f), join(out, f));
  if (existsSync(join(web, 'assets'))) cpSync(join(web, 'assets'), join(out, 'assets'), { recursive: true });
}

await writeSamples();

async function writeSamples() {
  const dir = join(out, 'samples');
  mkdirSync(dir, { recursive: true });
  let kd;
  try {
    kd = await import(join(root, 'dist', 'index.js'));
  } catch (e) {
    console.warn(`build-web: samples not written (dist/index.js failed to load: ${e.message})`);
    return;
  }
  const { SAMPLE_DATASETS } = await import(join(root, 'dist', 'frontends', 'web', 'samples.js'));
  for (const [name, sizes] of Object.entries(SAMPLE_DATASETS)) {
    let full;
    try {
      full = { train: kd.loadDataset(name, 'train'), test: kd.loadDataset(name, 'test') };
    } catch (e) {
      if (e.code !== 'MISSING_PACKAGE') throw e;
      console.warn(`build-web: the ${name} sample is not written: ${e.message}`);
      continue;
    }
    for (const split of ['train', 'test']) {
      const ds = full[split];
      // The same seeded stratified cut every build, so a sample is the same file on every machine.
      const sample = kd.stratifiedSplit(ds, { seed: 0, valPerClass: sizes[split] / ds.numClasses }).val;
      writeFileSync(join(dir, `${name}-${split}.kds`), kd.packDataset({ ...sample, name: `${name}-sample/${split}` }));
    }
  }
}
