// The web app as a person uses it, in headless Chromium: a full distillation from their own files (teacher ONNX made in
// Node, an image folder), the student downloaded and checked in Node, a reload in the middle of a run and its resume,
// and the page's answers to bad input. Every request the page makes is logged; any that leaves its origin fails.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Model } from '../../src/nn/model.js';
import { zooModel } from '../../src/nn/zoo/index.js';
import { exportOnnx } from '../../src/runtime/inference.js';
import {
  alertText,
  appReady,
  continueRun,
  download,
  fillForm,
  giveImageFolder,
  giveTeacher,
  lossPoints,
  pauseWhen,
  progress,
  runFinished,
  startTraining,
  summaryTable,
  validConfig,
} from './helpers/app.js';
import { browserEnv, closeBrowserEnv, type TrackedPage, withPageErrors } from './helpers/browser.js';
import { evaluateOnTestSplit, mnistImageFiles, nodeConfigOf, trainTeacher, writeFiles } from './helpers/data.js';

/** Where screenshots go when asked for (KD_SCREENSHOTS=docs/screenshots npm run test:browser); else nowhere. */
const SHOTS = process.env.KD_SCREENSHOTS;
const VIEWPORT = { width: 1280, height: 900 };

// Five digits × 30 images and a 4-epoch run: seconds per run on two cores, with room for pause points mid-stage.
const DIGITS = [0, 1, 2, 3, 4];
const FORM = {
  'student-model': 'cnn-4-8',
  'run-name': 'ui-run',
  // Long enough (about 12 ORT runs per stage) that stepping from pause point to pause point lands inside a stage.
  epochs: '12',
  'batch-size': '16',
  seed: '3',
  'checkpoint-every': '4',
  'data-validation-kind': 'perClass',
  'data-validation-value': '3',
};

const work = mkdtempSync(join(tmpdir(), 'kd-app-'));
/** Laid out as the page's /inputs: images/<class>/<file>.png and teacher.onnx, so the page's config maps onto it. */
const inputs = join(work, 'inputs');

/** The uninterrupted run of the first test, which the reloaded run must reproduce. */
let reference: { table: Record<string, string[]>; student: Uint8Array } | undefined;

async function openApp(): Promise<TrackedPage> {
  const env = await browserEnv();
  const tp = await env.newPage(undefined, { viewport: VIEWPORT });
  await tp.page.goto(`${env.origin}/`);
  await appReady(tp.page);
  return tp;
}

/** Gives the teacher and the folder and fills the form; returns the resolved config the page will run. */
async function setUpRun(tp: TrackedPage): Promise<string> {
  assert.equal(await giveTeacher(tp.page, join(inputs, 'teacher.onnx')), 'ready', String(await alertText(tp.page)));
  assert.equal(await giveImageFolder(tp.page, join(inputs, 'images')), 'ready', String(await alertText(tp.page)));
  await fillForm(tp.page, FORM);
  return validConfig(tp.page);
}

