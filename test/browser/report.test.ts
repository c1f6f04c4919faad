// report.html as a person opens it: from disk in headless Chromium, with the charts drawn, no console error and no
// request beyond the file itself. KD_SCREENSHOTS=docs/screenshots also saves a picture of a real run's report when
// runs/mnist-kd exists (the README's command made it).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { type SeedsSummary, summarizeSeeds } from '../../src/report/seeds.js';
import { writeRunReport, writeSeedsReport } from '../../src/report/node/write-report.js';
import { writeRunFixture } from '../helpers/report-fixture.js';
import { browserEnv, closeBrowserEnv, type TrackedPage } from './helpers/browser.js';

const SHOTS = process.env.KD_SCREENSHOTS;

async function open(file: string): Promise<TrackedPage> {
  const env = await browserEnv();
  const tp = await env.newPage(undefined, { viewport: { width: 1280, height: 900 } });
  await tp.page.goto(pathToFileURL(file).href);
  await tp.page.waitForFunction(() => document.querySelectorAll('.uplot canvas').length > 0);
  return tp;
}

function assertQuiet(tp: TrackedPage, file: string): void {
  assert.deepEqual(tp.errors, [], 'no console error or uncaught exception');
  const url = pathToFileURL(file).href;
  const others = tp.requests.filter((r) => r.url !== url);
  assert.deepEqual(others, [], 'no request but the file itself');
}

describe('report.html in Chromium', () => {
  after(closeBrowserEnv);

  it('draws a chart per curve and renders every table, offline', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-report-'));
    writeRunFixture(dir);
    const file = writeRunReport(dir);
    const tp = await open(file);
    // Validation accuracy and loss, then loss terms and accuracy for each of the two trained stages.
    assert.equal(await tp.page.locator('.uplot').count(), 6);
    const legend = (await tp.page.locator('.uplot').nth(4).locator('.u-legend').textContent()) ?? '';
    assert.match(legend, /kd/, "the distilled stage's loss chart has its kd term");
    assert.equal(await tp.page.locator('table.heat').count(), 3, 'a confusion matrix per model');
    assert.equal(await tp.page.locator('table.per-class tbody tr').count(), 3);
    assertQuiet(tp, file);
  });

  it('a multi-seed report shows the seed statistics and each seed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-report-'));
    const s = [0, 1, 2].map((seed) => writeRunFixture(join(dir, `seed-${seed}`), seed));
    const file = writeSeedsReport(
      dir,
      summarizeSeeds(
        s,
        [0, 1, 2].map((x) => `seed-${x}`),
      ),
    );
    const tp = await open(file);
    assert.match(
      (await tp.page.locator('p.lead').first().textContent()) ?? '',
      /distilled vs the student trained alone: \+5\.20 ± 0\.20 points over 3 seeds/,
    );
    assert.equal(
      await tp.page
        .locator('details > summary')
        .filter({ hasText: /^seed / })
        .count(),
      3,
    );
    assertQuiet(tp, file);
  });

  const main = 'runs/mnist-kd';
  const mainRun = existsSync(join(main, 'seeds.json')) || existsSync(join(main, 'summary.json'));
  it('screenshot of the main example', { skip: !SHOTS || !mainRun }, async () => {
    // The --seeds run's page when there is one (it opens on the seed statistics), else the single run's.
    const file = existsSync(join(main, 'seeds.json'))
      ? writeSeedsReport(main, JSON.parse(readFileSync(join(main, 'seeds.json'), 'utf8')) as SeedsSummary)
      : writeRunReport(main);
    const tp = await open(resolve(file));
    await tp.page.screenshot({ path: join(SHOTS!, 'report.png'), fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 1750 } });
    assertQuiet(tp, resolve(file));
  });
});
