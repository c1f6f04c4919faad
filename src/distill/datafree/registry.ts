import { dafl } from './methods/dafl.js';
import { deepinversion } from './methods/deepinversion.js';
import { noise } from './methods/noise.js';
import { unrelated } from './methods/unrelated.js';
import { zskd } from './methods/zskd.js';
import { registerSynthesizer } from './synthesizer.js';

// The built-in data-free methods (a plugin registers its own with `registerSynthesizer`).
registerSynthesizer(noise);
registerSynthesizer(unrelated);
registerSynthesizer(zskd);
registerSynthesizer(deepinversion);
registerSynthesizer(dafl);
