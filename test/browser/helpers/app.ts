// Driving the web app (web/app.ts) the way a person does, by the element ids its header comment lists as stable hooks.
import type { Page } from 'playwright-core';

/** What the page says about its state (body[data-run-state]). */
export type RunState = 'loading' | 'idle' | 'running' | 'paused' | 'done' | 'error';

export const runState = (page: Page) => page.evaluate(() => document.body.dataset.runState as RunState);

/** Waits until the engine (the worker with the library) is ready for input. */
export async function appReady(page: Page): Promise<void> {
  await page.waitForFunction(() => document.body.dataset.runState === 'idle', undefined, { timeout: 120_000 });
}

/** The message of the page's alert panel, or null while it is hidden. */
export function alertText(page: Page): Promise<string | null> {
  return page.evaluate(() => {
    const a = document.querySelector<HTMLElement>('[role=alert]');
    return a && !a.hidden ? (a.textContent ?? '').replace(/\s+/g, ' ').trim() : null;
  });
}

/** Gives a teacher file through the file picker; resolves with the teacher panel's state (ready or error). */
export async function giveTeacher(page: Page, file: string): Promise<'ready' | 'error'> {
  await page.check('#teacher-source-file');
  await page.setInputFiles('#teacher-file', file);
  await page.waitForSelector('#teacher-info[data-state=ready], #teacher-info[data-state=error]', { state: 'attached' });
  return (await page.getAttribute('#teacher-info', 'data-state')) as 'ready' | 'error';
}

/** Gives an image folder (one sub-folder per class) through the folder picker; resolves with the data panel's state. */
export async function giveImageFolder(page: Page, dir: string): Promise<'ready' | 'error'> {
  await page.check('#data-source-image-folder');
  await page.setInputFiles('#data-folder', dir);
  await page.waitForSelector('#data-info[data-state=ready], #data-info[data-state=error]', { state: 'attached' });
  return (await page.getAttribute('#data-info', 'data-state')) as 'ready' | 'error';
}

/**
 * Fills form fields by id. Each field is left (blurred) before the next: its `change` event re-checks the config,
 * and a click on Start that lands while a check is pending is ignored by the page.
 */
export async function fillForm(page: Page, fields: Readonly<Record<string, string>>): Promise<void> {
  for (const [id, value] of Object.entries(fields)) {
    const field = page.locator(`#${id}`);
    if ((await field.evaluate((e) => e.tagName)) === 'SELECT') await field.selectOption(value);
    else await field.fill(value);
    await field.blur();
  }
}

/** The resolved config once the page calls it valid (the text `kdistill run` would accept). */
export async function validConfig(page: Page): Promise<string> {
  await page.waitForSelector('#config-status:not([data-state=pending])', { state: 'attached' });
  if ((await page.getAttribute('#config-status', 'data-state')) !== 'valid')
    throw new Error(
      `the page finds the config invalid: ${await page.textContent('#config-status')}: ${await page.textContent('#config-errors')}\n` +
        (await page.textContent('#config-view')),
    );
  return (await page.textContent('#config-resolved')) ?? '';
}

/** Clicks Start and waits until the run has left the idle state. */
export async function startTraining(page: Page): Promise<void> {
  await page.click('#start');
  await page.waitForFunction(() => document.body.dataset.runState !== 'idle');
}

/** Waits for the end of a run; a run that failed is an error carrying the page's message. */
export async function runFinished(page: Page): Promise<void> {
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.runState ?? ''), undefined, { timeout: 300_000 });
  if ((await runState(page)) === 'error') throw new Error(`the run failed in the page: ${await alertText(page)}`);
}

/** Where the run is, from the progress line ("Stage 3 of 3: distilled · epoch 1 of 4 · step 9 of 28 · …"). */
export async function progress(page: Page): Promise<{ stage: number; stages: number; name: string; step: number } | null> {
  const text = (await page.textContent('#progress')) ?? '';
  const m = /Stage (\d+) of (\d+): ([\w.-]+) .*?step (\d+)/.exec(text);
  return m ? { stage: Number(m[1]), stages: Number(m[2]), name: m[3], step: Number(m[4]) } : null;
}

/** Points drawn in the loss chart so far. */
export const lossPoints = (page: Page) =>
  page.evaluate(() => Number(document.querySelector('#chart-loss svg')?.getAttribute('data-points') ?? 0));

/** Presses Pause and waits until the core has stopped between ORT runs (or the run ended first). */
export async function pauseRun(page: Page): Promise<RunState> {
  // The button is enabled only while the run goes on; a run that already ended has nothing to pause.
  if ((await runState(page)) !== 'running') return runState(page);
  await page.click('#pause');
  await page.waitForFunction(() => document.body.dataset.runState !== 'running', undefined, { timeout: 120_000 });
  return runState(page);
}

/** Presses Resume (the pause button of a paused run) and waits until it runs again. */
export async function continueRun(page: Page): Promise<void> {
  await page.click('#pause');
  await page.waitForFunction(() => document.body.dataset.runState !== 'paused');
}

/** The summary table as the page shows it: role -> [model, test accuracy, agreement]. */
export function summaryTable(page: Page): Promise<Record<string, string[]>> {
  return page.evaluate(() => {
    const out: Record<string, string[]> = {};
    for (const tr of document.querySelectorAll<HTMLTableRowElement>('#summary-table tbody tr'))
      out[tr.dataset.role ?? '?'] = [...tr.cells].slice(1, 4).map((c) => (c.textContent ?? '').trim());
    return out;
  });
}

/** Clicks a download link and returns the file's bytes. */
export async function download(page: Page, selector: string): Promise<{ name: string; bytes: Uint8Array }> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  const path = await dl.path();
  const { readFileSync } = await import('node:fs');
  return { name: dl.suggestedFilename(), bytes: new Uint8Array(readFileSync(path)) };
}

/**
 * Steps a run from pause point to pause point (Pause, look, Resume) until `reached` holds while paused, and leaves it
 * paused there. Fails if the run ends first: then the test's run is too short for what it wants to see.
 */
export async function pauseWhen(page: Page, reached: () => Promise<boolean>, what: string): Promise<void> {
  for (;;) {
    const s = await pauseRun(page);
    if (s !== 'paused') throw new Error(`the run ended (${s}) before ${what}; last progress: ${await page.textContent('#progress')}`);
    if (await reached()) return;
    await continueRun(page);
  }
}
