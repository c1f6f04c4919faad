/**
 * A classic config on a text corpus (udhr-text) trains language models: the teacher (a zoo model trained on the text,
 * or an ONNX file carrying the same tokenizer), the student alone (baseline) and the student distilled with the
 * config's per-token loss, each kept at its epoch of lowest validation perplexity and scored on the test text. Every
 * exported model carries the tokenizer fitted on the training text, so `kdistill generate` runs from the file alone.
 */
import type { ResolvedConfig, StageConfig } from '../config/index.js';
import { decodeIds, fitTokenizer, tokenIds, tokenizerSize } from '../data/text.js';
import { udhrCorpusOf } from '../data/udhr.js';
import { teacherOutputsOf } from '../distill/loss.js';
import { Model } from '../nn/model.js';
import { zooModel } from '../nn/zoo/index.js';
import { exportOnnx, Predictor } from '../runtime/inference.js';
import { fitLm, perplexity, scoreWindows, teacherWindows, topkAnswers } from '../train/lm/fit.js';
import { generate } from '../train/lm/generate.js';
import { checkSameTokenizer, tokenizerMetadata, tokenizerOf } from '../train/lm/lm-file.js';
import { windowsOf, type Windows } from '../train/lm/windows.js';
import type { RunSummary, SummaryRow } from '../train/report.js';
import type { RunDir } from '../train/run-dir.js';
import { stageFile } from '../train/stage-files.js';
import { readInput } from '../runtime/storage.js';
import { KdError } from '../util/errors.js';

/** The prompt every model of a run continues for its summary row (seed 1, temperature 0.8). */
const SAMPLE_PROMPT = 'Everyone has the right ';

/** Share of positions where `predictions` equal `ref` (the labels, or another model's predictions). */
function sameRate(predictions: Int32Array, ref: ArrayLike<number>): number {
  let same = 0;
  for (let i = 0; i < predictions.length; i++) if (predictions[i] === ref[i]) same++;
  return same / predictions.length;
}

