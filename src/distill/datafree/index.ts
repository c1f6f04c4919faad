/** Data-free distillation: samples made from the teacher alone, then distilled on with any method. */
import './registry.js';
export { synthesize, teacherClasses, type SynthesizeOptions } from './synthesize.js';
export {
  optionIssues,
  registerSynthesizer,
  synthesizer,
  synthesizerNames,
  parseSynthOptions,
  type Synthesizer,
  type SynthContext,
  type TransferSet,
} from './synthesizer.js';