describe('the web app', () => {
  before(async () => {
    writeFiles(join(inputs, 'images'), mnistImageFiles(DIGITS, 30));
    writeFileSync(join(inputs, 'teacher.onnx'), await trainTeacher(join(inputs, 'images'), 'cnn-8-16'));
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  });
  after(closeBrowserEnv);

  it('distils from dropped files; the downloaded student scores in Node what the page showed', async () => {
    const tp = await openApp();
    const { page } = tp;
    await withPageErrors(tp, async () => {
      // Said on the page, not only in the README.
      assert.match((await page.textContent('#privacy-note')) ?? '', /never leave this device/);
      const resolved = await setUpRun(tp);
      if (SHOTS) await page.screenshot({ path: join(SHOTS, 'app-before.png'), fullPage: true });
      await startTraining(page);
      // Live progress: the charts fill while the run goes on. Pause half-way through the distilled stage (pausing must
      // not change the result) and take the "during" picture there: a paused run holds still for the camera.
      await pauseWhen(
        page,
        async () => {
          const at = await progress(page);
          return at?.name === 'distilled' && at.step >= 12 && (await lossPoints(page)) > 0;
        },
        'the distilled stage was half done',
      );
      assert.equal(await page.textContent('#pause'), 'Resume');
      if (SHOTS) await page.screenshot({ path: join(SHOTS, 'app-training.png'), fullPage: true });
      await continueRun(page);
      await runFinished(page);
      assert.ok((await lossPoints(page)) > 0);
      if (SHOTS) await page.screenshot({ path: join(SHOTS, 'app-after.png'), fullPage: true });

      const table = await summaryTable(page);
      assert.deepEqual(Object.keys(table).sort(), ['baseline', 'distilled', 'teacher']);
      const student = await download(page, '#download-student');
      assert.equal(student.name, 'student.onnx');
      reference = { table, student: student.bytes };

      // The page's test split, cut again in Node from the same files and config, and the student scored on it there.
      const cfg = nodeConfigOf(resolved, inputs, join(work, 'node-run'));
      const ev = await evaluateOnTestSplit(student.bytes, cfg);
      assert.equal(`${(ev.accuracy * 100).toFixed(2)}%`, table.distilled[1], `Node: ${ev.accuracy} on ${ev.n} test images`);
    });
    // The request log of a whole run: the page's own files and nothing else.
    (await browserEnv()).assertOnlyOwnRequests(tp);
    const urls = tp.requests.map((r) => new URL(r.url).pathname);
    for (const f of ['/', '/app.js', '/worker.js', '/kdistill.js', '/ort-wasm-simd-threaded.jsep.wasm'])
      assert.ok(urls.includes(f), `${f} not requested: ${urls.join(' ')}`);
  });

  it('a reload in the middle of a run, then Resume, gives the result of the uninterrupted run', async () => {
    assert.ok(reference, 'needs the uninterrupted run of the previous test');
    const tp = await openApp();
    const { page } = tp;
    await withPageErrors(tp, async () => {
      await setUpRun(tp);
      await startTraining(page);
      // Step from pause point to pause point until the distilled stage (the last) is past its first step checkpoint,
      // so the reload lands mid-stage with a checkpoint to resume from.
      let at: Awaited<ReturnType<typeof progress>> = null;
      await pauseWhen(
        page,
        async () => {
          at = await progress(page);
          return at !== null && at.name === 'distilled' && at.step > Number(FORM['checkpoint-every']);
        },
        'the middle of the distilled stage',
      );
      await page.reload();
      await appReady(page);
      await page.waitForSelector('#resume-banner:not([hidden])');
      assert.match((await page.textContent('#resume-detail')) ?? '', /'ui-run'.*distilled-step\d+\.ckpt/s);
      await page.click('#resume-run');
      await runFinished(page);
      assert.match((await page.textContent('#run-log')) ?? '', /distilled: resumed from \S+step\d+\.ckpt at step \d+/);
      // One engine, the same thread count, the same checkpoints: the same table and the same student, byte for byte.
      assert.deepEqual(await summaryTable(page), reference!.table);
      const student = await download(page, '#download-student');
      assert.deepEqual(student.bytes, reference!.student);
    });
    (await browserEnv()).assertOnlyOwnRequests(tp);
  });

  it('bad input gets a clear message in the page, and the page keeps working', async () => {
    const bad = join(work, 'bad');
    mkdirSync(bad, { recursive: true });
    const tp = await openApp();
    const { page } = tp;
    await withPageErrors(tp, async () => {
      // Not ONNX at all.
      writeFileSync(join(bad, 'notes.onnx'), 'these are my notes, not a model\n');
      assert.equal(await giveTeacher(page, join(bad, 'notes.onnx')), 'error');
      assert.match((await alertText(page)) ?? '', /notes\.onnx is not a valid ONNX file/);
      assert.equal(await page.evaluate(() => 1), 1);

      // A real teacher, made for 8×8 images, given 28×28 digits: refused when the run checks it, before any training.
      const small = new Model(zooModel('mlp-64-8-5', [1, 8, 8], 5), 0);
      writeFileSync(join(bad, 'teacher.onnx'), exportOnnx(small));
      assert.equal(await giveTeacher(page, join(bad, 'teacher.onnx')), 'ready');
      assert.equal(await giveImageFolder(page, join(inputs, 'images')), 'ready');
      await fillForm(page, FORM);
      await validConfig(page);
      await page.click('#start');
      await page.waitForFunction(() => document.body.dataset.runState === 'error', undefined, { timeout: 120_000 });
      assert.match((await alertText(page)) ?? '', /teacher(\.onnx)? does not run on one sample of shape \[1, 1, 28, 28\].*\[1, 8, 8\]/);
      assert.equal(await page.evaluate(() => 1), 1);

      // An image that will not decode, among good ones.
      const folder = join(bad, 'images');
      writeFiles(folder, mnistImageFiles([0, 1], 5));
      writeFileSync(join(folder, '1', 'broken.png'), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
      copyFileSync(join(inputs, 'teacher.onnx'), join(bad, 'good-teacher.onnx'));
      assert.equal(await giveTeacher(page, join(bad, 'good-teacher.onnx')), 'ready');
      const stored = await giveImageFolder(page, folder);
      if (stored === 'ready') {
        // The folder is read lazily: the broken file is found when the run loads the data.
        await fillForm(page, { ...FORM, 'data-validation-value': '1', 'student-model': 'mlp-784-8-2' });
        await validConfig(page);
        await page.click('#start');
        await page.waitForFunction(() => document.body.dataset.runState === 'error', undefined, { timeout: 120_000 });
      }
      assert.match((await alertText(page)) ?? '', /1\/broken\.png cannot be decoded as PNG/);
      assert.equal(await page.evaluate(() => 1), 1);

      // Still working: a good teacher is read and shown after all that.
      assert.equal(await giveTeacher(page, join(inputs, 'teacher.onnx')), 'ready');
    });
    (await browserEnv()).assertOnlyOwnRequests(tp);
  });

  it('the request guard itself fails on a request to another origin', async () => {
    const env = await browserEnv();
    const tp = await openApp();
    // The server's CSP blocks this image before it reaches the network; the browser still reports the attempt.
    await Promise.all([
      tp.page.waitForEvent('request', (r) => r.url().startsWith('http://example.invalid/')),
      tp.page.evaluate(() => {
        const img = new Image();
        img.src = 'http://example.invalid/pixel.png';
        document.body.append(img);
      }),
    ]);
    assert.throws(() => env.assertOnlyOwnRequests(tp), /outside http:\/\/127\.0\.0\.1:\d+|Content Security Policy/);
  });
});
