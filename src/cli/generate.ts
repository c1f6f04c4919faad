import type { Command } from 'commander';
import { decodeIds, parseTokenizer, tokenIds } from '../data/text.js';
import { Predictor } from '../runtime/inference.js';
import { readInput, readText } from '../runtime/storage.js';
import { generate } from '../train/lm/generate.js';
import { contextOf, tokenizerOf } from '../train/lm/lm-file.js';
import { KdError } from '../util/errors.js';

interface GenerateFlags {
  prompt: string;
  tokens: string;
  temperature: string;
  topK: string;
  seed: string;
  maxLen?: string;
  tokenizer?: string;
  threads?: string;
}

const number = (v: string, flag: string, ok: (n: number) => boolean, what: string) => {
  const n = Number(v);
  if (!ok(n)) throw new KdError('BAD_OPTION', `--${flag} must be ${what}, got '${v}'`);
  return n;
};

/** `kdistill generate <model.onnx> --prompt "..."`: text from a language model, greedy or sampled, seeded. */
export function registerGenerate(program: Command): void {
  program
    .command('generate <model.onnx>')
    .description('continues a prompt with a language model (its file carries its tokenizer): greedy (--temperature 0) or sampled')
    .requiredOption('--prompt <text>', 'the text to continue')
    .option('--tokens <n>', 'tokens to add', '200')
    .option('--temperature <t>', '0: greedy; otherwise sample from softmax(logits / t)', '1')
    .option('--top-k <k>', 'sample among the k most likely tokens (0: all)', '0')
    .option('--seed <n>', 'sampling seed (the same seed gives the same text)', '0')
    .option('--max-len <n>', "context the model sees (default: its position table's length, else all)")
    .option('--tokenizer <file.json>', 'a tokenizer JSON, for a model whose file carries none')
    .option('--threads <n>', 'ONNX Runtime threads')
    .action(async (file: string, o: GenerateFlags) => {
      const bytes = readInput(file, 'language model');
      const tok = o.tokenizer ? parseTokenizer(JSON.parse(readText(o.tokenizer, 'tokenizer'))) : tokenizerOf(bytes, file);
      const prompt = Array.from(tokenIds(tok, o.prompt));
      if (!prompt.length) throw new KdError('BAD_OPTION', '--prompt is empty after tokenizing; give some text');
      const p = await Predictor.fromBytes(bytes, { threads: o.threads ? Number(o.threads) : undefined }, file);
      try {
        const ids = await generate(
          p,
          prompt,
          number(o.tokens, 'tokens', (n) => Number.isInteger(n) && n >= 1, 'a positive integer'),
          {
            temperature: number(o.temperature, 'temperature', (n) => n >= 0, 'a number ≥ 0'),
            topK: number(o.topK, 'top-k', (n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0'),
            seed: number(o.seed, 'seed', Number.isInteger, 'an integer'),
            maxLen: o.maxLen
              ? number(o.maxLen, 'max-len', (n) => Number.isInteger(n) && n >= 1, 'a positive integer')
              : contextOf(bytes, file),
          },
        );
        process.stdout.write(`${decodeIds(tok, ids)}\n`);
      } finally {
        await p.release();
      }
    });
}
