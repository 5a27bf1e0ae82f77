// Recipient resolution: users, one-to-many, many-to-one, sub-addressing, catch-all, postmaster, loops and depth.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import { createUserDirectory } from '../../../src/mailhost/directory.ts';
import { hashPassword } from '../../../src/mailhost/password.ts';
import { silentLogger } from '../../../src/util/logger.ts';

async function directory(t: TestContext, aliases: Record<string, string | string[]>, extra: Record<string, unknown> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-alias-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const hash = await hashPassword('password-123', { N: 1024, r: 8, p: 1 });
  const users = Object.fromEntries(['alice@example.com', 'bob@example.com', 'carol@example.org'].map((u) => [u, { password: hash }]));
  const { config } = loadConfig({ inline: { local_domains: ['example.com', 'example.org'], users, aliases, mailhost: { watch_files: false, ...extra } }, dataDir: dir });
  const d = createUserDirectory({ config, dataDir: dir, log: silentLogger });
  t.after(() => d.close());
  return { d, dir };
}

test('users resolve case-insensitively; unknown local is unknown; other domains are remote', async (t) => {
  const { d } = await directory(t, {});
  assert.deepEqual(d.resolve('Alice@EXAMPLE.com'), { kind: 'local', mailboxes: ['alice@example.com'], remote: [] });
  assert.deepEqual(d.resolve('<bob@example.com>'), { kind: 'local', mailboxes: ['bob@example.com'], remote: [] });
  assert.deepEqual(d.resolve('nobody@example.com'), { kind: 'unknown' });
  assert.deepEqual(d.resolve('someone@elsewhere.net'), { kind: 'remote' });
  assert.equal(d.isLocalDomain('EXAMPLE.ORG'), true);
});

test('one-to-many with local and remote targets; many-to-one; duplicate mailboxes collapse', async (t) => {
  const { d } = await directory(t, {
    'team@example.com': ['alice@example.com', 'bob', 'ext@partner.net', 'sales@example.com'],
    'sales@example.com': 'alice@example.com',
    'info@example.com': 'alice@example.com',
  });
  assert.deepEqual(d.resolve('team@example.com'), { kind: 'local', mailboxes: ['alice@example.com', 'bob@example.com'], remote: ['ext@partner.net'] });
  assert.deepEqual(d.resolve('info@example.com'), { kind: 'local', mailboxes: ['alice@example.com'], remote: [] });
  assert.equal(d.ownsAddress('alice@example.com', 'sales@example.com'), true);
  assert.equal(d.ownsAddress('bob@example.com', 'sales@example.com'), false);
});

test('sub-addressing: user+tag and alias+tag resolve to the base; the delimiter is configurable', async (t) => {
  const { d } = await directory(t, { 'list@example.com': 'bob@example.com' });
  assert.deepEqual(d.resolve('alice+news@example.com'), { kind: 'local', mailboxes: ['alice@example.com'], remote: [] });
  assert.deepEqual(d.resolve('list+x@example.com'), { kind: 'local', mailboxes: ['bob@example.com'], remote: [] });
  assert.deepEqual(d.resolve('+x@example.com'), { kind: 'unknown' });
  assert.equal(d.ownsAddress('alice@example.com', 'alice+tag@example.com'), true);
  const other = await directory(t, {}, { subaddress_delimiter: '-' });
  assert.deepEqual(other.d.resolve('alice-news@example.com').kind, 'local');
  assert.deepEqual(other.d.resolve('alice+news@example.com').kind, 'unknown');
});

test('catch-all per domain: unknown names go to it, known ones do not; it grants no ownership', async (t) => {
  const { d } = await directory(t, { '@example.org': 'carol' });
  assert.deepEqual(d.resolve('whatever@example.org'), { kind: 'local', mailboxes: ['carol@example.org'], remote: [] });
  assert.deepEqual(d.resolve('whatever@example.com'), { kind: 'unknown' });
  assert.equal(d.ownsAddress('carol@example.org', 'whatever@example.org'), false);
});

test('postmaster always resolves (RFC 5321 §4.5.1): configured target, bare "postmaster", any case', async (t) => {
  const { d } = await directory(t, {}, { postmaster: 'bob@example.com' });
  for (const a of ['postmaster@example.com', 'PostMaster@example.org', 'postmaster', 'Postmaster']) {
    assert.deepEqual(d.resolve(a), { kind: 'local', mailboxes: ['bob@example.com'], remote: [] }, a);
  }
  const fallback = await directory(t, {});
  assert.equal(fallback.d.resolve('postmaster@example.com').kind, 'local', 'without config it falls back to a user');
});

test('loops and too-deep nesting are refused as kind loop; a self-reference keeps a copy', async (t) => {
  const { d } = await directory(t, {
    'a@example.com': 'b@example.com',
    'b@example.com': ['c@example.com'],
    'c@example.com': ['bob@example.com', 'a@example.com'],
    'alice@example.com': ['alice@example.com', 'bob@example.com'],
    '@example.org': 'nobody@example.org',
    'd1@example.com': 'd2@example.com',
    'd2@example.com': 'd3@example.com',
    'd3@example.com': 'd4@example.com',
    'd4@example.com': 'bob@example.com',
  }, { max_alias_depth: 3 });
  const loop = d.resolve('a@example.com');
  assert.equal(loop.kind, 'loop');
  assert.match(loop.kind === 'loop' ? loop.detail : '', /a@example\.com → b@example\.com → c@example\.com → a@example\.com/);
  assert.equal(d.resolve('x@example.org').kind, 'loop', 'a catch-all that points at an unknown name of its own domain');
  assert.equal(d.resolve('d1@example.com').kind, 'loop', 'four levels with max depth 3');
  assert.deepEqual(d.resolve('d2@example.com'), { kind: 'local', mailboxes: ['bob@example.com'], remote: [] });
  assert.deepEqual(d.resolve('alice@example.com'), { kind: 'local', mailboxes: ['alice@example.com', 'bob@example.com'], remote: [] });
});

test('the aliases file adds aliases; reload picks up changes, a broken file keeps the old table', async (t) => {
  const { d, dir } = await directory(t, {});
  assert.equal(d.resolve('help@example.com').kind, 'unknown');
  writeFileSync(path.join(dir, 'aliases.yaml'), 'help@example.com: [alice@example.com, bob@example.com]\n');
  assert.deepEqual(d.reload(), { ok: true });
  assert.deepEqual(d.resolve('help@example.com'), { kind: 'local', mailboxes: ['alice@example.com', 'bob@example.com'], remote: [] });
  writeFileSync(path.join(dir, 'aliases.yaml'), 'help@elsewhere.net: alice@example.com\n');
  const r = d.reload();
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.problems.join(), /not in local_domains/);
  assert.equal(d.resolve('help@example.com').kind, 'local', 'old snapshot kept');
});
