import { copyFileSync, existsSync, mkdirSync, readdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { KdError } from '../util/errors.js';

/**
 * The headers every response carries. COOP + COEP make the page cross-origin isolated, which is what lets
 * onnxruntime-web use SharedArrayBuffer threads. The CSP makes "no request leaves the page except for its own
 * files" a rule the browser enforces, not only a promise of the app's code: every fetch, script, worker,
 * image and style must come from this origin (blob:/data: are local to the tab; wasm needs 'wasm-unsafe-eval').
 */
export const STATIC_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; connect-src 'self' blob: data:; " +
    "img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** Content types by extension; anything else is served as bytes. `.wasm` must be application/wasm for streaming compilation. */
const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
  '.yaml': 'text/plain; charset=utf-8',
};

/** The content type a file is served with. */
export function mimeType(path: string): string {
  return MIME[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The web app's folder in the installed package: dist/web two levels above this file, which holds both for the
 * compiled CLI (dist/cli/serve.js) and for the sources run through tsx (src/cli/serve.ts).
 */
export function defaultWebRoot(): string {
  return fileURLToPath(new URL('../../dist/web/', import.meta.url));
}

/** Throws a NOT_BUILT error unless `root` holds a built web app (the page and the library bundle). */
export function checkWebRoot(root: string): void {
  const missing = ['index.html', 'kdistill.js'].filter((f) => !existsSync(join(root, f)));
  if (missing.length)
    throw new KdError(
      'NOT_BUILT',
      `the web app is not built: ${root} lacks ${missing.join(', ')}. Run \`npm run build\` in the kdistill folder ` +
        '(`npm ci` does it too), then try again.',
    );
}

/** One request the static server answered, as `onRequest` sees it. */
export interface ServedRequest {
  method: string;
  /** The request target as sent (path and query). */
  url: string;
  status: number;
}

/** Options of {@link startStaticServer}. */
export interface StaticServerOptions {
  /** The folder served; nothing outside it is ever read. */
  root: string;
  /** 0 picks a free port. Default 8080. */
  port?: number;
  /** Default 127.0.0.1 (this machine only). */
  host?: string;
  /** Called for every request once it is answered (tests record the page's requests with it). */
  onRequest?: (r: ServedRequest) => void;
}

/** A running static server: its base URL (ending in '/') and a way to stop it. */
export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the files under `root` read-only: GET and HEAD only, no directory listings (a folder answers with its
 * index.html or 404), paths that leave the root refused (403), missing files 404. Every response carries
 * {@link STATIC_HEADERS}. There is deliberately nothing else: the app needs no server-side code.
 */
export async function startStaticServer(opts: StaticServerOptions): Promise<StaticServer> {
  if (!existsSync(opts.root) || !statSync(opts.root).isDirectory())
    throw new KdError('NOT_BUILT', `cannot serve ${opts.root}: no such folder. Run \`npm run build\` in the kdistill folder first.`);
  // The real path, so a symbolic link inside the root that points outside it is caught by the prefix test below.
  const root = realpathSync(opts.root);
  const server = createServer((req, res) => {
    const status = answer(root, req, res);
    opts.onRequest?.({ method: req.method ?? '', url: req.url ?? '', status });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE')
        fail(new KdError('PORT_IN_USE', `port ${opts.port} on ${host} is already in use; pick another with --port`));
      else if (e.code === 'EACCES')
        fail(new KdError('PORT_DENIED', `not allowed to listen on port ${opts.port} of ${host}; use a port above 1023 with --port`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND')
        fail(new KdError('BAD_HOST', `cannot listen on host '${host}': not an address of this machine; try --host 127.0.0.1`));
      else fail(e);
    });
    server.listen(opts.port ?? 8080, host, ok);
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        // Browsers keep connections alive; without this, close() would wait for them to time out.
        server.closeAllConnections();
      }),
  };
}

/** Answers one request and returns the status sent. */
function answer(root: string, req: IncomingMessage, res: ServerResponse): number {
  const send = (status: number, text: string, extra: Record<string, string> = {}) => {
    res.writeHead(status, { ...STATIC_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', ...extra });
    res.end(req.method === 'HEAD' ? undefined : `${text}\n`);
    return status;
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed', { Allow: 'GET, HEAD' });
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    return send(400, 'bad request path');
  }
  if (path.includes('\0')) return send(400, 'bad request path');
  let file = resolve(root, `.${path}`);
  if (file !== root && !file.startsWith(root + sep)) return send(403, 'forbidden');
  if (!existsSync(file)) return send(404, 'not found');
  let real = realpathSync(file);
  if (real !== root && !real.startsWith(root + sep)) return send(403, 'forbidden');
  if (statSync(real).isDirectory()) {
    file = join(real, 'index.html');
    if (!existsSync(file)) return send(404, 'not found');
    real = realpathSync(file);
    if (!real.startsWith(root + sep)) return send(403, 'forbidden');
  }
  const st = statSync(real);
  if (!st.isFile()) return send(404, 'not found');
  res.writeHead(200, {
    ...STATIC_HEADERS,
    'Content-Type': mimeType(real),
    'Content-Length': String(st.size),
    // Revalidate every time: a rebuilt app must not run against a cached older library bundle.
    'Cache-Control': 'no-cache',
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(real).pipe(res);
  return 200;
}

/**
 * Copies the built app to `dir` for any static host and writes `_headers` (the format Netlify and Cloudflare Pages
 * read) with the headers threads need. A non-empty `dir` is refused unless it holds an earlier copy, so a typo
 * cannot scatter files into an unrelated folder.
 */
export function writeStatic(root: string, dir: string): string[] {
  const out = resolve(dir);
  const src = realpathSync(root);
  if (out === src || out.startsWith(src + sep) || src.startsWith(out + sep))
    throw new KdError('BAD_OPTION', `--write ${dir}: the folder overlaps the built app (${root}); pick a folder outside it`);
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new KdError('BAD_OPTION', `--write ${dir}: a file of that name exists; pick a folder`);
    const entries = readdirSync(out);
    if (entries.length && !entries.includes('kdistill.js'))
      throw new KdError(
        'BAD_OPTION',
        `--write ${dir}: the folder is not empty and holds no earlier copy of the app (no kdistill.js); pick an empty or new folder`,
      );
  }
  copyTree(src, src, out);
  const headers = Object.entries(STATIC_HEADERS)
    .map(([k, v]) => `  ${k}: ${v}`)
    .join('\n');
  writeFileSync(join(out, '_headers'), `/*\n${headers}\n  Cache-Control: no-cache\n`);
  return listFiles(out).map((f) => relative(out, f));
}

/**
 * Copies what the server would serve: plain files, with symbolic links followed only where they stay inside the
 * root (the server refuses the others, so a copy must not publish them). Source maps stay behind: they are for
 * debugging the build, not for users of the page.
 */
function copyTree(root: string, from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from)) {
    const real = realpathSync(join(from, e));
    if (!real.startsWith(root + sep)) continue;
    if (statSync(real).isDirectory()) copyTree(root, real, join(to, e));
    else if (!e.endsWith('.map')) copyFileSync(real, join(to, e));
  }
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

/** `kdistill serve`: the web app (train in a browser tab) from this machine, or copied out for a static host. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the web app (distillation in a browser tab) as static files, or copy them out with --write')
    .option('--port <n>', 'port to listen on (0: any free port)', '8080')
    .option('--host <address>', 'address to listen on (0.0.0.0: every network interface)', '127.0.0.1')
    .option('--write <dir>', 'copy the static files to this folder instead of serving them')
    .action(async (o: { port: string; host: string; write?: string }) => {
      const root = defaultWebRoot();
      checkWebRoot(root);
      if (o.write !== undefined) {
        const files = writeStatic(root, o.write);
        console.log(`kdistill: wrote ${files.length} files to ${resolve(o.write)} (and _headers for Netlify / Cloudflare Pages).`);
        console.log('Serve them from any static host that sends these headers on every file:');
        for (const [k, v] of Object.entries(STATIC_HEADERS)) console.log(`  ${k}: ${v}`);
        console.log(
          'The first two make the page cross-origin isolated, which training with threads needs (without them it runs on one ' +
            'thread); the Content-Security-Policy makes the browser refuse any request to another origin. ' +
            '.wasm files must be served as application/wasm.',
        );
        return;
      }
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new KdError('BAD_OPTION', `--port must be an integer from 0 to 65535, got '${o.port}'`);
      const server = await startStaticServer({ root, port, host: o.host });
      console.log(`kdistill: serving the web app at ${server.url} (Ctrl-C stops)`);
      console.log('The page makes no request except for these static files: your teacher, data and student never leave the browser tab.');
      if (o.host !== '127.0.0.1' && o.host !== 'localhost' && o.host !== '::1')
        console.log(
          'Note: browsers allow threads (SharedArrayBuffer) only on https:// or localhost; ' +
            'over plain http from another machine the page trains on one thread.',
        );
      // Ctrl-C ends the process; closing first lets open keep-alive connections go at once.
      process.once('SIGINT', () => void server.close().then(() => process.exit(0)));
    });
}
