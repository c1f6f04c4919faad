// WebGPU is opt-in; this checks that opting in changes nothing but the device. One KD step (the CNN reference
// teacher's forward pass, then two training steps of the CNN student from the same initial weights) gives the same
// teacher logits and loss terms with WebGPU opted in as on wasm alone. Under the opt-in the teacher runs on WebGPU
// and the training step on wasm (webRuntime.trainProvider: onnxruntime-web 1.30's WebGPU Conv backward gives NaN
// weight gradients here). Headless Chromium offers WebGPU through SwiftShader, a CPU implementation of the GPU API.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { startStaticServer, type StaticServer } from '../../src/cli/serve.js';
import { CHROMIUM_ARGS, requireBuiltWeb, WEB_ROOT } from './helpers/browser.js';

// SwiftShader's WebGPU adapter needs the GPU process: --disable-gpu would take WebGPU away.
const WEBGPU_ARGS = [...CHROMIUM_ARGS.filter((a) => a !== '--disable-gpu'), '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];

interface StepResult {
  teacher: number[];
  steps: Record<string, number>[];
}

describe('WebGPU opt-in', () => {
  let server: StaticServer;
  let browser: Browser;
  before(async () => {
    requireBuiltWeb();
    server = await startStaticServer({ root: WEB_ROOT, port: 0, host: '127.0.0.1' });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: WEBGPU_ARGS, headless: true });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('gives the teacher logits and loss terms of wasm on the same KD step', async () => {
    const page = await browser.newPage();
    await page.addInitScript('globalThis.__name ??= (f) => f;');
    await page.goto(`${server.url.replace(/\/$/, '')}/bench.html?idle=1`);
    const r = await page.evaluate(async () => {
      const kd = await import(`${location.origin}/kdistill.js`);
      const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
      if (!(await gpu?.requestAdapter())) return { error: 'no WebGPU adapter' };
      const ort = kd.webRuntime.ort;
      const N = 32;
      const x = new ort.Tensor(
        'float32',
        Float32Array.from({ length: N * 784 }, (_, i) => Math.sin(i * 0.37)),
        [N, 1, 28, 28],
      );
      const labels = new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: N }, (_, i) => BigInt(i % 10)),
        [N],
      );
      const step = async (): Promise<StepResult> => {
        const teacher = await kd.Predictor.fromModel(new kd.Model(kd.zooModel('cnn-32-64-128'), 1));
        const logits = (await teacher.run(x, ['logits'])).logits;
        await teacher.release();
        const s = await kd.TrainSession.create(
          {
            model: new kd.Model(kd.zooModel('cnn-8-16'), 7),
            optimizer: kd.adam(),
            extraInputs: { labels: { dtype: 'int64', shape: ['N'] }, teacher_logits: { dtype: 'float32', shape: ['N', 10] } },
            loss: (out: Record<string, unknown>, inp: Record<string, unknown>) =>
              kd.distillationLoss(
                [
                  { method: 'ce', weight: 0.5 },
                  { method: 'kd', weight: 0.5, options: { temperature: 4 } },
                ],
                { student: out, teacher: { logits: inp.teacher_logits }, labels: inp.labels },
              ),
          },
          { threads: 1, seed: 3 },
        );
        const feeds = { x, labels, teacher_logits: logits };
        const steps = [await s.run(feeds, 1e-2), await s.run(feeds, 1e-2)];
        await s.release();
        return { teacher: Array.from(logits.data as Float32Array), steps };
      };
      const wasm = await step();
      const info = kd.configureWeb({ provider: 'webgpu' });
      const webgpu = await step();
      return { wasm, webgpu, providers: info.providers };
    });
    await page.close();
    assert.ok(!('error' in r), `Chromium offered no WebGPU adapter with ${WEBGPU_ARGS.join(' ')}`);
    const { wasm, webgpu, providers } = r as { wasm: StepResult; webgpu: StepResult; providers: string[] };
    assert.deepEqual(providers, ['webgpu', 'wasm'], 'the opt-in puts WebGPU first');
    const close = (a: number, b: number, what: string) =>
      assert.ok(Number.isFinite(b) && Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(a)), `${what}: wasm ${a}, webgpu ${b}`);
    wasm.teacher.forEach((v, i) => close(v, webgpu.teacher[i], `teacher logit ${i}`));
    for (let k = 0; k < 2; k++)
      for (const term of Object.keys(wasm.steps[k])) close(wasm.steps[k][term], webgpu.steps[k][term], `step ${k + 1} ${term}`);
    // The second step's loss moved: the update ran, so the comparison covers it and not just a forward pass.
    assert.notEqual(wasm.steps[1].loss, wasm.steps[0].loss);
  });
});
