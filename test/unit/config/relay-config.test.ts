// outbound.relay at load: ports by TLS mode, the password file checked like other secret files (named with
// its key), and settings refused that would send the password in clear or go silently unused.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import { configFileProblems } from '../../helpers/config-errors.ts';

function scratch(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-relay-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'relay.password'), 'secret\n', { mode: 0o600 });
  return dir;
}

const problems = configFileProblems;

test('outbound.relay: port 587 for starttls, 465 for implicit; tls_verify on; the password file resolved against the config', (t) => {
  const dir = scratch(t);
  const file = path.join(dir, 'spamgate.yaml');
  writeFileSync(file, 'outbound:\n  relay:\n    host: smtp.provider.example\n    auth: { username: me@example.org, password_file: relay.password }\n');
  const relay = loadConfig({ file }).config.outbound.relay;
  assert.equal(relay?.port, 587);
  assert.equal(relay?.tls, 'starttls');
  assert.equal(relay?.tls_verify, true);
  assert.equal(relay?.auth?.password_file, path.join(dir, 'relay.password'));
  writeFileSync(file, 'outbound:\n  relay: { host: smtp.provider.example, tls: implicit }\n');
  assert.equal(loadConfig({ file }).config.outbound.relay?.port, 465);
});

test('a password file open to other users is refused, naming the file and the key', (t) => {
  const dir = scratch(t);
  chmodSync(path.join(dir, 'relay.password'), 0o644);
  const found = problems(dir, 'outbound:\n  relay:\n    host: smtp.provider.example\n    auth:\n      username: me@example.org\n      password_file: relay.password\n');
  assert.equal(found.length, 1, found.join('\n'));
  assert.match(found[0] ?? '', /spamgate\.yaml:\d+: outbound\.relay\.auth\.password_file: .*relay\.password is open to other users \(mode 0644\)/);
  const missing = problems(dir, 'outbound:\n  relay: { host: smtp.provider.example, auth: { username: me, password_file: nowhere } }\n');
  assert.match(missing.join('\n'), /outbound\.relay\.auth\.password_file: .*nowhere does not exist/);
  writeFileSync(path.join(dir, 'empty.password'), '\n', { mode: 0o600 });
  assert.match(problems(dir, 'outbound:\n  relay: { host: smtp.provider.example, auth: { username: me, password_file: empty.password } }\n').join('\n'), /holds no password/);
});

test('auth with tls: none is refused unless the relay is on loopback (the password would go in clear)', (t) => {
  const dir = scratch(t);
  const clear = problems(dir, 'outbound:\n  relay:\n    host: smtp.provider.example\n    tls: none\n    auth: { username: me, password_file: relay.password }\n');
  assert.equal(clear.length, 1, clear.join('\n'));
  assert.match(clear[0] ?? '', /spamgate\.yaml:\d+: outbound\.relay\.auth: would send the password in clear to smtp\.provider\.example/);
  for (const host of ['127.0.0.1', '::1', 'localhost']) {
    assert.deepEqual(problems(dir, `outbound:\n  relay: { host: "${host}", port: 2526, tls: none, auth: { username: me, password_file: relay.password } }\n`), [], host);
  }
});

test('settings a relay leaves unused are refused: certificate keys without TLS, MX-only keys, a relay in front-of mode', (t) => {
  const dir = scratch(t);
  const noTls = problems(dir, 'outbound:\n  relay: { host: 127.0.0.1, tls: none, tls_verify: true, tls_server_name: relay.example }\n');
  assert.match(noTls.join('\n'), /outbound\.relay\.tls_verify: takes effect only with tls: starttls or implicit/);
  assert.match(noTls.join('\n'), /outbound\.relay\.tls_server_name: takes effect only with tls: starttls or implicit/);
  assert.match(problems(dir, 'outbound:\n  relay: { host: relay.example, tls_verify: false, tls_server_name: other.example }\n').join('\n'), /outbound\.relay\.tls_server_name: is used to verify the certificate, and tls_verify is false/);
  const mx = problems(dir, 'outbound:\n  port: 2525\n  tls_verify: true\n  mta_sts: { timeout: 10s }\n  relay: { host: relay.example }\n');
  assert.match(mx.join('\n'), /outbound\.port: applies to MX delivery only.*set outbound\.relay\.port/);
  assert.match(mx.join('\n'), /outbound\.tls_verify: applies to MX delivery only.*set outbound\.relay\.tls_verify/);
  assert.match(mx.join('\n'), /outbound\.mta_sts\.timeout: applies to MX delivery only/);
  const frontOf = problems(dir, 'mode: front-of\ndelivery: { upstream: { host: 127.0.0.1 } }\noutbound:\n  relay: { host: relay.example }\n');
  assert.match(frontOf.join('\n'), /outbound\.relay: front-of mode hands all mail to delivery\.upstream/);
});

