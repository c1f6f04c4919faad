// What every browser test shares: the built app (never built here: CI's `npm ci` builds it through `prepare`), the
// static server the user would run (`kdistill serve`), one headless Chromium, and a log of every request a page
// makes, so a test can fail on any request that does not go to the app's own origin.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { CHROMIUM_ARGS } from '../../../src/cli/bench-browser.js';
import { type ServedRequest, type StaticServer, startStaticServer } from '../../../src/cli/serve.js';

export { CHROMIUM_ARGS };

/** The built web app, as `kdistill serve` finds it. */
export const WEB_ROOT = fileURLToPath(new URL('../../../dist/web/', import.meta.url));

/** Throws a message saying what to run when the app (or a file a test needs from it) has not been built. */
export function requireBuiltWeb(files: readonly string[] = ['index.html', 'kdistill.js']): void {
  const missing = files.filter((f) => !existsSync(join(WEB_ROOT, f)));
  if (missing.length)
    throw new Error(
      `the web app is not built: ${WEB_ROOT} lacks ${missing.join(', ')}. ` +
        'Run `npm run build` (or `npm ci`, whose prepare script builds it) before `npm run test:browser`.',
    );
  if (!existsSync('/usr/bin/chromium'))
    throw new Error('Chromium is not installed at /usr/bin/chromium: `apt-get install -y chromium` (.ci/run does it when missing)');
}

/** One request seen by the browser. */
export interface PageRequest {
  url: string;
  /** Who asked, as far as Playwright tells: the page's frames, a worker, or the context (anything else). */
  source: 'page' | 'context';
  resourceType: string;
}

/** A page with the log of what it (and its workers) asked for. */
export interface TrackedPage {
  page: Page;
  context: BrowserContext;
  requests: PageRequest[];
  /** Console errors and uncaught exceptions of the page, for failure messages. */
  errors: string[];
}

/** The shared environment of one test file. */
export interface BrowserEnv {
  server: StaticServer;
  /** The server's origin, e.g. http://127.0.0.1:41234 (no trailing slash). */
  origin: string;
  browser: Browser;
  /** Every request the static server answered, in order. */
  served: ServedRequest[];
  /** A fresh context and page whose requests are logged; `path` (relative to the app root) is opened when given. */
  newPage(path?: string, options?: BrowserContextOptions): Promise<TrackedPage>;
  /**
   * Throws unless every request the browser logged went to the server's origin and reached it (the server's own log
   * has it) — blob: and data: URLs are local to the tab and are allowed. Also refuses requests the server answered 404,
   * which would mean the app refers to a file it does not ship.
   */
  assertOnlyOwnRequests(t: TrackedPage): void;
  close(): Promise<void>;
}

let envPromise: Promise<BrowserEnv> | undefined;

/** The environment of this test file, started on first use (server + one Chromium) and shared by its tests. */
export function browserEnv(): Promise<BrowserEnv> {
  envPromise ??= startEnv();
  return envPromise;
}

/** Stops the shared environment if it was started (call from `after`). */
export async function closeBrowserEnv(): Promise<void> {
  if (!envPromise) return;
  const env = await envPromise.catch(() => undefined);
  envPromise = undefined;
  await env?.close();
}

async function startEnv(): Promise<BrowserEnv> {
  requireBuiltWeb();
  const served: ServedRequest[] = [];
  const server = await startStaticServer({ root: WEB_ROOT, port: 0, host: '127.0.0.1', onRequest: (r) => served.push(r) });
  const origin = server.url.replace(/\/$/, '');
  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
  } catch (e) {
    await server.close();
    throw e;
  }
  const contexts: BrowserContext[] = [];
  const newPage = async (path?: string, options: BrowserContextOptions = {}): Promise<TrackedPage> => {
    const context = await browser.newContext({ acceptDownloads: true, ...options });
    contexts.push(context);
    const requests: PageRequest[] = [];
    const errors: string[] = [];
    const seen = new Set<object>();
    // The context sees requests of every page, frame and worker; the page's own event is kept as well, so a request
    // either one reports is logged (they overlap, hence the set).
    context.on('request', (r) => {
      if (seen.has(r)) return;
      seen.add(r);
      requests.push({ url: r.url(), source: 'context', resourceType: r.resourceType() });
    });
    // tsx compiles these tests with esbuild's keepNames, which wraps functions in `__name(...)` calls; a function sent
    // to page.evaluate carries those calls into the page, so the page gets the (identity) helper too.
    await context.addInitScript('globalThis.__name ??= (f) => f;');
    const page = await context.newPage();
    page.on('request', (r) => {
      if (seen.has(r)) return;
      seen.add(r);
      requests.push({ url: r.url(), source: 'page', resourceType: r.resourceType() });
    });
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    // A worker's console errors (a CSP violation inside the training worker) are not the page's console events.
    page.on('worker', (w) => w.on('console', (m) => m.type() === 'error' && errors.push(`worker console: ${m.text()}`)));
    page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
    if (path !== undefined) await page.goto(`${origin}/${path}`);
    return { page, context, requests, errors };
  };
  const assertOnlyOwnRequests = (t: TrackedPage) => {
    const foreign = t.requests.filter((r) => !isOwn(r.url, origin));
    if (foreign.length)
      throw new Error(
        `the page made ${foreign.length} request(s) outside ${origin}:\n${foreign.map((r) => `  ${r.resourceType} ${r.url}`).join('\n')}`,
      );
    // The server's Content-Security-Policy blocks other origins before a request exists; the attempt shows as a violation.
    const blocked = t.errors.filter((e) => /Content Security Policy/.test(e));
    if (blocked.length) throw new Error(`the page tried to reach what the CSP forbids:\n${blocked.map((e) => `  ${e}`).join('\n')}`);
    // Every network request the browser logged must have reached the static server (nothing answered from elsewhere).
    const servedPaths = new Set(served.map((s) => s.url));
    const unserved = t.requests.filter(
      (r) => r.url.startsWith(`${origin}/`) && !servedPaths.has(r.url.slice(origin.length).replace(/#.*$/, '')),
    );
    if (unserved.length) throw new Error(`requests the static server never saw:\n${unserved.map((r) => `  ${r.url}`).join('\n')}`);
    // Chromium may ask for /favicon.ico by itself; a missing one is not the app's request.
    const missing = served.filter((s) => s.status === 404 && s.url !== '/favicon.ico');
    if (missing.length) throw new Error(`the app asked for files it does not ship:\n${missing.map((s) => `  ${s.url}`).join('\n')}`);
  };
  return {
    server,
    origin,
    browser,
    served,
    newPage,
    assertOnlyOwnRequests,
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
      await server.close();
    },
  };
}

/** Whether a URL the browser requested stays on this machine's app: the origin itself, or tab-local blob:/data: URLs. */
export function isOwn(url: string, origin: string): boolean {
  if (url.startsWith('data:')) return true;
  if (url.startsWith('blob:')) return url.startsWith(`blob:${origin}/`);
  return url === origin || url.startsWith(`${origin}/`);
}

/** Fails with the page's errors in the message when `fn` throws (a timeout alone rarely says what went wrong). */
export async function withPageErrors<T>(t: TrackedPage, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (t.errors.length) (e as Error).message += `\npage errors:\n${t.errors.join('\n')}`;
    throw e;
  }
}