/** Runs a language-model config: teacher, baseline (if asked), distilled; writes their files and returns the summary. */
export async function runLmExperiment(cfg: ResolvedConfig, rd: RunDir, log?: (line: string) => void): Promise<RunSummary> {
  const t0 = Date.now();
  const d = cfg.dataset;
  if (d.name !== 'udhr-text') throw new KdError('BAD_CONFIG', `dataset '${d.name}' is not a language-model corpus`);
  const k = cfg.languageModel?.topk;
  if (k !== undefined)
    for (const [i, t] of cfg.loss.entries())
      if (teacherOutputsOf([t]).length && (t.method !== 'token_kl' || (t.options as { topk?: number } | undefined)?.topk !== k))
        throw new KdError(
          'BAD_CONFIG',
          `languageModel.topk: ${k} keeps only the teacher's top-${k}, but loss[${i}] (${t.method}) reads its full logits; ` +
            `use { method: token_kl, options: { topk: ${k} } }, or remove languageModel.topk`,
        );
  const corpus = udhrCorpusOf(d.options.languages);
  const tok = fitTokenizer('char', [corpus.train], { lowercase: d.options.lowercase, vocab: 1024 });
  const vocab = tokenizerSize(tok),
    L = d.options.seqLen;
  const [train, val, test] = (['train', 'val', 'test'] as const).map((k) => windowsOf(tokenIds(tok, corpus[k]), L, `udhr-text ${k} text`));
  rd.write('tokenizer.json', `${JSON.stringify(tok)}\n`);
  log?.(
    `udhr-text (${d.options.languages.join(', ')}): ${train.count} / ${val.count} / ${test.count} windows of ${L}, vocabulary ${vocab}`,
  );
  const rows: SummaryRow[] = [];
  let teacher: Predictor | undefined;
  let teacherPredictions: Int32Array | undefined;
  try {
    for (const st of cfg.stages) {
      const t1 = Date.now();
      let bytes: Uint8Array, params: number;
      if (st.file !== null) {
        bytes = readInput(st.file, 'teacher');
        checkSameTokenizer(tokenizerOf(bytes, st.file), tok, { teacher: st.file, student: 'the tokenizer of the training text' });
        params = 0;
      } else {
        const m = new Model(zooModel(st.model!, [L], vocab, vocab), st.seed);
        // A stage trained on the labels (the teacher, the baseline) is trained on the next tokens.
        const loss = st.loss.map((t) => (t.method === 'ce' ? { method: 'token_ce', weight: t.weight } : t));
        const fit = await fitLm(m, await dataOf(cfg, st, train, teacher), {
          loss,
          epochs: st.epochs,
          batchSize: st.batchSize,
          lr: st.optimizer.lr,
          seed: st.seed,
          threads: cfg.threads,
          validation: val,
          teacher: teacherOutputsOf(loss).length && !cfg.languageModel?.topk ? teacher : undefined,
          topk:
            teacherOutputsOf(loss).length && cfg.languageModel?.topk
              ? await topkAnswers(teacher!, train, cfg.languageModel.topk)
              : undefined,
          ...(st.name === 'distilled' && cfg.languageModel?.onPolicy ? { onPolicy: cfg.languageModel.onPolicy } : {}),
          log: (line) => log?.(`${st.name}: ${line}`),
        });
        for (const e of fit.epochs) rd.log({ stage: st.name, event: 'epoch', ...e });
        bytes = exportOnnx(m, { metadata: { ...tokenizerMetadata(tok), 'kdistill.role': st.name } });
        params = m.parameterCount();
      }
      const file = stageFile(st.name);
      rd.write(file, bytes);
      const p = await Predictor.fromBytes(bytes, { threads: cfg.threads }, file);
      const scored = await scoreWindows(p, test);
      const ppl = scored.perplexity,
        valPpl = await perplexity(p, val);
      const accuracy = sameRate(scored.predictions, test.labels);
      const agreement = teacherPredictions ? sameRate(scored.predictions, teacherPredictions) : undefined;
      const sample = decodeIds(
        tok,
        await generate(p, Array.from(tokenIds(tok, SAMPLE_PROMPT)), 120, { temperature: 0.8, seed: 1, maxLen: L }),
      );
      rows.push({
        role: st.name,
        model: st.file ?? st.model!,
        testAccuracy: +accuracy.toFixed(4),
        testLoss: +Math.log(ppl).toFixed(4),
        agreement: agreement === undefined ? null : +agreement.toFixed(4),
        agreeWith: agreement === undefined ? null : 'teacher',
        ...(params ? { parameters: params } : {}),
        fileBytes: bytes.length,
        latencyMs: [],
        file,
        language: { perplexity: +ppl.toFixed(4), valPerplexity: +valPpl.toFixed(4), sample, seconds: Math.round((Date.now() - t1) / 1000) },
      });
      if (st.name === 'teacher') {
        teacher = p;
        teacherPredictions = scored.predictions;
      } else await p.release();
    }
  } finally {
    await teacher?.release();
  }
  return {
    name: cfg.name,
    seed: cfg.seed,
    dataset: 'udhr-text',
    trainSamples: train.count,
    validationSamples: val.count,
    testSamples: test.count,
    rows,
    seconds: Math.round((Date.now() - t0) / 1000),
  };
}

/** A stage's training windows: the text, or (sequence-level KD, distilled stage) the teacher's continuations of it. */
async function dataOf(cfg: ResolvedConfig, st: StageConfig, train: Windows, teacher?: Predictor): Promise<Windows> {
  const seq = cfg.languageModel?.sequenceKd;
  if (st.name !== 'distilled' || !seq) return train;
  if (!teacher) throw new KdError('NO_TEACHER', 'languageModel.sequenceKd continues the text with the teacher; the run has none');
  return teacherWindows(teacher, train, { prompt: seq.prompt, temperature: seq.temperature, seed: st.seed });
}
