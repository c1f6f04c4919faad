export { adam, adamw, type AdamOptions } from './adam.js';
export type { Optimizer, StepInputs } from './optimizer.js';
export { optimizerFrom, optimizerSpec, type OptimizerSpec, type OptimizerSpecInput } from './optimizer-spec.js';
export { lrAt, type Schedule } from './schedule.js';
export { scheduleFrom, scheduleSpec, type RunLength, type ScheduleSpec, type ScheduleSpecInput } from './schedule-spec.js';
export { sgd, type SgdOptions } from './sgd.js';
