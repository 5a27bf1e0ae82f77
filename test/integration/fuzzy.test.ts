// The fuzzy store end to end: spam reported with `spamgate fuzzy add` (a real process) makes a near-copy
// sent over SMTP hit FUZZY_SPAM in X-Spamgate-Result while an unrelated message does not, and `fuzzy del`
// takes it back; a Junk-folder move over IMAP (python3 imaplib) reports the next near-copy, a move out
// of Junk takes it back; with redis.use_for: [fuzzy] two gateways share what the CLI reported; a front-of
// `spamgate serve` passes the verdict to its upstream and refuses an in-process CLI writer while it runs.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { takeLearnLock } from '../../src/bayes/learn-lock.ts';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { runCli } from '../helpers/cli-process.ts';
import { freePort } from '../helpers/free-port.ts';
import { ServeProcess } from '../helpers/serve-process.ts';
import { startSink } from '../helpers/sink-server.ts';
import { startGateway, TEST_PASSWORD, type RunningGateway } from '../helpers/gateway.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { imapMoveFirst } from '../helpers/python.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { startRedis } from '../unit/redis/redis-server.ts';
import { CAMPAIGN, HALF_COPY, nearCopy, payload, UNRELATED, withAttachment } from '../unit/fuzzy/fixtures.ts';

/** Only the fuzzy check scores: no DNS checks (test domains do not resolve), no Bayes; 127.0.0.1 not trusted. */
const CONFIG = {
  bayes: { enabled: false },
  smtp: { trusted_networks: [] },
  checks: { disabled: ['fcrdns', 'helo', 'spf', 'spf_helo', 'sender_domain', 'dnsbl', 'rhsbl_helo', 'rhsbl_from', 'dkim_dmarc'] },
};

let counter = 0;
function mail(body: string, subject: string): string {
  const wrapped = body.replace(/(.{1,70})(\s|$)/g, '$1\r\n');
  return `From: sender@remote.example\r\nTo: postmaster@localhost\r\nSubject: ${subject}\r\nDate: Sun, 22 Nov 2026 00:00:00 +0000\r\nMessage-ID: <fz${++counter}@remote.example>\r\n\r\n${wrapped}`;
}

