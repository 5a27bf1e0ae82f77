// reload-status.json: what the instance writes after each reload is what `spamgate reload` can read back.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readReloadStatus, writeReloadStatus } from '../../../src/reload-status.ts';

test('a refused reload with a very long error (thousands of config problems) is still recorded readably, the error cut short', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-reload-status-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // 3000 users with plaintext passwords give a ConfigError of about 580 KB, one line each
  const line = (i: number): string => `/etc/spamgate/spamgate.yaml:${i + 5}: users.user${i}@x.example.password: expected an scrypt hash ($scrypt$N$r$p$salt$hash) made by \`spamgate users\`, never a plaintext password, found "\u001b[31mplaintext-${i}"`;
  const error = Array.from({ length: 3000 }, (_, i) => line(i)).join('\n');
  writeReloadStatus(dir, { instance: 'i', pid: 1234, seq: 1, at: new Date(0).toISOString(), trigger: 'signal', ok: false, error, restart: [] });
  const read = readReloadStatus(dir);
  assert.ok(read, 'the recorded outcome reads back');
  assert.equal(read.ok, false);
  assert.equal(read.seq, 1);
  assert.ok(read.error?.startsWith(`${line(0)}\n${line(1)}\n`), 'the first problems are kept whole');
  assert.ok((read.error?.length ?? 0) < error.length, 'cut short');
  assert.match(read.error ?? '', /more\b.*log/, 'saying that more is in the log');
});

test('a status write cut short by a crash (its temp file left) is cleared at the next write; a live writer\'s is not', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-reload-status-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  assert.ok(dead !== undefined);
  const left = path.join(dir, `.reload-status.json.${dead}.1.tmp`);
  const live = path.join(dir, `.reload-status.json.${process.ppid}.1.tmp`);
  writeFileSync(left, '{"inst');
  writeFileSync(live, '{"inst');
  writeReloadStatus(dir, { instance: 'i', pid: 1234, seq: 1, at: new Date(0).toISOString(), trigger: 'signal', ok: true, restart: [] });
  assert.equal(readReloadStatus(dir)?.seq, 1);
  assert.equal(existsSync(left), false, 'the dead writer\'s temp file is gone');
  assert.equal(existsSync(live), true, 'a live process\'s is left alone');
});
