// The quarantine across a SIGKILL and with no instance running: a message answered 250 into quarantine is there
// after `spamgate serve` is killed right after the 250; `spamgate quarantine release --learn` with the instance
// stopped puts it into the spool (learning it as ham) and the next start delivers it to the upstream.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { runCli } from '../helpers/cli-process.ts';
import { freePort } from '../helpers/free-port.ts';
import { ServeProcess } from '../helpers/serve-process.ts';
import { startSink } from '../helpers/sink-server.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { DNS_CHECKS, msg, quarantineRules } from '../helpers/quarantine-rules.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/spamgate.mjs');

test('SIGKILL right after the 250 keeps the quarantined message; release with the instance stopped delivers it at the next start', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-qcrash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sink = await startSink();
  t.after(() => sink.close());
  const dataDir = path.join(dir, 'data');
  const smtpPort = await freePort();
  const httpPort = await freePort();
  const rulesDir = quarantineRules(t);
  const config = (bayes: boolean): string => `mode: front-of
local_domains: [relay.example]
data_dir: ${dataDir}
rules_dirs: [${SHIPPED_RULES_DIR}, ${rulesDir}]
delivery: { upstream: { host: 127.0.0.1, port: ${sink.port} } }
queue: { retry_initial: 200ms, retry_max: 400ms, scan_interval: 100ms }
smtp: { listen: { port: ${smtpPort} }, hostname: mx.test.example, trusted_networks: [] }
submission: { enabled: false }
http: { listen: { port: ${httpPort} } }
pop3: { enabled: false }
imap: { enabled: false }
checks: { disabled: [${DNS_CHECKS.join(', ')}] }
bayes: { enabled: ${bayes} }
dns: { servers: ["127.0.0.1:9"], timeout: 100ms, retries: 0 }
log_level: warn
`;
  const serveConfig = path.join(dir, 'serve.yaml');
  writeFileSync(serveConfig, config(false));
  const learnConfig = path.join(dir, 'learn.yaml');
  writeFileSync(learnConfig, config(true));
  const serve = new ServeProcess();
  t.after(() => serve.kill());
  await serve.start(process.execPath, [CLI, 'serve', '--config', serveConfig]);

  const r = await sendMessage(smtpPort, 'a@remote.example', ['user@relay.example'], msg('QUARANTINE-ME crash'));
  await serve.kill();
  assert.equal(r.data?.code, 250);
  const id = /queued as (\S+)/.exec(r.data?.text ?? '')?.[1] ?? '';
  assert.ok(existsSync(path.join(dataDir, 'quarantine', `${id}.msg`)), 'the acknowledged message outlives the SIGKILL');
  assert.equal(sink.messages.length, 0);
  const list = await runCli(['quarantine', 'list', '--config', serveConfig]);
  assert.match(list.stdout, new RegExp(`^${id}\\t`, 'm'));

  // stopped (the killed instance's lock is stale): released into the spool here, learned as ham
  const released = await runCli(['quarantine', 'release', id, '--learn', '--config', learnConfig]);
  assert.equal(released.code, 0, released.stderr);
  assert.match(released.stdout, new RegExp(`released ${id}: queued as \\S+ for user@relay\\.example \\(no running instance`));
  assert.match(released.stdout, /learned as ham: learned/);
  assert.ok(!existsSync(path.join(dataDir, 'quarantine', `${id}.msg`)));
  assert.equal(readdirSync(path.join(dataDir, 'spool', 'msg')).length, 1);

  await serve.start(process.execPath, [CLI, 'serve', '--config', serveConfig]);
  await sink.waitForMessages(1);
  const text = sink.messages[0]?.raw.toString('latin1') ?? '';
  assert.match(text, new RegExp(`^X-Spamgate-Released: .+; id=${id}\\r\\n`));
  assert.match(text, /^Subject: QUARANTINE-ME crash$/m);
});
