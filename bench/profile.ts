/**
 * Where a training step's time goes: runs a bench step with ONNX Runtime's profiler on and sums the per-node
 * kernel times by phase (forward, backward, optimizer) and op type.
 *
 *   npx tsx bench/profile.ts [--pair cnn-train|resnet20|kd-mlp|kd-cnn] [--threads 1] [--steps 16] [--top 25]
 *
 * Phases come from kdistill's node names: the autodiff emits under `grad/`, optimizers under `optim/`, the rest
 * (model and loss) is the forward pass. ORT's fused nodes keep the name of the node they replaced.
 */
import '../src/node-setup.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchKdStep } from '../src/bench/kd-step.js';
import { benchTrainStep, type TrainPair } from '../src/bench/train-step.js';

const { values: a } = parseArgs({
  options: {
    pair: { type: 'string', default: 'cnn-train' },
    threads: { type: 'string', default: '1' },
    steps: { type: 'string', default: '16' },
    top: { type: 'string', default: '25' },
  },
});
const threads = Number(a.threads);
const steps = Number(a.steps);
const dir = mkdtempSync(join(tmpdir(), 'kd-profile-'));
const prefix = join(dir, 'p');
let ms: number;
if (a.pair === 'kd-mlp' || a.pair === 'kd-cnn') {
  const r = await benchKdStep(a.pair === 'kd-mlp' ? 'mlp' : 'cnn', threads, steps, 128, 'sequential', 1, prefix);
  ms = r.studentStepMs;
} else ms = (await benchTrainStep(a.pair as TrainPair, threads, steps, 128, { stepsPerRun: 1, profile: prefix })).stepMsMedian;

interface Event {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
// The training session's profile is the largest (the teacher's inference session writes one too).
const file = files.map((f) => join(dir, f)).sort((x, y) => readFileSync(y).length - readFileSync(x).length)[0];
const events = JSON.parse(readFileSync(file, 'utf8')) as Event[];
rmSync(dir, { recursive: true, force: true });
const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').length;
const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
const phaseOf = (n: string) => (n.startsWith('grad/') ? 'backward' : n.startsWith('optim/') ? 'optimizer' : 'forward');
const by = new Map<string, { us: number; count: number }>();
const phases = new Map<string, number>();
let total = 0;
for (const e of nodes) {
  const name = e.name.slice(0, -'_kernel_time'.length);
  const key = `${phaseOf(name).padEnd(9)} ${e.args?.op_name ?? '?'}`;
  const b = by.get(key) ?? { us: 0, count: 0 };
  b.us += e.dur;
  b.count++;
  by.set(key, b);
  phases.set(phaseOf(name), (phases.get(phaseOf(name)) ?? 0) + e.dur);
  total += e.dur;
}
const perRun = (us: number) => us / runs / 1000;
console.log(
  `${a.pair}, ${threads} thread(s): step ${ms.toFixed(2)} ms measured; ` +
    `profiled ${runs} runs, kernels sum to ${perRun(total).toFixed(2)} ms/step`,
);
console.log(`nodes per step: ${nodes.length / runs}`);
for (const [p, us] of phases) console.log(`  ${p.padEnd(9)} ${perRun(us).toFixed(2).padStart(7)} ms  ${((100 * us) / total).toFixed(1)}%`);
console.log('phase     op type                     ms/step  nodes/step  share');
for (const [k, b] of [...by].sort((x, y) => y[1].us - x[1].us).slice(0, Number(a.top)))
  console.log(
    `${k.padEnd(37)} ${perRun(b.us).toFixed(3).padStart(7)}  ${String(b.count / runs).padStart(10)}  ` +
      `${((100 * b.us) / total).toFixed(1).padStart(5)}%`,
  );
