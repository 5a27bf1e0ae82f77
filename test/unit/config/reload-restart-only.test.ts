// A reload that changes what is read once at start (data_dir, mode, queue.workers, …) warns naming
// the keys, and the running instance keeps its data directory.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { App } from '../../../src/app.ts';
import { loadConfig, SHIPPED_RULES_DIR } from '../../../src/config/load.ts';
import { createLogger } from '../../../src/util/logger.ts';
import { readReloadStatus } from '../../../src/reload-status.ts';

/** JSON log lines written to `sink`, parsed into `logs`. */
function logCollector(): { logs: Array<Record<string, unknown>>; sink: Writable } {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logs, sink };
}

test('data_dir, mode, queue.workers and log_level changed on reload: one warning naming them; the data directory stays', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'spamgate.yaml');
  // no listener is started and no name is looked up: dns points at a closed port on loopback
  const base = 'dns: { servers: ["127.0.0.1:9"] }\nbayes: { enabled: false }\nqueue: { fsync: false }\n';
  writeFileSync(file, `${base}data_dir: one\n`);
  const { logs, sink } = logCollector();
  const app = await App.create({ loaded: loadConfig({ file }), log: createLogger('info', sink) });
  t.after(() => app.stop(1000));
  assert.equal(app.dataDir, path.join(dir, 'one'));

  writeFileSync(file, `${base.replace('fsync: false', 'fsync: false, workers: 3')}data_dir: two\nmode: front-of\ndelivery: { upstream: { host: 127.0.0.1, port: 9 } }\nlog_level: debug\n`);
  assert.deepEqual(app.reload(), { ok: true });
  const warning = logs.find((l) => l.msg === 'settings changed that apply after a restart; the running instance keeps the old ones');
  assert.ok(warning, JSON.stringify(logs));
  assert.deepEqual(warning.keys, ['data_dir', 'mode', 'log_level', 'delivery', 'queue']);
  assert.equal(warning.data_dir, path.join(dir, 'one'));
  assert.equal(app.dataDir, path.join(dir, 'one'), 'the running data directory is kept');
  // the outcome is recorded in the running data directory for `spamgate reload`, the keys named there too
  const first = readReloadStatus(app.dataDir);
  assert.deepEqual(first && { ok: first.ok, seq: first.seq, pid: first.pid, trigger: first.trigger, restart: first.restart }, { ok: true, seq: 1, pid: process.pid, trigger: 'signal', restart: ['data_dir', 'mode', 'log_level', 'delivery', 'queue'] });

  // a reload without changes says nothing more
  logs.length = 0;
  assert.deepEqual(app.reload(), { ok: true });
  assert.equal(logs.filter((l) => l.level === 'warn').length, 0, JSON.stringify(logs));
  const second = readReloadStatus(app.dataDir);
  // ... but `spamgate reload` is still told what waits for the restart (changed by the earlier reload)
  assert.deepEqual(second && { ok: second.ok, seq: second.seq, instance: second.instance, restart: second.restart }, { ok: true, seq: 2, instance: first?.instance, restart: ['data_dir', 'mode', 'log_level', 'delivery', 'queue'] });
  // a refused one: its error, no keys; redis and dns changes are named as needing a restart
  writeFileSync(file, `${base}data_dir: two\nmode: nonsense\n`);
  const refused = app.reload();
  assert.equal(refused.ok, false);
  const third = readReloadStatus(app.dataDir);
  assert.deepEqual(third && { ok: third.ok, seq: third.seq, error: third.error, restart: third.restart }, { ok: false, seq: 3, error: refused.ok ? '' : refused.error, restart: [] });
  assert.match(third?.error ?? '', /mode/);
  writeFileSync(file, `${base.replace('127.0.0.1:9', '127.0.0.1:10')}data_dir: two\nmode: front-of\ndelivery: { upstream: { host: 127.0.0.1, port: 9 } }\nlog_level: debug\nredis: { key_prefix: "x:" }\nqueue: { fsync: false, workers: 3 }\n`.replace('queue: { fsync: false }\n', ''));
  logs.length = 0;
  assert.deepEqual(app.reload(), { ok: true });
  const logged = logs.filter((l) => l.level === 'warn').map((l) => String(l.msg));
  assert.deepEqual(logged, ['redis settings changed: they apply after a restart; the running connection keeps the old ones', 'dns settings changed: they apply after a restart; the running resolver keeps the old ones'], 'logged: what this reload changed');
  assert.deepEqual(readReloadStatus(app.dataDir)?.restart, ['data_dir', 'mode', 'log_level', 'delivery', 'queue', 'redis', 'dns'], 'recorded: everything changed since the start');
  // the file put back as at start: nothing waits for a restart any more
  writeFileSync(file, `${base}data_dir: one\n`);
  assert.deepEqual(app.reload(), { ok: true });
  assert.deepEqual(readReloadStatus(app.dataDir)?.restart, []);
});

