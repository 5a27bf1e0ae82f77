// The SRS secrets file (made once, 0600; a named file never made; postsrsd's one-a-line format) and the srs
// config section (defaults, whole days, the domain one of local_domains).
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import { loadSrsSecrets } from '../../../src/mailhost/srs-secret.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'spamgate-srs-secret-'));
  dirs.push(d);
  return d;
};

test('without srs.secret_file, srs.secret is made in the data dir (32 random bytes, 0600) and read as it is afterwards', () => {
  const dir = tmp();
  const first = loadSrsSecrets(dir, undefined);
  const file = path.join(dir, 'srs.secret');
  assert.equal(first.file, file);
  assert.equal(first.created, true);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(first.secrets.length, 1);
  assert.equal(Buffer.from(first.secrets[0] ?? '', 'base64').length, 32);
  assert.equal(readFileSync(file, 'utf8'), `${first.secrets[0]}\n`);
  assert.deepEqual(readdirSync(dir), ['srs.secret'], 'no temporary file left behind');
  const again = loadSrsSecrets(dir, undefined);
  assert.deepEqual({ ...again, created: false }, { ...first, created: false });
  assert.equal(again.created, false);
  assert.notEqual(loadSrsSecrets(tmp(), undefined).secrets[0], first.secrets[0], 'each site its own secret');
});

test('a named secrets file: one secret a line (first signs); missing, open to others or empty fails', () => {
  const dir = tmp();
  assert.throws(() => loadSrsSecrets(dir, 'postsrsd.secret'), /srs\.secret_file: .*postsrsd\.secret does not exist/);
  assert.equal(existsSync(path.join(dir, 'postsrsd.secret')), false, 'a named file is never made');
  writeFileSync(path.join(dir, 'postsrsd.secret'), 'the-new-secret-0123456789\r\n\nthe-old-secret-0123456789\nshort\n', { mode: 0o600 });
  const got = loadSrsSecrets(dir, 'postsrsd.secret');
  assert.deepEqual(got.secrets, ['the-new-secret-0123456789', 'the-old-secret-0123456789', 'short']);
  assert.equal(got.weak, 1);
  assert.equal(got.created, false);
  chmodSync(path.join(dir, 'postsrsd.secret'), 0o644);
  assert.throws(() => loadSrsSecrets(dir, 'postsrsd.secret'), /open to other users \(mode 0644\)/);
  writeFileSync(path.join(dir, 'empty.secret'), '\n \n', { mode: 0o600 });
  assert.throws(() => loadSrsSecrets(dir, 'empty.secret'), /holds no secret/);
});

test('config: srs defaults, max_age in whole days, srs.domain one of local_domains', () => {
  const { config } = loadConfig({ inline: { local_domains: ['example.org', 'example.net'] } });
  assert.deepEqual(config.srs, { enabled: true, max_age: 21 * 86_400_000, bounces_only: true });
  assert.equal(loadConfig({ inline: { local_domains: ['example.org', 'example.net'], srs: { domain: 'Example.NET' } } }).config.srs.domain, 'example.net');
  assert.throws(() => loadConfig({ inline: { local_domains: ['example.org'], srs: { domain: 'srs.example.org' } } }), /srs\.domain: srs\.example\.org is not in local_domains/);
  // Off, or in front-of mode (nothing is forwarded by spamgate itself), the domain is not checked.
  loadConfig({ inline: { local_domains: ['example.org'], srs: { enabled: false, domain: 'srs.example.org' } } });
  for (const max_age of ['12h', '0d', '1001d', '36h']) {
    assert.throws(() => loadConfig({ inline: { srs: { max_age } } }), /srs\.max_age: expected whole days from 1d to 1000d/, max_age);
  }
  assert.equal(loadConfig({ inline: { srs: { max_age: '7d' } } }).config.srs.max_age, 7 * 86_400_000);
  assert.throws(() => loadConfig({ inline: { srs: { secret: 'inline' } } }), /srs: Unrecognized key: "secret"/);
});

test('config: a named srs.secret_file is relative to the config file and checked with the other files (check-config)', () => {
  const dir = tmp();
  const file = path.join(dir, 'spamgate.yaml');
  writeFileSync(file, 'local_domains: [example.org]\nsrs:\n  secret_file: keys/postsrsd.secret\n');
  assert.throws(() => loadConfig({ file }), /spamgate\.yaml:3: srs\.secret_file: .*keys\/postsrsd\.secret does not exist/);
  mkdirSync(path.join(dir, 'keys'));
  writeFileSync(path.join(dir, 'keys', 'postsrsd.secret'), 'a-secret-of-some-length\n', { mode: 0o644 });
  assert.throws(() => loadConfig({ file }), /srs\.secret_file: .* is open to other users/);
  chmodSync(path.join(dir, 'keys', 'postsrsd.secret'), 0o600);
  assert.equal(loadConfig({ file }).config.srs.secret_file, path.join(dir, 'keys', 'postsrsd.secret'));
  // Not used with SRS off: not checked.
  writeFileSync(file, 'local_domains: [example.org]\nsrs:\n  enabled: false\n  secret_file: nowhere.secret\n');
  loadConfig({ file });
});
