#!/usr/bin/env node
// Fails when a line of a tracked source file (.ts, .js, .mjs; test/fixtures/ excepted) is longer than 140 characters,
// the Biome formatter's line width. Biome cannot wrap long string literals or comments; split those by hand.
// Usage: node scripts/check-line-length.mjs
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIMIT = 140;
const root = fileURLToPath(new URL('..', import.meta.url));

const files = execFileSync('git', ['ls-files', '-z', '--', '*.ts', '*.js', '*.mjs'], { cwd: root, encoding: 'utf8' })
  .split('\0')
  .filter((f) => f && !f.startsWith('test/fixtures/') && existsSync(join(root, f)));

let offenders = 0;
for (const file of files) {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  lines.forEach((line, i) => {
    // Characters as code points, so that → or × counts once, as it does for Biome.
    const length = [...line.replace(/\r$/, '')].length;
    if (length > LIMIT) {
      offenders++;
      console.log(`${file}:${i + 1}: ${length} characters (limit ${LIMIT})`);
    }
  });
}
if (offenders) process.exit(1);
console.log(`line length: ${files.length} files checked, all ≤ ${LIMIT}`);
