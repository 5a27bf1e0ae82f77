// Users' Sieve scripts on disk and at delivery: the path from a validated user name only, the compiled script
// cached while the file is unchanged and compiled again when it changes, and a script that cannot be read,
// compiled or run planned as the implicit keep and counted by kind.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { createSieveFiltering } from '../../../src/mailhost/sieve-delivery.ts';
import { createSieveScripts, removeSieveScript, sieveScriptFile, writeSieveScript } from '../../../src/mailhost/sieve-scripts.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { MailboxError } from '../../../src/store/mailbox-store.ts';
import { silentLogger } from '../../../src/util/logger.ts';

const USER = 'alice@corp.example';
const RAW = Buffer.from('From: a@remote.example\r\nSubject: Report\r\n\r\nbody\r\n');

function dataDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-sieve-scripts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the script lives in the user home beside the Maildir; a user name that is not one is refused before any path is made', (t) => {
  const dir = dataDir(t);
  assert.equal(sieveScriptFile(dir, USER), path.join(dir, 'mail', 'corp.example', 'alice', 'sieve', 'active.sieve'));
  for (const bad of ['../x@corp.example', 'alice@../../etc', 'alice', 'a/b@corp.example', '']) {
    assert.throws(() => sieveScriptFile(dir, bad), (err: unknown) => err instanceof MailboxError && err.code === 'INVALID', bad);
  }
});

test('compiled once while the file is unchanged, again when it changes; gone when removed', async (t) => {
  const dir = dataDir(t);
  const scripts = createSieveScripts(dir);
  assert.deepEqual(await scripts.load(USER), { kind: 'none' });
  writeSieveScript(dir, USER, 'keep;\n');
  const first = await scripts.load(USER);
  assert.equal(first.kind === 'script' && first.ok, true);
  assert.equal(await scripts.load(USER), first, 'the cached compile (same object)');
  writeSieveScript(dir, USER, 'discard;\n');
  const second = await scripts.load(USER);
  assert.notEqual(second, first);
  assert.equal(second.kind === 'script' && second.ok ? second.script.commands[0]?.kind : '', 'discard');
  assert.equal(removeSieveScript(dir, USER), true);
  assert.deepEqual(await scripts.load(USER), { kind: 'none' });
  assert.equal(removeSieveScript(dir, USER), false);
});

test('unreadable, not compiling or failing at run time: planned as the implicit keep, counted by kind', async (t) => {
  const dir = dataDir(t);
  const registry = createRegistry(false);
  const filtering = createSieveFiltering(createSieveScripts(dir), registry, silentLogger);
  const plan = () => filtering.plan({ user: USER, mailFrom: 'a@remote.example', recipient: USER, raw: RAW, queueId: 'q1' });
  const keep = { copies: [{ flags: [] }], redirects: [], filtered: false };
  assert.deepEqual(await plan(), keep, 'no script');
  mkdirSync(sieveScriptFile(dir, USER), { recursive: true });
  assert.deepEqual(await plan(), keep, 'a directory where the script should be');
  rmSync(sieveScriptFile(dir, USER), { recursive: true });
  writeFileSync(sieveScriptFile(dir, USER), 'fileinto "x";\n');
  assert.deepEqual(await plan(), keep, 'does not compile');
  writeFileSync(sieveScriptFile(dir, USER), Array.from({ length: 5 }, (_, i) => `redirect "r${i}@remote.example";`).join('\n'));
  assert.deepEqual(await plan(), keep, 'passes a bound at run time');
  writeFileSync(sieveScriptFile(dir, USER), 'require ["fileinto", "copy"];\nfileinto :copy "Reports";\nredirect "bob@remote.example";\n');
  assert.deepEqual(await plan(), { copies: [{ folder: 'Reports', flags: [] }], redirects: ['bob@remote.example'], filtered: true });
  const errors = await registry.getSingleMetricAsString('spamgate_sieve_errors_total');
  for (const kind of ['read', 'compile', 'runtime']) assert.match(errors, new RegExp(`kind="${kind}"} 1`));
  assert.match(errors, /kind="action"} 0/);
  const actions = await registry.getSingleMetricAsString('spamgate_sieve_actions_total');
  assert.match(actions, /action="fileinto"} 1/);
  assert.match(actions, /action="redirect"} 1/);
  assert.match(actions, /action="implicit_keep"} 3/, 'the three failures kept the message; a missing script is no Sieve action');
});
