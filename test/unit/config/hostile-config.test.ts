// Broken and hostile config files: each is refused with the file, the line where there is one, the key
// path and the problem; nothing throws anything but a ConfigError.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/config/load.ts';
import { tempDir as makeTempDir } from '../../helpers/temp-dir.ts';

const tempDir = (t: TestContext): string => makeTempDir(t, 'spamgate-hostile-cfg-');

/** Writes `text` as dir/name and returns the problems loading it reports (fails if it loads). */
function problemsOf(dir: string, text: string | Buffer, name = 'spamgate.yaml'): string[] {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  try {
    loadConfig({ file });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    for (const p of err.problems) assert.ok(p.startsWith(file), `names the file: ${p}`);
    return err.problems;
  }
  assert.fail(`${JSON.stringify(text.toString().slice(0, 60))} was accepted`);
}

function selfSignedPair(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  return { cert, key };
}

test('not a config file: missing, a directory, empty, comments only, binary, too large', (t) => {
  const dir = tempDir(t);
  assert.throws(() => loadConfig({ file: path.join(dir, 'nope.yaml') }), (e: unknown) => e instanceof ConfigError && /nope\.yaml: cannot read config file: no such file/.test(e.message));
  mkdirSync(path.join(dir, 'conf.d'));
  assert.throws(() => loadConfig({ file: path.join(dir, 'conf.d') }), (e: unknown) => e instanceof ConfigError && /conf\.d: is a directory/.test(e.message));
  assert.match(problemsOf(dir, '').join('\n'), /the file is empty .*write \{\}/);
  assert.match(problemsOf(dir, '# only a comment\n\n   \n').join('\n'), /the file is empty/);
  assert.match(problemsOf(dir, Buffer.from([0x6d, 0x6f, 0x64, 0x65, 0x3a, 0x00, 0xff, 0xfe])).join('\n'), /not UTF-8 text/);
  assert.match(problemsOf(dir, `# ${'x'.repeat(5 * 1024 * 1024)}\n`).join('\n'), /a config file is at most/);
  // a device that never ends is read only as far as the limit
  assert.throws(() => loadConfig({ file: '/dev/zero' }), (e: unknown) => e instanceof ConfigError && /\/dev\/zero: larger than \d+ bytes/.test(e.message));
  // `{}` on purpose is all defaults.
  writeFileSync(path.join(dir, 'defaults.yaml'), '{}\n');
  assert.equal(loadConfig({ file: path.join(dir, 'defaults.yaml') }).config.mode, 'full-stack');
});

test('YAML trouble: syntax with its line, several documents, alias bomb, non-scalar key, wrong root', (t) => {
  const dir = tempDir(t);
  assert.match(problemsOf(dir, 'smtp:\n  banner: ok\n  listen: [\n').join('\n'), /spamgate\.yaml:\d+: /);
  assert.match(problemsOf(dir, 'mode: full-stack\n---\nmode: front-of\n').join('\n'), /:2: more than one YAML document/);
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++) bomb.push(`${'abcdefghi'[i]}: &${'abcdefghi'[i]} [${Array(9).fill(`*${'abcdefghi'[i - 1]}`).join(', ')}]`);
  assert.match(problemsOf(dir, bomb.join('\n') + '\n').join('\n'), /spamgate\.yaml: .*alias/i);
  assert.match(problemsOf(dir, '? [a, b]\n: 1\n').join('\n'), /:1: a key must be a plain name/);
  assert.match(problemsOf(dir, '- a\n- b\n').join('\n'), /\(top level\): expected a mapping of keys, found a list/);
  assert.match(problemsOf(dir, 'just words\n').join('\n'), /found the text "just words"/);
});