test("the README's relay examples load (587 with STARTTLS, 465 with implicit TLS, a route on 25)", (t) => {
  const readme = readFileSync(path.resolve(import.meta.dirname, '../../../README.md'), 'utf8');
  const examples = [...readme.matchAll(/^```yaml\n(# spamgate\.yaml: [\s\S]*?)^```$/gm)].map((m) => m[1] ?? '').filter((e) => e.includes('relay:') || e.includes('routes:'));
  assert.equal(examples.length, 3);
  const dir = scratch(t);
  const file = path.join(dir, 'spamgate.yaml');
  const loaded = examples.map((text) => {
    writeFileSync(file, text);
    const { relay, routes } = loadConfig({ file }).config.outbound;
    return relay ?? routes?.['partner.example'];
  });
  assert.deepEqual(loaded.map((r) => [r?.port, r?.tls, r?.tls_verify, r?.auth?.username]), [
    [587, 'starttls', true, 'mail@example.org'],
    [465, 'implicit', true, 'mail@example.org'],
    [25, 'starttls', true, undefined],
  ]);
});

test('outbound.routes: domains lower-cased, each checked as a relay; a local domain or front-of mode is refused', (t) => {
  const dir = scratch(t);
  const file = path.join(dir, 'spamgate.yaml');
  writeFileSync(file, 'outbound:\n  routes:\n    Partner.Example:\n      host: mx.partner.example\n      port: 25\n      auth: { username: me, password_file: relay.password }\n');
  const route = loadConfig({ file }).config.outbound.routes?.['partner.example'];
  assert.equal(route?.port, 25);
  assert.equal(route?.tls, 'starttls');
  assert.equal(route?.auth?.password_file, path.join(dir, 'relay.password'));
  chmodSync(path.join(dir, 'relay.password'), 0o604);
  assert.match(problems(dir, 'outbound:\n  routes:\n    partner.example: { host: mx.partner.example, auth: { username: me, password_file: relay.password } }\n').join('\n'), /outbound\.routes\.partner\.example\.auth\.password_file: .*is open to other users \(mode 0604\)/);
  assert.match(problems(dir, 'outbound:\n  routes:\n    partner.example: { host: mx.partner.example, tls: none, auth: { username: me, password_file: relay.password } }\n').join('\n'), /outbound\.routes\.partner\.example\.auth: would send the password in clear/);
  writeFileSync(file, 'outbound:\n  routes:\n    .EU.Partner.Example: { host: mx.partner.example }\n');
  assert.deepEqual(Object.keys(loadConfig({ file }).config.outbound.routes ?? {}), ['.eu.partner.example'], 'a .domain entry for subdomains');
  assert.match(problems(dir, 'outbound:\n  routes:\n    ..partner.example: { host: mx.partner.example }\n').join('\n'), /outbound\.routes\.\.\.partner\.example: expected a domain name, or \.domain for its subdomains/);
  assert.match(problems(dir, 'local_domains: [example.org]\noutbound:\n  routes:\n    example.org: { host: mx.partner.example }\n').join('\n'), /outbound\.routes\.example\.org: example\.org is in local_domains/);
  assert.match(problems(dir, 'mode: front-of\ndelivery: { upstream: { host: 127.0.0.1 } }\noutbound:\n  routes:\n    partner.example: { host: mx.partner.example }\n').join('\n'), /outbound\.routes: front-of mode hands all mail to delivery\.upstream/);
});

test('outbound.tls_reports.enabled in front-of mode is refused, naming the key; in full-stack mode it loads', (t) => {
  const dir = scratch(t);
  const frontOf = problems(dir, 'mode: front-of\ndelivery: { upstream: { host: 127.0.0.1 } }\noutbound:\n  tls_reports: { enabled: true }\n');
  assert.match(frontOf.join('\n'), /outbound\.tls_reports\.enabled: front-of mode .*is for full-stack mode/);
  assert.deepEqual(problems(dir, 'mode: front-of\ndelivery: { upstream: { host: 127.0.0.1 } }\noutbound:\n  tls_reports: { enabled: false }\n'), []);
  assert.deepEqual(problems(dir, 'mode: full-stack\nlocal_domains: [a.example]\noutbound:\n  tls_reports: { enabled: true }\n'), []);
});
