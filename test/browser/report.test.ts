// report.html as a person opens it: from disk in headless Chromium, with the charts drawn, no console error and no
// request beyond the file itself. KD_SCREENSHOTS=docs/screenshots also saves a picture of a real run's report when
// runs/mnist-kd exists (the README's command made it).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { type SeedsSummary, summarizeSeeds } from '../../src/report/seeds.js';
import { renderReport } from '../../src/report/html/render.js';
import { readReportRun, reportAssets, writeRunReport, writeSeedsReport } from '../../src/report/node/write-report.js';
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
    const file = await writeRunReport(dir);
    const tp = await open(file);
    // Validation accuracy and loss, then loss terms and accuracy for each of the two trained stages.
    assert.equal(await tp.page.locator('.uplot').count(), 6);
    const legend = (await tp.page.locator('.uplot').nth(4).locator('.u-legend').textContent()) ?? '';
    assert.match(legend, /kd/, "the distilled stage's loss chart has its kd term");
    assert.equal(await tp.page.locator('table.heat').count(), 3, 'a confusion matrix per model');
    assert.equal(await tp.page.locator('table.per-class tbody tr').count(), 3);
    assertQuiet(tp, file);
  });

  it('paints attention maps: the input in grey and each map as a ramp, not a blank canvas', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-report-'));
    writeRunFixture(dir);
    // A 4×4 "image" and maps with one bright corner: what the page paints can be read back pixel by pixel.
    const stack = (k: number) => ({ height: 4, width: 4, values: [Array.from({ length: 16 }, (_, p) => (p === k ? 1 : 0))] });
    const attention = {
      images: stack(0),
      labels: [2],
      pairs: [{ method: 'at', teacherNode: 'block1/relu', studentNode: 'block1/relu', teacher: stack(5), student: stack(15) }],
    };
    const file = join(dir, 'report.html');
    writeFileSync(file, renderReport({ runs: [{ ...readReportRun(dir), attention }] }, reportAssets()));
    const tp = await open(file);
    const bright = await tp.page.evaluate(() =>
      [...document.querySelectorAll('canvas.map')].map((c) => {
        const cv = c as HTMLCanvasElement;
        const d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
        // Index of the 4×4 cell holding the brightest red value.
        let best = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > d[best]) best = i;
        const px = best / 4,
          scale = cv.width / 4;
        return Math.floor(Math.floor(px / cv.width) / scale) * 4 + Math.floor((px % cv.width) / scale);
      }),
    );
    assert.deepEqual(bright, [0, 5, 15], 'input, teacher and student maps each lit where their data is');
    assert.match((await tp.page.locator('table.maps').textContent()) ?? '', /class two/);
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
      : await writeRunReport(main);
    const tp = await open(resolve(file));
    await tp.page.screenshot({ path: join(SHOTS!, 'report.png'), fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 1750 } });
    assertQuiet(tp, resolve(file));
  });
});