test('values: range with what was found, Infinity, enums, hosts, name servers, Redis URL, addresses', (t) => {
  const dir = tempDir(t);
  const problems = problemsOf(
    dir,
    [
      'log_level: loud', // 1
      'http:',
      '  listen: { host: "not a host", port: 70000 }', // 3
      'smtp:',
      '  max_recipients: .inf', // 5
      '  max_connections: 0', // 6
      'dns:',
      '  servers: [bogus, "1.2.3.4:99999", "[::1]:5353"]', // 8
      'redis:',
      '  url: "::::"', // 10
      'mailhost:',
      '  postmaster: "not an address"', // 12
      'delivery:',
      '  upstream: { host: "" }', // 14
    ].join('\n') + '\n',
  );
  const all = problems.join('\n');
  assert.match(all, /:1: log_level: expected one of "debug", .*found "loud"/);
  assert.match(all, /:3: http\.listen\.host: expected an IP address or a host name, found "not a host"/);
  assert.match(all, /:3: http\.listen\.port: expected a number at most 65535, found 70000/);
  assert.match(all, /:5: smtp\.max_recipients: expected number, found Infinity/);
  assert.match(all, /:6: smtp\.max_connections: expected a number above 0, found 0/);
  assert.match(all, /:8: dns\.servers\[0\]: expected a name server/);
  assert.match(all, /:8: dns\.servers\[1\]: expected a name server/);
  assert.doesNotMatch(all, /dns\.servers\[2\]/, '[ipv6]:port is fine');
  assert.match(all, /:10: redis\.url: expected redis:\/\//);
  assert.match(all, /:12: mailhost\.postmaster: expected a full address/);
  assert.match(all, /:14: delivery\.upstream\.host: expected an IP address or a host name, found ""/);
  const lines = problems.map((p) => Number(/spamgate\.yaml:(\d+):/.exec(p)?.[1]));
  assert.deepEqual(lines, [...lines].sort((a, b) => a - b), 'problems in file order');
  // an empty list is an error, not a silent fall-back to /etc/resolv.conf; cache_size is capped
  const dns = problemsOf(dir, 'dns:\n  servers: []\n  cache_size: 1000000000000\n').join('\n');
  assert.match(dns, /:2: dns\.servers: expected at least 1 entries, found 0/);
  assert.match(dns, /:3: dns\.cache_size: expected a number at most 1000000/);
});

test('sizes and counts: a message size of 0 or a terabyte, absurd IMAP literals and queue workers', (t) => {
  const dir = tempDir(t);
  const all = problemsOf(dir, 'smtp:\n  max_message_size: 0\nimap:\n  max_literal: 2t\nqueue:\n  workers: 1000000\n').join('\n');
  assert.match(all, /:2: smtp\.max_message_size: expected a size from 512 bytes to 1g, found 0/);
  assert.match(all, /:4: imap\.max_literal: expected a size/);
  assert.match(all, /:6: queue\.workers: expected a number at most 1000, found 1000000/);
  assert.match(problemsOf(dir, 'smtp:\n  max_message_size: 2g\nimap:\n  max_literal: 10\n').join('\n'), /max_message_size: expected a size from 512 bytes to 1g, found "2g"[\s\S]*max_literal: expected a size from 1k to 1g, found 10/);
});

test('timers: longer than Node can arm, or zero where zero means never or at once', (t) => {
  const dir = tempDir(t);
  const all = problemsOf(dir, 'smtp:\n  idle_timeout: 30d\n  session_timeout: 0\n  greet_delay: 1e30\nqueue:\n  scan_interval: 0s\n').join('\n');
  assert.match(all, /:2: smtp\.idle_timeout: expected a duration of at most 24d/);
  assert.match(all, /:3: smtp\.session_timeout: expected a duration above zero/);
  assert.match(all, /:4: smtp\.greet_delay: expected a duration of at most 24d/);
  assert.match(all, /:6: queue\.scan_interval: expected a duration above zero/);
  // greet_delay may be zero (off); ages such as queue.max_age are not timers.
  assert.equal(loadConfig({ inline: { smtp: { greet_delay: 0 }, queue: { max_age: '60d' } } }).config.queue.max_age, 60 * 86_400_000);
});

test('across sections: front-of needs an upstream, full-stack a domain, TLS listeners a certificate, ports differ', (t) => {
  const dir = tempDir(t);
  assert.match(problemsOf(dir, 'mode: front-of\n').join('\n'), /:1: delivery\.upstream: front-of mode needs delivery\.upstream/);
  assert.match(problemsOf(dir, 'local_domains: []\n').join('\n'), /:1: local_domains: full-stack mode needs at least one local domain/);
  assert.match(problemsOf(dir, 'imap:\n  tls_listen: { port: 1993 }\n').join('\n'), /:2: imap\.tls_listen: an implicit-TLS listener needs imap\.tls\.cert/);
  assert.match(problemsOf(dir, 'pop3:\n  tls_listen: { port: 1995 }\n').join('\n'), /:2: pop3\.tls_listen: an implicit-TLS listener needs pop3\.tls\.cert/);
  assert.match(problemsOf(dir, 'smtp:\n  listen: { port: 2600 }\nhttp:\n  listen: { host: 0.0.0.0, port: 2600 }\n').join('\n'), /:4: http\.listen\.port: port 2600 is already used by smtp\.listen/);
  // A clash with a listener left at its default is reported at the key the file wrote, not at line 1.
  assert.deepEqual(
    problemsOf(dir, 'mode: full-stack\nsmtp:\n  listen: { port: 9465 }\n').map((p) => p.slice(dir.length + 1)),
    ['spamgate.yaml:3: smtp.listen.port: port 9465 is already used by http.listen'],
  );
  assert.match(problemsOf(dir, 'pop3:\n  enabled: true\n  listen: { port: 2525 }\n').join('\n'), /:3: pop3\.listen\.port: port 2525 is already used by smtp\.listen/);
  // A rules directory that is missing or a file is reported at its rules_dirs entry in the config.
  writeFileSync(path.join(dir, 'local.yaml'), 'actions: {}\n');
  assert.deepEqual(
    problemsOf(dir, 'rules_dirs:\n  - gone\n  - local.yaml\n').map((p) => p.slice(dir.length + 1)),
    [`spamgate.yaml:2: rules_dirs[0]: rules directory ${path.join(dir, 'gone')} does not exist`, `spamgate.yaml:3: rules_dirs[1]: rules directory ${path.join(dir, 'local.yaml')} is not a directory`],
  );
  // A disabled listener or a port 0 clashes with nothing.
  assert.equal(loadConfig({ inline: { submission: { enabled: false, listen: { port: 2525 } }, http: { listen: { port: 0 } }, pop3: { listen: { port: 0 } } } }).config.submission.enabled, false);
});

test('TLS files: a certificate with a key of another type (EC certificate, RSA key) is refused, not loaded into a context that fails every handshake', (t) => {
  const dir = tempDir(t);
  const run = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'rsa.key'), '-out', path.join(dir, 'rsa.pem'), '-days', '2', '-subj', '/CN=localhost']);
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, 'ec.key'), '-out', path.join(dir, 'ec.pem'), '-days', '2', '-subj', '/CN=localhost']);
  assert.match(problemsOf(dir, 'smtp:\n  tls: { cert: ec.pem, key: rsa.key }\n').join('\n'), /:2: smtp\.tls: the key does not belong to the certificate/);
  assert.match(problemsOf(dir, 'pop3:\n  tls: { cert: rsa.pem, key: ec.key }\n').join('\n'), /:2: pop3\.tls: the key does not belong to the certificate/);
  assert.equal(loadConfig({ inline: { smtp: { tls: { cert: path.join(dir, 'ec.pem'), key: path.join(dir, 'ec.key') } } } }).config.smtp.tls.key, path.join(dir, 'ec.key'), 'a matching pair loads');
});