function writeMessage(t: TestContext, body: string, subject: string): string {
  const file = path.join(tempDir(t), 'msg.eml');
  writeFileSync(file, mail(body, subject));
  return file;
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sends one message (a body, or a whole raw message) and returns its X-Spamgate-Result as delivered (INBOX or Junk). */
async function resultOf(gw: RunningGateway, body: string | Buffer, subject: string): Promise<string> {
  const r = await sendMessage(gw.smtpPort, 'sender@remote.example', ['postmaster@localhost'], typeof body === 'string' ? mail(body, subject) : body);
  assert.equal(r.data?.code, 250, r.data?.text);
  let found: string | undefined;
  await waitFor(() => {
    found = [...maildirMessages(gw.dataDir, ''), ...maildirMessages(gw.dataDir, '.Junk')].find((m) => new RegExp(`^Subject: (?:\\S+ )?${subject}\r?$`, 'm').test(m));
    return found !== undefined;
  }, `delivery of ${subject} (${gw.transactions().map((l) => JSON.stringify(l)).join('; ')})`);
  const header = /X-Spamgate-Result: ([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)/.exec(found ?? '');
  assert.ok(header, 'X-Spamgate-Result');
  return header[1] ?? '';
}

const metrics = async (gw: RunningGateway): Promise<string> => (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();

test('spamgate fuzzy add: a near-copy over SMTP hits FUZZY_SPAM, an unrelated message does not; fuzzy del takes it back', async (t) => {
  const dataDir = tempDir(t);
  const add = await runCli(['fuzzy', 'add', writeMessage(t, CAMPAIGN, 'reported'), '--data-dir', dataDir]);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /\tadded 1\n/);
  assert.match(add.stdout, /store now 1 digests/);
  const short = await runCli(['fuzzy', 'add', writeMessage(t, 'Lunch at noon tomorrow?', 'short'), '--data-dir', dataDir]);
  assert.match(short.stdout, /\tno-digest\n/);

  // explain looks the store up as the gateway would
  const explained = await runCli(['explain', writeMessage(t, nearCopy(7), 'explained'), '--data-dir', dataDir]);
  assert.match(explained.stdout, /FUZZY_SPAM \(weight 8\) \[0\.\d\d, [0-9a-f]{16}\]/);

  const gw = await startGateway(t, CONFIG, { dataDir });
  const hit = await resultOf(gw, nearCopy(7), 'near copy');
  assert.match(hit, /FUZZY_SPAM\(\d+(\.\d+)?\)\[(0\.\d\d|1\.00),[0-9a-f]{16}\]/);
  assert.doesNotMatch(await resultOf(gw, UNRELATED, 'unrelated'), /FUZZY/);
  // half of it (about 0.4 of the slots): under fuzzy.threshold, no hit
  assert.doesNotMatch(await resultOf(gw, HALF_COPY, 'half copy'), /FUZZY/);
  assert.doesNotMatch(await resultOf(gw, 'Lunch at noon tomorrow?', 'short one'), /FUZZY/);
  const m = await metrics(gw);
  assert.match(m, /spamgate_fuzzy_lookups_total\{result="hit"\} 1\b/);
  assert.match(m, /spamgate_fuzzy_lookups_total\{result="miss"\} 2\b/);
  assert.match(m, /spamgate_fuzzy_entries 1\b/);
  await gw.app.stop(500);

  // the in-process store is the gateway's: taken back while it is stopped
  const del = await runCli(['fuzzy', 'del', writeMessage(t, nearCopy(8), 'taken back'), '--data-dir', dataDir]);
  assert.equal(del.code, 0, del.stderr);
  assert.match(del.stdout, /\tremoved 1\n/);
  assert.match((await runCli(['fuzzy', 'stats', '--data-dir', dataDir])).stdout, /^store now 0 digests\n$/);
  const again = await startGateway(t, CONFIG, { dataDir });
  assert.doesNotMatch(await resultOf(again, nearCopy(9), 'after del'), /FUZZY/);
});

test('a message moved into Junk over IMAP is reported: the next near-copy hits; moved out, it no longer does', async (t) => {
  const gw = await startGateway(t, CONFIG);
  assert.doesNotMatch(await resultOf(gw, CAMPAIGN, 'first copy'), /FUZZY/);
  const move = async (from: string, to: string) => ({ moved: await imapMoveFirst(gw.imapPort ?? 0, 'postmaster@localhost', TEST_PASSWORD, from, to) });
  assert.equal((await move('INBOX', 'Junk')).moved, 'OK');
  await waitFor(async () => /spamgate_fuzzy_learned_total\{op="added"\} 1\b/.test(await metrics(gw)), 'the Junk move learned');
  assert.match(await resultOf(gw, nearCopy(3), 'second copy'), /FUZZY_SPAM\(/);
  // the second copy was delivered into Junk (FUZZY_SPAM weighs 8); the lowest UID there is the reported first copy
  assert.equal((await move('Junk', 'INBOX')).moved, 'OK');
  await waitFor(async () => /spamgate_fuzzy_learned_total\{op="removed"\} 1\b/.test(await metrics(gw)), 'the move out of Junk learned');
  assert.doesNotMatch(await resultOf(gw, nearCopy(4), 'third copy'), /FUZZY/);
});

test('redis.use_for: [fuzzy]: two gateways share what spamgate fuzzy add reported, and fuzzy del takes it back from both', async (t) => {
  const redis = await startRedis(t);
  const shared = { redis: { port: redis.port, timeout: '500ms', connect_timeout: '2s', use_for: ['fuzzy'] } };
  const configFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'spamgate-fz-')), 'spamgate.yaml');
  writeFileSync(configFile, stringifyYaml(shared));
  const a = await startGateway(t, { ...CONFIG, ...shared });
  const b = await startGateway(t, { ...CONFIG, ...shared });
  // the CLI learns into Redis while both gateways run (nothing in memory to overwrite)
  const add = await runCli(['fuzzy', 'add', writeMessage(t, CAMPAIGN, 'reported'), '--config', configFile, '--data-dir', tempDir(t)]);
  assert.equal(add.code, 0, add.stderr);
  assert.match(await resultOf(a, nearCopy(1), 'copy to a'), /FUZZY_SPAM\(/);
  assert.match(await resultOf(b, nearCopy(2), 'copy to b'), /FUZZY_SPAM\(/);
  const del = await runCli(['fuzzy', 'del', writeMessage(t, CAMPAIGN, 'taken back'), '--config', configFile, '--data-dir', tempDir(t)]);
  assert.match(del.stdout, /\tremoved 1\n/);
  assert.doesNotMatch(await resultOf(a, nearCopy(5), 'later copy to a'), /FUZZY/);
  assert.doesNotMatch(await resultOf(b, nearCopy(6), 'later copy to b'), /FUZZY/);
});

test('spamgate train --spam reports to the fuzzy store too, unless --no-fuzzy', async (t) => {
  const file = writeMessage(t, CAMPAIGN, 'trained');
  const withFuzzy = tempDir(t);
  const trained = await runCli(['train', '--spam', file, '--data-dir', withFuzzy]);
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stdout, /\nfuzzy store: digests of 1 spam added/);
  assert.match((await runCli(['fuzzy', 'stats', '--data-dir', withFuzzy])).stdout, /store now 1 digests/);
  const without = tempDir(t);
  assert.equal((await runCli(['train', '--spam', file, '--no-fuzzy', '--data-dir', without])).code, 0);
  assert.match((await runCli(['fuzzy', 'stats', '--data-dir', without])).stdout, /store now 0 digests/);
});

test('spamgate forget takes a forgotten message out of the fuzzy store too, unless --no-fuzzy; a message never learned is left there', async (t) => {
  const file = writeMessage(t, CAMPAIGN, 'trained');
  const stats = async (dir: string): Promise<string> => (await runCli(['fuzzy', 'stats', '--data-dir', dir])).stdout;
  const dir = tempDir(t);
  assert.equal((await runCli(['train', '--spam', file, '--data-dir', dir])).code, 0);
  assert.match(await stats(dir), /store now 1 digests/);
  const forgot = await runCli(['forget', file, '--data-dir', dir]);
  assert.equal(forgot.code, 0, forgot.stderr);
  assert.match(forgot.stdout, /\tforgotten\n/);
  assert.match(forgot.stdout, /\nfuzzy store: 1 digests removed/);
  assert.match(await stats(dir), /store now 0 digests/);
  // --no-fuzzy: Bayes forgets, the store keeps it
  const kept = tempDir(t);
  assert.equal((await runCli(['train', '--spam', file, '--data-dir', kept])).code, 0);
  const bayesOnly = await runCli(['forget', file, '--no-fuzzy', '--data-dir', kept]);
  assert.match(bayesOnly.stdout, /\tforgotten\n/);
  assert.doesNotMatch(bayesOnly.stdout, /fuzzy store/);
  assert.match(await stats(kept), /store now 1 digests/);
  // reported with fuzzy add only (Bayes never learned it): forget says unknown and leaves it (fuzzy del does that)
  const reported = tempDir(t);
  assert.equal((await runCli(['fuzzy', 'add', file, '--data-dir', reported])).code, 0);
  assert.match((await runCli(['forget', file, '--data-dir', reported])).stdout, /\tunknown\n/);
  assert.match(await stats(reported), /store now 1 digests/);
});

test('spamgate forget of a message Bayes learned as ham leaves the fuzzy store alone: only spam was put there', async (t) => {
  const file = writeMessage(t, CAMPAIGN, 'ham by mistake');
  const dir = tempDir(t);
  assert.equal((await runCli(['fuzzy', 'add', file, '--data-dir', dir])).code, 0);
  assert.equal((await runCli(['train', '--ham', file, '--data-dir', dir])).code, 0);
  const forgot = await runCli(['forget', file, '--data-dir', dir]);
  assert.equal(forgot.code, 0, forgot.stderr);
  assert.match(forgot.stdout, /\tforgotten\n/);
  assert.doesNotMatch(forgot.stdout, /fuzzy store/);
  assert.match((await runCli(['fuzzy', 'stats', '--data-dir', dir])).stdout, /store now 1 digests/);
});

test('with the Bayes store in Redis, train and forget still take the lock of the in-process fuzzy store: a second writer is refused, not overwritten', async (t) => {
  const redis = await startRedis(t);
  const configFile = path.join(tempDir(t), 'spamgate.yaml');
  writeFileSync(configFile, stringifyYaml({ redis: { port: redis.port, timeout: '500ms', connect_timeout: '2s', use_for: ['bayes'] } }));
  const dir = tempDir(t);
  const file = writeMessage(t, CAMPAIGN, 'trained');
  const trained = await runCli(['train', '--spam', file, '--config', configFile, '--data-dir', dir]);
  assert.equal(trained.code, 0, trained.stderr);
  // another writer of fuzzy.json (a spamgate fuzzy add) holds the lock
  const held = await takeLearnLock(dir);
  assert.ok(held.ok);
  try {
    for (const args of [['forget', file], ['train', '--spam', writeMessage(t, UNRELATED, 'other')]]) {
      const r = await runCli([...args, '--config', configFile, '--data-dir', dir]);
      assert.equal(r.code, 1, `${args[0]}: ${r.stdout}`);
      assert.match(r.stderr, new RegExp(`in use by process ${process.pid}`), args[0]);
    }
  } finally {
    await held.release();
  }
  assert.match((await runCli(['fuzzy', 'stats', '--data-dir', dir])).stdout, /store now 1 digests/);
});

test('spamgate forget with the fuzzy store unreachable: each message is still reported, the one Bayes forgot named as left in the fuzzy store, exit 1', async (t) => {
  const configFile = path.join(tempDir(t), 'spamgate.yaml');
  writeFileSync(configFile, stringifyYaml({ redis: { port: await freePort(), timeout: '500ms', connect_timeout: '1s', use_for: ['fuzzy'] } }));
  const dir = tempDir(t);
  const file = writeMessage(t, CAMPAIGN, 'trained');
  assert.equal((await runCli(['train', '--spam', file, '--no-fuzzy', '--config', configFile, '--data-dir', dir])).code, 0);
  const r = await runCli(['forget', file, '--config', configFile, '--data-dir', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /\tforgotten\n/, 'Bayes forgot it: the line says so');
  assert.match(r.stdout, /^forgotten 1, not learned 0; /m);
  assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*not taken out of the fuzzy store.*spamgate fuzzy del`));
});

test('an attachment reported with fuzzy add: the same bytes under another text hit FUZZY_ATTACHMENT, other bytes do not', async (t) => {
  const dataDir = tempDir(t);
  const file = path.join(tempDir(t), 'invoice.eml');
  writeFileSync(file, withAttachment('Please see the attached invoice.', payload(11)));
  const add = await runCli(['fuzzy', 'add', file, '--data-dir', dataDir]);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /\tadded 1\n/);
  const gw = await startGateway(t, CONFIG, { dataDir });
  assert.match(await resultOf(gw, withAttachment('Your parcel notice is attached.', payload(11), 'parcel'), 'parcel'), /FUZZY_ATTACHMENT\(6\)\[[0-9a-f]{16}\]/);
  assert.doesNotMatch(await resultOf(gw, withAttachment('Your parcel notice is attached.', payload(12), 'other parcel'), 'other parcel'), /FUZZY/);
});

test('front-of spamgate serve: a reported near-copy reaches the sink with FUZZY_SPAM; fuzzy add is refused while it runs', async (t) => {
  const dir = tempDir(t);
  const sink = await startSink();
  t.after(() => sink.close());
  const dataDir = path.join(dir, 'data');
  const smtpPort = await freePort();
  const config = path.join(dir, 'spamgate.yaml');
  writeFileSync(
    config,
    stringifyYaml({
      mode: 'front-of',
      local_domains: ['relay.example'],
      data_dir: dataDir,
      rules_dirs: [SHIPPED_RULES_DIR],
      delivery: { upstream: { host: '127.0.0.1', port: sink.port } },
      smtp: { listen: { port: smtpPort }, hostname: 'mx.test.example', trusted_networks: [] },
      submission: { enabled: false },
      http: { listen: { port: await freePort() } },
      pop3: { enabled: false },
      imap: { enabled: false },
      dns: { servers: ['127.0.0.1:9'], timeout: '100ms', retries: 0 },
      checks: CONFIG.checks,
      bayes: { enabled: false },
      log_level: 'warn',
    }),
  );
  const reported = writeMessage(t, CAMPAIGN, 'reported');
  assert.equal((await runCli(['fuzzy', 'add', reported, '--config', config])).code, 0);
  const serve = new ServeProcess();
  t.after(() => serve.kill());
  await serve.start(process.execPath, ['--import', 'tsx', path.resolve(import.meta.dirname, '../../src/cli.ts'), 'serve', '--config', config]);
  const sent = await sendMessage(smtpPort, 'sender@remote.example', ['user@relay.example'], mail(nearCopy(12), 'to the sink'));
  assert.equal(sent.data?.code, 250, sent.data?.text);
  await sink.waitForMessages(1);
  assert.match(sink.messages[0]?.raw.toString('latin1') ?? '', /^X-Spamgate-Result: .*(\r\n[ \t].*)*FUZZY_SPAM\(/m);
  // the running instance holds the in-process store in memory: a CLI writer would be overwritten
  const refused = await runCli(['fuzzy', 'add', reported, '--config', config]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /spamgate serve \(pid \d+\) runs on .* holds the fuzzy store in memory/);
  assert.equal((await runCli(['fuzzy', 'stats', '--config', config])).code, 0, 'reading is fine');
});

test('fuzzy.enabled switched off by reload stops the check at once, without a restart warning; on again, it hits; other fuzzy settings wait for a restart', async (t) => {
  const dataDir = tempDir(t);
  assert.equal((await runCli(['fuzzy', 'add', writeMessage(t, CAMPAIGN, 'reported'), '--data-dir', dataDir])).code, 0);
  const configFile = path.join(tempDir(t), 'spamgate.yaml');
  const gw = await startGateway(t, CONFIG, { dataDir, configFile });
  const edit = (fuzzy: Record<string, unknown>): void => {
    const config = parseYaml(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    config.fuzzy = fuzzy;
    writeFileSync(configFile, stringifyYaml(config));
    const r = gw.app.reload();
    assert.equal(r.ok, true, r.ok ? '' : r.error);
  };
  const restartWarnings = (): string[] => gw.logs.filter((l) => /apply after a restart/.test(String(l.msg))).map((l) => JSON.stringify(l.keys));
  assert.match(await resultOf(gw, nearCopy(1), 'before'), /FUZZY_SPAM/);
  edit({ enabled: false });
  assert.doesNotMatch(await resultOf(gw, nearCopy(2), 'switched off'), /FUZZY/);
  assert.deepEqual(restartWarnings(), [], 'switching off applies at once: no restart warning');
  edit({ enabled: true });
  assert.match(await resultOf(gw, nearCopy(3), 'on again'), /FUZZY_SPAM/);
  assert.deepEqual(restartWarnings(), []);
  edit({ enabled: true, threshold: 0.9 });
  assert.deepEqual(restartWarnings(), ['["fuzzy"]'], 'another fuzzy setting needs the restart, and the warning says so');
});
