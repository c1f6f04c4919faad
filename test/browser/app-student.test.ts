// The web app with a student of the user's own: an ONNX file (here kdistill's own export of an untrained CNN, made in
// Node) given in step 3 becomes `student: { file: student.onnx }` and trains in the tab from its own weights.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Model } from '../../src/nn/model.js';
import { zooModel } from '../../src/nn/zoo/index.js';
import { exportOnnx } from '../../src/runtime/inference.js';
import { appReady, fillForm, giveImageFolder, runFinished, startTraining, summaryTable, validConfig } from './helpers/app.js';
import { browserEnv, closeBrowserEnv, withPageErrors } from './helpers/browser.js';
import { mnistImageFiles, writeFiles } from './helpers/data.js';

const work = mkdtempSync(join(tmpdir(), 'kd-app-student-'));

describe('the web app with an ONNX student', () => {
  after(closeBrowserEnv);

  it('trains the given file as the student, and says so in the config and the results', async () => {
    writeFiles(join(work, 'images'), mnistImageFiles([0, 1, 2], 20));
    const student = join(work, 'my-student.onnx');
    writeFileSync(student, exportOnnx(new Model(zooModel('cnn-4-8', [1, 28, 28], 3), 11)));
    const env = await browserEnv();
    const tp = await env.newPage('');
    const { page } = tp;
    await withPageErrors(tp, async () => {
      await appReady(page);
      assert.equal(await giveImageFolder(page, join(work, 'images')), 'ready');
      await page.setInputFiles('#student-file', student);
      await page.waitForSelector('#student-file-info[data-state=ready]', { state: 'attached' });
      assert.match((await page.textContent('#student-file-info')) ?? '', /my-student\.onnx is the student/);
      await fillForm(page, {
        'teacher-epochs': '1',
        epochs: '1',
        'batch-size': '16',
        'data-validation-kind': 'perClass',
        'data-validation-value': '3',
      });
      await validConfig(page);
      assert.match((await page.textContent('#config-view')) ?? '', /student:\n {2}file: student\.onnx/);
      await startTraining(page);
      await runFinished(page);
      const table = await summaryTable(page);
      assert.match(table.distilled[0], /student\.onnx/);
      assert.match(table.baseline[0], /student\.onnx/);
    });
    env.assertOnlyOwnRequests(tp);
  });
});
