import { synthesize } from '../distill/datafree/index.js';
import { subset, type Dataset } from '../data/dataset.js';
import { KdError } from '../util/errors.js';
import type { RunPlan, StagePlan } from './plan.js';

/** What a data-free stage trains on: its synthesised samples, a tenth more held out for choosing the best checkpoint. */
export interface DataFreeSplits {
  readonly train: Dataset;
  readonly val: Dataset;
  /** The first samples, for the run directory's grid (`<stage>-synth.json`). */
  readonly preview: {
    readonly x: number[];
    readonly y: number[];
    readonly shape: readonly number[];
    /** The data range the samples are in, so the grid maps it to black … white. */
    readonly range: readonly [number, number];
  };
}

/** Samples of a preview grid. */
const PREVIEW = 64;

/** How many samples a data-free stage synthesises in all: its `n` for training and a tenth more for validation. */
export const dataFreeCounts = (n: number) => ({ train: n, val: Math.max(10, Math.round(n / 10)) });

/**
 * Makes a data-free stage's samples from its one teacher (an ONNX file, or an earlier stage's export) with the stage's
 * method; the labels are the teacher's top classes, so validation accuracy is agreement with the teacher on unseen
 * synthesised samples, and the test split alone says how well the student does on real data.
 */
export async function dataFreeSplits(
  plan: RunPlan,
  st: StagePlan,
  stageBytes: (stage: string) => Uint8Array | undefined,
  log: (event: Record<string, unknown>) => void,
): Promise<DataFreeSplits> {
  const df = st.dataFree!;
  const t = st.teachers[0];
  const bytes = t.kind === 'onnx' ? t.bytes : t.kind === 'stage' ? stageBytes(t.stage) : undefined;
  if (!bytes)
    throw new KdError(
      'BAD_CONFIG',
      `stage '${st.name}': dataFree needs its teacher's ONNX graph (a file or an earlier stage), not a ${t.kind} teacher`,
    );
  const { sampleShape, numClasses } = plan.data.test;
  const counts = dataFreeCounts(df.n);
  const set = await synthesize(
    {
      teacher: bytes,
      source: t.kind === 'onnx' ? t.label : `stage '${t.kind === 'stage' ? t.stage : t.name}'`,
      sampleShape,
      classes: numClasses,
      n: counts.train + counts.val,
      seed: st.seed,
      range: df.range,
      threads: plan.threads,
      student: st.build,
      log: (e) => log({ stage: st.name, ...e }),
    },
    df,
  );
  const idx = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);
  const all = set.data;
  const per = sampleShape.reduce((a, b) => a * b, 1),
    m = Math.min(PREVIEW, all.n);
  return {
    train: subset(all, idx(0, counts.train), `${all.name} (train)`),
    val: subset(all, idx(counts.train, all.n), `${all.name} (validation)`),
    preview: {
      x: Array.from(all.x.subarray(0, m * per), (v) => +v.toFixed(3)),
      y: Array.from(all.y.subarray(0, m)),
      shape: [m, ...sampleShape],
      range: df.range,
    },
  };
}
