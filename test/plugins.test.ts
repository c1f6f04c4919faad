// `plugins:` in a config: modules that register zoo models and methods before the config is validated.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../src/config/node/index.js';
import { methodRegistry } from '../src/distill/registry.js';
import { configRegistry } from '../src/frontends/config-registry.js';
import { loadPlugins } from '../src/frontends/node/plugins.js';
import { runExperiment } from '../src/frontends/run-config.js';
import { isZooModelName } from '../src/nn/zoo/index.js';
import { KdError } from '../src/util/errors.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'plugins');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'kdistill-plugins-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A config file next to the plugin fixtures (plugins are found from the config's folder). */
function config(name: string, body: string): string {
  const file = path.join(fixtures, `${name}.yaml`);
  writeFileSync(file, `name: ${name}\noutDir: ${path.join(tmp, name)}\n${body}`);
  after(() => rmSync(file, { force: true }));
  return file;
}

const BODY = `seed: 0
threads: 1
dataset: { name: mnist, trainPerClass: 20, validation: { perClass: 5 } }
teacher: { model: cnn-4-8, train: { epochs: 1 } }
student: { model: tiny-net }
loss: [ { method: ce, weight: 0.5 }, { method: logit_l1, weight: 0.5 } ]
epochs: 1
batchSize: 32
baseline: false
`;

const isKd = (code: string, re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof KdError && e.code === code, `expected KdError ${code}, got ${String(e)}`);
  assert.match(e.message, re);
  return true;
};

describe('plugins', () => {
  it('register a zoo model (JavaScript, register(kd)) and a method (TypeScript, on import) the config then uses', async () => {
    const file = config('with-plugins', `plugins: [./my-models.mjs, ./logit-l1.ts]\n${BODY}`);
    assert.equal(isZooModelName('tiny-net'), false, 'the model exists only once its plugin is loaded');
    const loaded = await loadPlugins(file);
    assert.deepEqual(loaded, [path.join(fixtures, 'my-models.mjs'), path.join(fixtures, 'logit-l1.ts')]);
    assert.ok(isZooModelName('tiny-net') && methodRegistry().has('logit_l1'));
    const cfg = loadConfig(file, configRegistry());
    assert.deepEqual(cfg.plugins, loaded);
    const summary = await runExperiment(cfg);
    assert.deepEqual(
      summary.rows.map((r) => [r.role, r.model]),
      [
        ['teacher', 'cnn-4-8'],
        ['distilled', 'tiny-net'],
      ],
    );
    // 784·24 + 24 + 24·10 + 10 parameters: the plugin's builder was given the data's shape and class count.
    assert.equal(summary.rows[1].parameters, 19090);
    // Loading again (a resumed run) imports nothing twice.
    assert.deepEqual(await loadPlugins(file), loaded);
  });

  it('a misspelt plugin model still gets "did you mean"', async () => {
    const file = config('typo', `plugins: [./my-models.mjs]\n${BODY.replace('tiny-net', 'tiny-nett').replace('logit_l1', 'kd')}`);
    await loadPlugins(file);
    assert.throws(
      () => loadConfig(file, configRegistry()),
      (e: unknown) => e instanceof ConfigError && /unknown model 'tiny-nett'.*did you mean 'tiny-net'/s.test(e.message),
    );
  });

  it('a missing or failing plugin is named with its config entry', async () => {
    await assert.rejects(
      loadPlugins(config('missing', `plugins: [./nope.mjs]\n${BODY}`)),
      isKd('MISSING_FILE', /missing\.yaml: plugins\[0\]: no file .*nope\.mjs.*relative to the config's folder/),
    );
    await assert.rejects(
      loadPlugins(config('broken', `plugins: [./broken.mjs]\n${BODY}`)),
      isKd('BAD_PLUGIN', /broken\.yaml: plugins\[0\]: its register\(kd\) failed: forgot to return the model/),
    );
  });
});

describe('student: { module }', () => {
  const body = (ref: string) => BODY.replace('student: { model: tiny-net }', `student: { module: ${ref} }`).replace('logit_l1', 'kd');

  it('trains a model from code: a function of the data shape (#build) or a default-exported ModelDef', async () => {
    for (const [ref, name, params] of [
      ['./my-net.mjs#build', 'my-net.mjs#build', 784 * 12 + 12 + 12 * 10 + 10],
      ['./my-net.mjs', 'my-net.mjs#default', 784 * 20 + 20 + 20 * 10 + 10],
    ] as const) {
      const file = config(`module-${name.replace(/[^a-z]/g, '')}`, body(ref));
      await loadPlugins(file);
      const cfg = loadConfig(file, configRegistry());
      assert.deepEqual(cfg.student, { module: `${path.join(fixtures, 'my-net.mjs')}#${name.split('#')[1]}` });
      const summary = await runExperiment(cfg);
      const distilled = summary.rows.find((r) => r.role === 'distilled')!;
      assert.deepEqual([distilled.model, distilled.parameters], [name, params]);
    }
  });

  it('a module not loaded, a missing export, an export that is no model: each named, before training', async () => {
    assert.throws(
      () => loadConfig(config('not-loaded', body('./my-net.mjs#elsewhere')), configRegistry()),
      (e: unknown) => e instanceof ConfigError && /student\.module: .*my-net\.mjs#elsewhere is not loaded.*loadPlugins/s.test(e.message),
    );
    await assert.rejects(
      loadPlugins(config('no-export', body('./my-net.mjs#biuld'))),
      isKd('BAD_MODULE', /no-export\.yaml: student\.module: .*my-net\.mjs#biuld: the module has no export 'biuld' \(it exports .*build/),
    );
    await assert.rejects(
      loadPlugins(config('number', body('./my-net.mjs#notAModel'))),
      isKd('BAD_MODULE', /student\.module: .*#notAModel is neither a ModelDef .* nor a function returning one/),
    );
    const nothing = config('returns-null', body('./my-net.mjs#returnsNothing'));
    await loadPlugins(nothing);
    await assert.rejects(
      runExperiment(loadConfig(nothing, configRegistry())),
      isKd('BAD_MODULE', /#returnsNothing returned null, not a ModelDef/),
    );
  });
});
