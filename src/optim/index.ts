export { adam, adamw, type AdamOptions } from './adam.js';
export type { Optimizer, StepInputs } from './optimizer.js';
export { lrAt, type Schedule } from './schedule.js';
export { sgd, type SgdOptions } from './sgd.js';