test('a reload that turns SMTP TLS on warns (STARTTLS is offered as at start); trusted_networks reach the pre-greet test at once', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const file = path.join(dir, 'spamgate.yaml');
  const base = [
    'dns: { servers: ["127.0.0.1:9"] }',
    'bayes: { enabled: false }',
    'queue: { fsync: false }',
    'submission: { enabled: false }',
    'pop3: { enabled: false }',
    'imap: { enabled: false }',
    'http: { enabled: false }',
  ].join('\n');
  writeFileSync(file, `${base}\nsmtp: { listen: { host: 127.0.0.1, port: 0 }, greet_delay: 30s, trusted_networks: [] }\n`);
  const { logs, sink } = logCollector();
  const app = await App.create({ loaded: loadConfig({ file }), log: createLogger('info', sink) });
  t.after(() => app.stop(1000));
  const port = (await app.start()).smtp.port;
  writeFileSync(file, `${base}\nsmtp: { listen: { host: 127.0.0.1, port: 0 }, greet_delay: 30s, trusted_networks: [127.0.0.0/8], tls: { cert: cert.pem, key: key.pem } }\n`);
  assert.deepEqual(app.reload(), { ok: true });
  const warning = logs.find((l) => l.msg === 'settings changed that apply after a restart; the running instance keeps the old ones');
  assert.deepEqual(warning?.keys, ['smtp.tls'], JSON.stringify(logs));
  // A client that talks at once: with the delay it would get 554 (pre-greet); trusted now, it is greeted at once.
  const sock = connect(port, '127.0.0.1');
  t.after(() => sock.destroy());
  sock.write('EHLO early.example\r\n');
  let text = '';
  sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
  for (let i = 0; i < 200 && !/^250 /m.test(text) && !/^554 /m.test(text); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(text, /^220 /);
  assert.match(text, /^250 /m);
});

test('a reload set off by an edited rules file is recorded too, as trigger rules, with the next sequence number', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-reload-rules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rules = path.join(dir, 'rules');
  mkdirSync(rules);
  const rule = (re: string): string => `content_rules:\n  - { symbol: CT_LOCAL_TEST, description: a local test rule, weight: 1, type: body, regex: '${re}' }\n`;
  writeFileSync(path.join(rules, 'local.yaml'), rule('first'));
  const file = path.join(dir, 'spamgate.yaml');
  writeFileSync(
    file,
    ['dns: { servers: ["127.0.0.1:9"] }', 'bayes: { enabled: false }', 'queue: { fsync: false }', 'submission: { enabled: false }', 'pop3: { enabled: false }', 'imap: { enabled: false }', 'http: { enabled: false }', 'smtp: { listen: { host: 127.0.0.1, port: 0 } }', `rules_dirs: [${SHIPPED_RULES_DIR}, rules]`, ''].join('\n'),
  );
  const { sink } = logCollector();
  const app = await App.create({ loaded: loadConfig({ file }), log: createLogger('info', sink) });
  t.after(() => app.stop(1000));
  await app.start();
  assert.deepEqual(app.reload(), { ok: true });
  const bySignal = readReloadStatus(app.dataDir);
  assert.equal(bySignal?.trigger, 'signal');
  writeFileSync(path.join(rules, 'local.yaml'), rule('second'));
  // the watcher reloads by itself (debounced): bounded wait for its record
  for (let i = 0; i < 400 && (readReloadStatus(app.dataDir)?.seq ?? 0) < 2; i++) await new Promise((r) => setTimeout(r, 50));
  const byRules = readReloadStatus(app.dataDir);
  assert.deepEqual(byRules && { seq: byRules.seq, trigger: byRules.trigger, ok: byRules.ok, instance: byRules.instance }, { seq: 2, trigger: 'rules', ok: true, instance: bySignal?.instance });
});
