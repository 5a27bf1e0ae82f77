// The rules watcher: an edit to a rules file reloads once after the burst settles; rewriting the same
// content, files that are not rules, and an edit already reloaded by SIGHUP do not reload again.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, renameSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { spawnSync, execFileSync } from 'node:child_process';
import { rulesFingerprint, watchRules } from '../../../src/content/rules-watcher.ts';
import type { Logger } from '../../../src/util/logger.ts';

function dir(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(path.join(tmpdir(), 'spamgate-watch-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Counts onChange calls; next() resolves at the next one. */
function counter(): { onChange: () => void; count: () => number; next: () => Promise<void> } {
  let n = 0;
  let waiting: (() => void) | undefined;
  return {
    onChange: () => {
      n++;
      waiting?.();
    },
    count: () => n,
    // the watcher keeps no event-loop reference (the app's sockets do): the deadline timer holds the loop
    next: () =>
      new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error('no reload within 5 s')), 5000);
        waiting = () => {
          clearTimeout(deadline);
          resolve();
        };
      }),
  };
}

const quiet = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('an edit reloads once per burst; same content, other files and already-loaded edits do not', async (t) => {
  const d = dir(t);
  writeFileSync(path.join(d, 'local.yaml'), 'symbols: {}\n');
  const c = counter();
  const w = watchRules([d], { onChange: c.onChange, debounceMs: 50 });
  t.after(() => w.close());

  let next = c.next();
  // an editor's save: temp file, then rename over the rules file, several events
  writeFileSync(path.join(d, '.local.yaml.tmp'), 'symbols: {}\nactions: { junk: 7 }\n');
  renameSync(path.join(d, '.local.yaml.tmp'), path.join(d, 'local.yaml'));
  writeFileSync(path.join(d, 'local.yaml'), 'symbols: {}\nactions: { junk: 7 }\n');
  await next;
  await quiet(150);
  assert.equal(c.count(), 1, 'one reload for the burst');

  writeFileSync(path.join(d, 'local.yaml'), 'symbols: {}\nactions: { junk: 7 }\n');
  writeFileSync(path.join(d, 'notes.txt'), 'not a rules file');
  await quiet(200);
  assert.equal(c.count(), 1, 'same content and non-rule files: no reload');

  // SIGHUP got there first: the reload records what it read, the watcher does not repeat it
  writeFileSync(path.join(d, 'local.yaml'), 'symbols: {}\nactions: { junk: 8 }\n');
  w.noteLoaded();
  await quiet(200);
  assert.equal(c.count(), 1, 'already loaded');

  next = c.next();
  writeFileSync(path.join(d, 'new.yml'), 'symbols: {}\n');
  await next;
  assert.equal(c.count(), 2, 'a new rules file is a change');
});

test('update() moves the watch to other directories; close() stops it', async (t) => {
  const a = dir(t);
  const b = dir(t);
  const c = counter();
  const w = watchRules([a], { onChange: c.onChange, debounceMs: 30 });
  w.update([b]);
  writeFileSync(path.join(a, 'x.yaml'), 'symbols: {}\n');
  await quiet(150);
  assert.equal(c.count(), 0, 'the old directory is no longer watched');
  const next = c.next();
  writeFileSync(path.join(b, 'x.yaml'), 'symbols: {}\n');
  await next;
  assert.equal(c.count(), 1);
  w.close();
  writeFileSync(path.join(b, 'x.yaml'), 'actions: {}\n');
  await quiet(150);
  assert.equal(c.count(), 1, 'closed');
});

test('a rules directory replaced by another (mv rules rules.old && mv rules.new rules) is watched again after a reload', async (t) => {
  const parent = dir(t);
  const rules = path.join(parent, 'rules');
  mkdirSync(rules);
  writeFileSync(path.join(rules, 'x.yaml'), 'symbols: {}\n');
  const c = counter();
  const w = watchRules([rules], { onChange: c.onChange, debounceMs: 30 });
  t.after(() => w.close());
  mkdirSync(path.join(parent, 'rules.new'));
  writeFileSync(path.join(parent, 'rules.new', 'x.yaml'), 'actions: {}\n');
  renameSync(rules, path.join(parent, 'rules.old'));
  renameSync(path.join(parent, 'rules.new'), rules);
  // SIGHUP: the reload reads the new directory and tells the watcher (same path)
  w.noteLoaded();
  w.update([rules]);
  const next = c.next();
  writeFileSync(path.join(rules, 'x.yaml'), 'symbols: { A: 1 }\n');
  await next;
  assert.equal(c.count(), 1, 'an edit in the new directory reloads');
});

