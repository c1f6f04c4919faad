import { teacherOutputsOf } from '../distill/loss.js';
import { peerModel } from '../distill/schemes/cohort.js';
import type { Model } from '../nn/model.js';
import { exportOnnx } from '../runtime/inference.js';
import { initSourceOf, mapLayers } from './init-layers.js';
import { KdError } from '../util/errors.js';
import { checkClassifierStep } from './classifier.js';
import { dataFreeCounts } from './data-free-stage.js';
import { prepareStageTeachers, stageData, type RunPlan, type StagePlan } from './plan.js';

/**
 * Builds every stage's step graph against its teachers before anything trains (earlier stages stand in
 * untrained, files are probed for the features the loss reads), so a wrong node name, shape or `init` fails in
 * seconds, not after the first stages have trained for an hour.
 */
export async function preflight(plan: RunPlan): Promise<void> {
  const stand = new Map<string, Uint8Array>();
  const byName = new Map(plan.stages.map((s) => [s.name, s]));
  for (const st of plan.stages) {
    if (st.file) {
      stand.set(st.name, st.file.bytes);
      continue;
    }
    const student = st.build!();
    // What later stages will see of this one: the model, or a cohort's peer 0.
    stand.set(st.name, exportOnnx(st.peers ? peerModel(student, 0) : student));
    const cached = st.teachers.find((t) => t.cache);
    if (cached && plan.augment)
      throw new KdError(
        'BAD_CONFIG',
        `stage '${st.name}': teacher '${cached.name}' is cached, but the dataset is augmented, so every sample is new and no answer ` +
          'would ever be reused; set cache: false or turn augmentation off',
      );
    if (st.init && st.initLayers)
      mapLayers(
        st,
        student,
        initSourceOf(byName.get(st.init)!, () => undefined),
        st.initLayers,
      );
    else if (st.init) checkInit(st, byName.get(st.init)!, student);
    const reads = teacherOutputsOf(st.loss).length > 0;
    if (reads && !st.teachers.length)
      throw new KdError(
        'NO_TEACHER',
        `stage '${st.name}': its loss (${st.loss.map((l) => l.method).join(' + ')}) ` +
          'reads a teacher, and the stage names none (teachers: [...])',
      );
    const slots = reads ? (await prepareStageTeachers(plan, st, (n) => stand.get(n)!)).map((p) => p.slot) : [];
    checkClassifierStep(
      student,
      st.loss,
      slots,
      st.combine,
      st.dataFree ? dataFreeCounts(st.dataFree.n).train : stageData(plan, st).train.n,
    );
  }
}

/** A stage that starts from another's weights needs the same parameters, name for name and shape for shape. */
function checkInit(st: StagePlan, from: StagePlan, student: Model): void {
  if (!from.build)
    throw new KdError(
      'BAD_INIT',
      `stage '${st.name}' starts from '${from.name}', which is an ONNX file; init needs a stage kdistill trained`,
    );
  const src = from.build();
  for (const [name, spec] of student.specs) {
    const s = src.specs.get(name);
    if (!s || s.shape.join() !== spec.shape.join())
      throw new KdError(
        'BAD_INIT',
        `stage '${st.name}' (${st.label}) starts from '${from.name}' ` +
          `(${from.label}), but its parameter '${name}' [${spec.shape.join(', ')}] ` +
          `${s ? `is [${s.shape.join(', ')}] there` : 'does not exist there'}; init needs the same architecture`,
      );
  }
}
