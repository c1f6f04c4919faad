import { LID176_LABELS } from './src/data/udhr.js';
import { loadLid176, modelLabels } from './src/distill/teachers/fasttext.js';
const ft = await loadLid176(); const m = modelLabels(ft);
console.log(m.length, LID176_LABELS.length, m.filter((l, i) => l !== LID176_LABELS[i]).slice(0, 5), LID176_LABELS.filter((l, i) => l !== m[i]).slice(0,5));