test('across sections: redis.timeout must be below the budget of each check that waits on Redis', (t) => {
  const dir = tempDir(t);
  const greylist = problemsOf(dir, 'redis:\n  use_for: [greylist]\n  timeout: 2s\ngreylist:\n  enabled: true\n').join('\n');
  assert.match(greylist, /:3: redis\.timeout: must be below greylist\.timeout \(1000 ms\), or a slow Redis makes the check time out.*found "2s"/);
  const rate = problemsOf(dir, 'redis:\n  use_for: [rate]\n  timeout: 5s\n').join('\n');
  assert.match(rate, /:3: redis\.timeout: must be below checks\.timeout \(5000 ms\)/);
  assert.match(problemsOf(dir, 'redis:\n  use_for: [bayes]\n  timeout: 1s\nchecks:\n  timeout: 800ms\n').join('\n'), /below checks\.timeout \(800 ms\)/);
  // Below every budget, or the store not in Redis (or greylisting off): accepted.
  assert.equal(loadConfig({ inline: { redis: { use_for: ['greylist', 'rate', 'bayes'], timeout: '900ms' }, greylist: { enabled: true } } }).config.redis.timeout, 900);
  assert.equal(loadConfig({ inline: { redis: { use_for: ['greylist'], timeout: '2s' }, greylist: { enabled: false } } }).config.redis.timeout, 2000);
  assert.equal(loadConfig({ inline: { redis: { timeout: '10s' } } }).config.redis.timeout, 10_000);
});

test('TLS files: missing, a directory, not PEM; relative to the config file; smtp.tls serves POP3 implicit TLS', (t) => {
  const dir = tempDir(t);
  const all = problemsOf(dir, 'smtp:\n  tls:\n    cert: missing.pem\n    key: /\n').join('\n');
  assert.match(all, new RegExp(`:3: smtp\\.tls\\.cert: ${path.join(dir, 'missing.pem').replace(/[.]/g, '\\.')} does not exist`));
  assert.match(all, /:4: smtp\.tls\.key: \/ is a directory, not a file/);
  writeFileSync(path.join(dir, 'junk.pem'), 'not a certificate\n');
  assert.match(problemsOf(dir, 'imap:\n  tls: { cert: junk.pem, key: junk.pem }\n').join('\n'), /:2: imap\.tls: certificate and key do not load together/);
  assert.match(problemsOf(dir, 'pop3:\n  tls: { cert: junk.pem }\n').join('\n'), /pop3\.tls\.cert and pop3\.tls\.key must be given together/);

  const certDir = path.join(dir, 'certs');
  mkdirSync(certDir);
  selfSignedPair(certDir);
  const file = path.join(dir, 'spamgate.yaml');
  writeFileSync(file, 'smtp:\n  tls: { cert: certs/cert.pem, key: certs/key.pem }\npop3:\n  tls_listen: { port: 0 }\n');
  const { config } = loadConfig({ file });
  assert.equal(config.smtp.tls.cert, path.join(certDir, 'cert.pem'), 'resolved against the config file, not the working directory');
  assert.deepEqual(config.pop3.tls_listen, { host: '127.0.0.1', port: 0 });

  // Commands that never open TLS files can still read a config whose certificate went missing.
  rmSync(certDir, { recursive: true });
  assert.throws(() => loadConfig({ file }), /smtp\.tls\.cert: .* does not exist/);
  assert.equal(loadConfig({ file, checkFiles: false }).config.smtp.tls.key, path.join(certDir, 'key.pem'));
});
