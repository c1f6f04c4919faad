#!/usr/bin/env node
// Runs the compiled CLI; `npm ci` compiles it through the package's `prepare` script.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');
if (!existsSync(main)) {
  console.error('kdistill: the compiled CLI is missing (dist/cli/main.js). Run `npm ci` or `npm run build` in the kdistill folder.');
  process.exit(70);
}
await import(pathToFileURL(main).href);
