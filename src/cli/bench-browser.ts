import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KdStepResult } from '../bench/kd-step.js';
import { KdError } from '../util/errors.js';
import { checkWebRoot, defaultWebRoot, startStaticServer, type StaticServer } from './serve.js';

/**
 * How kdistill starts headless Chromium (the browser bench, the browser tests): Chromium's own network traffic (update
 * checks, sync, field trials) is switched off, so it neither slows the timing nor waits on a closed network, and a
 * log of the page's requests holds only what the page asked for.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** What the bench page reports about its runtime (web/bench.ts). */
export interface BrowserBenchInfo {
  threads: number;
  crossOriginIsolated: boolean;
  providers: readonly string[];
  hardwareConcurrency: number;
}

/** One page of the bench at a fixed thread count (ORT-web fixes its pool when it starts, so each count has its own page). */
export interface BrowserBenchPage {
  info: BrowserBenchInfo;
  run(pair: 'mlp' | 'cnn', steps: number, batch: number): Promise<KdStepResult>;
  close(): Promise<void>;
}

/** Headless Chromium with the bench page of the built app, served the way `kdistill serve` serves it. */
export interface BrowserBench {
  /** e.g. 'Chromium 156.0.8078.129'. */
  version: string;
  open(threads: number): Promise<BrowserBenchPage>;
  close(): Promise<void>;
}

/** The globals web/bench.ts sets, as the functions evaluated in the page see them. */
interface BenchWindow {
  kdBenchReady?: { ok: true; info: BrowserBenchInfo } | { ok: false; message: string };
  kdBench?: (pair: 'mlp' | 'cnn', steps: number, batch: number) => Promise<KdStepResult>;
}

// The parts of playwright-core used here, so that it stays an optional dependency (imported only for --browser).
interface PwPage {
  goto(url: string): Promise<unknown>;
  waitForFunction(fn: string, arg?: unknown, opts?: { timeout?: number }): Promise<unknown>;
  evaluate<R, A>(fn: (a: A) => R | Promise<R>, arg: A): Promise<R>;
  close(): Promise<void>;
}
interface PwBrowser {
  version(): string;
  newPage(): Promise<PwPage>;
  close(): Promise<void>;
}

/** Starts the static server and Chromium; NO_BROWSER / NOT_BUILT errors say what to install or run. */
export async function startBrowserBench(chromiumPath: string): Promise<BrowserBench> {
  const root = defaultWebRoot();
  checkWebRoot(root);
  if (!existsSync(join(root, 'bench.html')))
    throw new KdError('NOT_BUILT', `the bench page is not built (${join(root, 'bench.html')} is missing); run \`npm run build\``);
  if (!existsSync(chromiumPath))
    throw new KdError(
      'NO_BROWSER',
      `--browser needs Chromium, not found at ${chromiumPath}: ` +
        'install it (`apt-get install -y chromium`) or name it with --chromium <path>',
    );
  let launch: (o: { executablePath: string; args: string[]; headless: boolean }) => Promise<PwBrowser>;
  try {
    // A variable specifier keeps TypeScript from requiring the package's types where it is not installed.
    const name = 'playwright-core';
    const pw = (await import(name)) as { chromium: { launch: typeof launch } };
    launch = (o) => pw.chromium.launch(o);
  } catch {
    throw new KdError(
      'NO_BROWSER',
      '--browser drives Chromium with playwright-core, which is not installed: `npm install playwright-core`',
    );
  }
  const server: StaticServer = await startStaticServer({ root, port: 0, host: '127.0.0.1' });
  let browser: PwBrowser;
  try {
    browser = await launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS, headless: true });
  } catch (e) {
    await server.close();
    throw new KdError('NO_BROWSER', `Chromium at ${chromiumPath} did not start: ${(e as Error).message.split('\n')[0]}`);
  }
  return {
    version: `Chromium ${browser.version()}`,
    async open(threads) {
      const page = await browser.newPage();
      await page.goto(`${server.url}bench.html?threads=${threads}`);
      await page.waitForFunction('window.kdBenchReady !== undefined', undefined, { timeout: 60_000 });
      const ready = await page.evaluate(() => (window as unknown as BenchWindow).kdBenchReady!, undefined);
      if (!ready.ok) {
        await page.close();
        throw new KdError('BROWSER_BENCH', `the bench page could not start with ${threads} thread(s): ${ready.message}`);
      }
      return {
        info: ready.info,
        run: (pair, steps, batch) =>
          page.evaluate(([p, s, b]) => (window as unknown as BenchWindow).kdBench!(p, s, b), [pair, steps, batch] as const),
        close: () => page.close(),
      };
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