test('a missing rules directory is logged, not thrown', () => {
  const warnings: string[] = [];
  const log: Logger = { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (msg) => void warnings.push(msg), child: () => log };
  const w = watchRules([path.join(tmpdir(), 'spamgate-no-such-dir-' + process.pid)], { onChange: () => undefined, log });
  w.close();
  assert.equal(warnings.length, 1);
});

test('files the rules read (list files) are watched too: in a subdirectory, saved by rename; other files there are not', async (t) => {
  const d = dir(t);
  mkdirSync(path.join(d, 'lists'));
  const list = path.join(d, 'lists', 'partners.txt');
  writeFileSync(path.join(d, 'lists.yaml'), 'lists: {}\n');
  writeFileSync(list, 'partner.example\n');
  const c = counter();
  const w = watchRules([d], { onChange: c.onChange, debounceMs: 50, files: [list] });
  t.after(() => w.close());

  let next = c.next();
  writeFileSync(path.join(d, 'lists', '.partners.txt.tmp'), 'partner.example\nother.example\n');
  renameSync(path.join(d, 'lists', '.partners.txt.tmp'), list);
  await next;
  assert.equal(c.count(), 1);

  writeFileSync(path.join(d, 'lists', 'unrelated.txt'), 'x\n');
  await quiet(200);
  assert.equal(c.count(), 1, 'a file the rules do not read: no reload');

  // a reload that no longer reads the file stops watching it
  w.update([d], []);
  writeFileSync(list, 'changed.example\n');
  await quiet(200);
  assert.equal(c.count(), 1);
  next = c.next();
  w.update([d], [list]);
  writeFileSync(list, 'changed again.example\n');
  await next;
  assert.equal(c.count(), 2);
});

test('a list file that is a symbolic link: an edit of the file it points to reloads', async (t) => {
  const d = dir(t);
  const shared = dir(t);
  mkdirSync(path.join(d, 'lists'));
  const target = path.join(shared, 'partners.txt');
  writeFileSync(target, 'partner.example\n');
  const list = path.join(d, 'lists', 'partners.txt');
  symlinkSync(target, list);
  writeFileSync(path.join(d, 'lists.yaml'), 'lists: {}\n');
  const c = counter();
  const w = watchRules([d], { onChange: c.onChange, debounceMs: 50, files: [list] });
  t.after(() => w.close());

  let next = c.next();
  writeFileSync(target, 'partner.example\nother.example\n');
  await next;
  assert.equal(c.count(), 1);
  // saved by rename in the target's directory, as editors and config management do
  next = c.next();
  writeFileSync(path.join(shared, '.partners.txt.tmp'), 'third.example\n');
  renameSync(path.join(shared, '.partners.txt.tmp'), target);
  await next;
  assert.equal(c.count(), 2);
});

test('a list file replaced by a named pipe or a device is not read to fingerprint it (it would block or never end)', (t) => {
  const d = dir(t);
  const pipe = path.join(d, 'pipe.txt');
  execFileSync('mkfifo', [pipe]);
  const module = new URL('../../../src/content/rules-watcher.ts', import.meta.url).href;
  const script = `import(${JSON.stringify(module)}).then((m) => { m.rulesFingerprint([], [${JSON.stringify(pipe)}, '/dev/zero']); console.log('done'); })`;
  // in a process of its own: opening a pipe no one writes to blocks the thread that opens it
  const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { timeout: 20_000, encoding: 'utf8' });
  assert.equal(run.signal, null, 'finished, not killed at the deadline');
  assert.equal(run.stdout.trim(), 'done', run.stderr);
  // a regular file still counts by its content
  const list = path.join(d, 'list.txt');
  writeFileSync(list, 'a.example\n');
  const before = rulesFingerprint([], [list]);
  writeFileSync(list, 'b.example\n');
  assert.notEqual(rulesFingerprint([], [list]), before);
});
