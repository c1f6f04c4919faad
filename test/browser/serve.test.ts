// `kdistill serve`: the static server the app is used through. These tests need no browser; they check what a browser
// relies on (isolation headers, MIME types) and what a server must never do (list folders, read outside its root).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkWebRoot, type ServedRequest, type StaticServer, startStaticServer, writeStatic } from '../../src/cli/serve.js';
import type { KdError } from '../../src/util/errors.js';
import { requireBuiltWeb } from './helpers/browser.js';

/** A raw GET, so paths reach the server exactly as written (fetch would normalise '..' away). */
function get(url: string, path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('static server', () => {
  const base = mkdtempSync(join(tmpdir(), 'kd-serve-'));
  const root = join(base, 'web');
  const served: ServedRequest[] = [];
  let server: StaticServer;
  before(async () => {
    mkdirSync(join(root, 'samples'), { recursive: true });
    mkdirSync(join(root, 'assets'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(join(root, 'kdistill.js'), 'export const x = 1;');
    writeFileSync(join(root, 'ort.bundle.min.mjs'), 'export {};');
    writeFileSync(join(root, 'ort.wasm'), new Uint8Array([0, 97, 115, 109]));
    writeFileSync(join(root, 'style.css'), 'body{}');
    writeFileSync(join(root, 'samples', 'mnist.kds'), new Uint8Array([1, 2, 3]));
    writeFileSync(join(root, 'kdistill.js.map'), '{}');
    writeFileSync(join(base, 'secret.txt'), 'do not serve');
    symlinkSync(join(base, 'secret.txt'), join(root, 'assets', 'link.txt'));
    server = await startStaticServer({ root, port: 0, onRequest: (r) => served.push(r) });
  });
  after(() => server.close());

  it('serves files with the isolation headers and the right content types', async () => {
    for (const [path, type] of [
      ['/', 'text/html; charset=utf-8'],
      ['/index.html', 'text/html; charset=utf-8'],
      ['/kdistill.js', 'text/javascript; charset=utf-8'],
      ['/ort.bundle.min.mjs', 'text/javascript; charset=utf-8'],
      ['/ort.wasm', 'application/wasm'],
      ['/style.css', 'text/css; charset=utf-8'],
      ['/samples/mnist.kds', 'application/octet-stream'],
      ['/kdistill.js?v=2', 'text/javascript; charset=utf-8'],
    ]) {
      const r = await get(server.url, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], type, path);
      assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin', path);
      assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp', path);
      assert.match(String(r.headers['content-security-policy']), /default-src 'self'/, path);
    }
    assert.equal((await get(server.url, '/kdistill.js')).body, 'export const x = 1;');
    const head = await get(server.url, '/kdistill.js', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['content-length'], '19');
  });

  it('answers 404 for missing files and folders without an index, never a listing', async () => {
    for (const path of ['/missing.js', '/samples/', '/samples', '/assets/none.png']) {
      const r = await get(server.url, path);
      assert.equal(r.status, 404, path);
      assert.doesNotMatch(r.body, /mnist\.kds/, `${path} listed the folder`);
      // Error answers carry the isolation headers too, or a missing file would break the page's isolation.
      assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp', path);
    }
  });

  it('refuses paths that leave the root, also through encoded dots, slashes and symbolic links', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/samples/..%2f..%2fsecret.txt', '/assets/link.txt']) {
      const r = await get(server.url, path);
      assert.ok(r.status === 403 || r.status === 404, `${path}: status ${r.status}`);
      assert.doesNotMatch(r.body, /do not serve/, path);
    }
    assert.equal((await get(server.url, '/..%2fsecret.txt')).status, 403);
    assert.equal((await get(server.url, '/assets/link.txt')).status, 403);
    assert.equal((await get(server.url, '/%E0%A4%A')).status, 400);
    assert.equal((await get(server.url, '/index.html', 'POST')).status, 405);
  });

  it('reports every request it answered to onRequest', async () => {
    served.length = 0;
    await get(server.url, '/style.css');
    await get(server.url, '/nope');
    assert.deepEqual(served, [
      { method: 'GET', url: '/style.css', status: 200 },
      { method: 'GET', url: '/nope', status: 404 },
    ]);
  });

  it('a port in use and a missing folder are clear errors', async () => {
    const port = Number(new URL(server.url).port);
    await assert.rejects(startStaticServer({ root, port }), (e: KdError) => e.code === 'PORT_IN_USE' && /--port/.test(e.message));
    await assert.rejects(startStaticServer({ root: join(base, 'none'), port: 0 }), /npm run build/);
    assert.throws(
      () => checkWebRoot(join(base, 'samples-none')),
      (e: KdError) => e.code === 'NOT_BUILT' && /lacks index\.html, kdistill\.js\. Run `npm run build`/.test(e.message),
    );
  });

  it('--write copies the files (no source maps) with a _headers file, and refuses a folder that holds other things', () => {
    const out = join(base, 'site');
    const files = writeStatic(root, out).sort();
    assert.ok(files.includes('index.html') && files.includes('samples/mnist.kds') && files.includes('_headers'), files.join());
    assert.ok(!files.includes('kdistill.js.map'));
    // The link points outside the app: the server refuses it, so the copy must not publish it either.
    assert.ok(!files.includes('assets/link.txt'), files.join());
    assert.match(readFileSync(join(out, '_headers'), 'utf8'), /Cross-Origin-Embedder-Policy: require-corp/);
    // A second copy over the first is allowed; an unrelated non-empty folder or one inside the app is not.
    writeStatic(root, out);
    const other = join(base, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'thesis.tex'), 'x');
    assert.throws(() => writeStatic(root, other), /not empty and holds no earlier copy/);
    assert.throws(() => writeStatic(root, join(root, 'sub')), /overlaps the built app/);
  });
});

describe('kdistill serve (command line)', () => {
  it('prints the URL and the privacy note, then serves the built app', async (t) => {
    requireBuiltWeb();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', new URL('../../src/cli/main.ts', import.meta.url).pathname, 'serve', '--port', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.after(() => child.kill());
    let out = '';
    const url = await new Promise<string>((ok, fail) => {
      child.stdout.on('data', (c) => {
        out += c;
        const m = /serving the web app at (http:\/\/\S+\/) /.exec(out);
        if (m && /no request except for these static files/.test(out)) ok(m[1]);
      });
      child.on('exit', (code) => fail(new Error(`kdistill serve exited ${code}: ${out}`)));
    });
    const r = await get(url, '/');
    assert.equal(r.status, 200);
    assert.match(r.body, /<html|<!doctype/i);
  });
});
