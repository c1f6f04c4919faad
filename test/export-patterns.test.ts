import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { synthesize } from '../src/distill/datafree/index.js';
import { adaptTeacher } from '../src/distill/teachers/adapt.js';
import { importOnnx } from '../src/nn/import/onnx-student.js';
import { Model } from '../src/nn/model.js';
import { exportOnnx } from '../src/runtime/inference.js';
import { createSession, ort } from '../src/runtime/ort.js';

// test/fixtures/make_export_patterns.py: teachers written as PyTorch code commonly is (x.view(x.size(0), -1) at opset
// 11, fresh BatchNorms sharing initializers through Identity nodes, ReLU6 / hardtanh / hardswish / ELU, padded average
// pooling, ReduceMean with attribute axes, a channels-last input), with PyTorch's scores for a fixed batch.
const fx = JSON.parse(readFileSync(new URL('./fixtures/export-patterns.json', import.meta.url), 'utf8')) as {
  input: number[];
  shape: number[];
  models: Record<string, { nhwc: boolean; output: number[] }>;
};
const file = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/export-patterns/${name}.onnx`, import.meta.url)));
const [n, , h, w] = fx.shape;

/** The fixture batch, channels last where the model takes it so. */
function batch(nhwc: boolean): ort.Tensor {
  const x = Float32Array.from(fx.input);
  if (!nhwc) return new ort.Tensor('float32', x, fx.shape);
  return new ort.Tensor('float32', x, [n, h, w, 1]);
}

describe('teachers as PyTorch exports them: imported, they compute what PyTorch computes', () => {
  for (const [name, m] of Object.entries(fx.models)) {
    it(`${name}: kdistill's rebuilt graph gives PyTorch's scores, and DeepInversion takes input gradients through it`, async () => {
      const model = new Model(importOnnx(file(name), { source: `${name}.onnx`, freeze: ['*'] }), 0);
      const s = await createSession(exportOnnx(model, { foldBn: false }), { threads: 1 });
      try {
        const r = await s.run({ [s.inputNames[0]]: batch(m.nhwc) });
        const got = r[s.outputNames[0]].data as Float32Array;
        assert.equal(got.length, m.output.length);
        m.output.forEach((v, i) => assert.ok(Math.abs(got[i] - v) < 1e-4 * Math.max(1, Math.abs(v)), `[${i}] ${got[i]} vs PyTorch ${v}`));
      } finally {
        await s.release();
      }
      // Through the adapters a config would give it: the inversion graph imports it and differentiates to the input.
      const kind = name.startsWith('hard_ops') ? 'logprobs' : name.startsWith('nhwc') ? 'probs' : 'logits';
      const teacher = adaptTeacher(file(name), {
        input: m.nhwc ? { layout: 'NHWC' } : undefined,
        output: { kind },
        sampleShape: [1, h, w],
        source: `${name}.onnx`,
      });
      const events: Record<string, unknown>[] = [];
      const set = await synthesize(
        {
          teacher,
          source: `${name}.onnx`,
          sampleShape: [1, h, w],
          classes: 10,
          n: 8,
          seed: 0,
          range: [0, 1],
          threads: 1,
          log: (e) => events.push(e),
        },
        { method: 'deepinversion', options: { steps: 4 } },
      );
      assert.equal(set.data.n, 8);
      const losses = events.filter((e) => e.event === 'synth-batch').map((e) => Number(e.loss));
      assert.ok(losses.length > 0 && losses.every(Number.isFinite), `objective ${losses}`);
    });
  }
});
