// spamgate as a spamd: the real spamc (Debian's spamc) against the spamd listener over TCP and a unix socket —
// CHECK's exit code and score/threshold, REPORT, SYMBOLS, PROCESS and HEADERS output, PING, TELL learning when
// allowed and refused when not, per-user thresholds — the envelope read from the topmost Received field, and
// raw-socket tests of what a broken or hostile client gets: the protocol's error line and a closed connection.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { deflateSync } from 'node:zlib';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { milterTestRules, scanTestConfig } from '../helpers/milter-gateway.ts';
import { rawExchange } from '../helpers/raw-exchange.ts';
import { runProgram, type ProgramRun } from '../helpers/run-program.ts';

const SPAMC = '/usr/bin/spamc';
const skip = existsSync(SPAMC) ? false : 'spamc is not installed (Debian package spamc)';

/** Runs spamc with the message on stdin. */
function spamc(args: readonly string[], input: string): Promise<ProgramRun> {
  return runProgram(SPAMC, ['-x', ...args], { stdin: input });
}

const RECEIVED = 'Received: from mail.sender.example (mail.sender.example [198.51.100.7])\n\tby mx.example.test (Postfix) with ESMTP id 4Abc;\n\tSun, 22 Nov 2026 00:00:00 +0000\n';

/** A message in LF line endings, as procmail and Exim hand it to spamc. */
function message(marker: string, opts: { received?: string; subject?: string; extra?: string } = {}): string {
  return (
    (opts.received ?? RECEIVED) +
    `From: Sender <news@sender.example>\nTo: user@example.test\nSubject: ${opts.subject ?? 'monthly news'}\nDate: Sun, 22 Nov 2026 00:00:00 +0000\n` +
    `Message-ID: <${Math.random().toString(36).slice(2)}@sender.example>\n${opts.extra ?? ''}\nHello, ${marker} here.\nBye.\n`
  );
}

/** Marker rules, and lists that show which envelope facts reached the connect, HELO and MAIL checks. */
function spamdRules(t: TestContext): string {
  const dir = milterTestRules(t);
  writeFileSync(
    path.join(dir, 'zz-spamd.yaml'),
    `lists:
  LIST_T_IP: { type: ip, weight: 0.1, description: test client network, entries: [198.51.100.0/24] }
  LIST_T_HELO: { type: helo, weight: 0.1, description: test HELO name, entries: [mail.sender.example] }
  LIST_T_SENDER: { type: envelope_from, weight: 0.1, description: test envelope sender, entries: [bounces.sender.example] }
overrides:
  strict@example.test: { junk: 5 }
`,
  );
  return dir;
}

async function startSpamd(t: TestContext, spamd: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, configFile?: string): Promise<RunningGateway & { spamdPort: number }> {
  const gw = await startGateway(t, {
    ...scanTestConfig(spamdRules(t)),
    spamd: { enabled: true, listen: '127.0.0.1:0', ...spamd },
    ...extra,
  }, configFile ? { configFile } : {});
  if (!String(spamd.listen ?? '').startsWith('unix:')) assert.ok(gw.spamdPort, 'spamd listens');
  return gw as RunningGateway & { spamdPort: number };
}

async function metric(gw: RunningGateway, name: string, labels: string): Promise<number> {
  const text = await gw.app.registry.getSingleMetricAsString(name);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return Number(line?.split(' ').pop() ?? NaN);
}

test('spamc -c, -R, -y and PROCESS: spam and ham judged by the pipeline, nothing queued', { skip }, async (t) => {
  const gw = await startSpamd(t);
  const at = ['-d', '127.0.0.1', '-p', String(gw.spamdPort)];
  const spam = message('REJECT-MARKER');
  const ham = message('nothing special', { extra: 'X-Spam-Flag: YES\nX-Spamgate-Result: accept; score=-50\n' });

  // CHECK: exit code 1 for spam, 0 for ham, "score/threshold" (the junk threshold, 6)
  const c1 = await spamc([...at, '-c'], spam);
  assert.equal(c1.status, 1, c1.stderr);
  assert.match(c1.stdout, /^20\.2\/6\.0\n$/);
  const c0 = await spamc([...at, '-c'], ham);
  assert.equal(c0.status, 0, c0.stderr);
  assert.equal(c0.stdout, '0.2/6.0\n');

  // REPORT: the score line, then each symbol with its points and description
  const r = await spamc([...at, '-R'], spam);
  assert.equal(r.status, 0, "spamc -R sets no exit code (-E would)");
  assert.match(r.stdout, /^20\.2\/6\.0\n/);
  assert.match(r.stdout, /\(20\.2 points, 6\.0 required\)/);
  assert.match(r.stdout, /20\.0 CT_TEST_REJECT +test marker for reject/);
  // SYMBOLS: the names, strongest first; the Received field's client and HELO reached the connect and HELO checks
  const y = await spamc([...at, '-y'], spam);
  assert.equal(y.stdout.split(',')[0], 'CT_TEST_REJECT');
  assert.deepEqual(y.stdout.trim().split(',').sort(), ['CT_TEST_REJECT', 'LIST_T_HELO', 'LIST_T_IP']);

  // PROCESS (spamc's default): the message back in its own LF line endings, with spamgate's and SpamAssassin's fields
  const p = await spamc(at, spam);
  assert.equal(p.status, 0);
  assert.ok(!p.stdout.includes('\r'), 'LF line endings kept');
  const [head = '', body = ''] = p.stdout.split('\n\n');
  assert.ok(head.startsWith('Received: from mail.sender.example'), 'the trace fields stay on top');
  assert.match(head, /^Subject: \*\*\*SPAM\*\*\* monthly news$/m);
  assert.match(head, /^X-Spamgate-Result: reject; score=20\.2; id=[0-9a-f]{16};/m);
  assert.match(head, /^X-Spam-Flag: YES$/m);
  assert.match(head, /^X-Spam-Level: \*{20}$/m);
  assert.match(head, /^X-Spam-Status: Yes, score=20\.2 required=6\.0\s+tests=LIST_T_IP,LIST_T_HELO,CT_TEST_REJECT$/m);
  assert.equal(body, 'Hello, REJECT-MARKER here.\nBye.\n');
  // a ham message: forged fields removed, no flag, status No
  const h = await spamc(at, ham);
  assert.doesNotMatch(h.stdout, /X-Spam-Flag/);
  assert.doesNotMatch(h.stdout, /score=-50/);
  assert.match(h.stdout, /^X-Spam-Status: No, score=0\.2 required=6\.0/m);
  assert.match(h.stdout, /^Subject: monthly news$/m);
  // HEADERS (spamc --headers): the new header block, with the original body after it
  const hd = await spamc([...at, '--headers'], spam);
  assert.match(hd.stdout, /^X-Spam-Flag: YES$/m);
  assert.ok(hd.stdout.endsWith('\n\nHello, REJECT-MARKER here.\nBye.\n'), JSON.stringify(hd.stdout.slice(-80)));

  // one transaction log line per scan, listener spamd, the client from the Received field
  const tx = gw.transactions().filter((l) => l.listener === 'spamd');
  assert.equal(tx.length, 7);
  assert.equal(tx[0]?.client_ip, '198.51.100.7');
  assert.equal(tx[0]?.helo, 'mail.sender.example');
  assert.equal(tx[0]?.action, 'reject');
  assert.match(String(tx[0]?.reply), /^spamd CHECK: spam /);
  assert.equal(await metric(gw, 'spamgate_spamd_requests_total', 'command="check",result="spam"'), 1);
  assert.equal(await metric(gw, 'spamgate_spamd_requests_total', 'command="process",result="ham"'), 1);
  assert.equal(await metric(gw, 'spamgate_smtp_transactions_total', 'listener="spamd",action="reject"'), 5);
  // never delivered nor queued
  assert.equal(gw.logs.filter((l) => /queued|enqueue|deliver/i.test(String(l.msg))).length, 0);
});

test('the envelope: sender from Exim\'s envelope-from; nothing from an internal hop or with received: ignore', { skip }, async (t) => {
  const gw = await startSpamd(t);
  const at = ['-d', '127.0.0.1', '-p', String(gw.spamdPort), '-y'];
  const exim = 'Received: from mail.sender.example ([198.51.100.9] helo=mail.sender.example)\n\tby mx.example.test with esmtp (Exim 4.96)\n\t(envelope-from <list@bounces.sender.example>)\n\tid 1abc; Sun, 22 Nov 2026 00:00:00 +0000\n';
  assert.deepEqual((await spamc(at, message('x', { received: exim }))).stdout.trim().split(',').sort(), ['LIST_T_HELO', 'LIST_T_IP', 'LIST_T_SENDER']);
  const internal = 'Received: from mail.sender.example (gw.internal [10.1.2.3])\n\tby mx.example.test (Postfix); Sun, 22 Nov 2026 00:00:00 +0000\n';
  assert.equal((await spamc(at, message('x', { received: internal }))).stdout.trim(), '');
  const tx = gw.transactions().filter((l) => l.listener === 'spamd');
  assert.equal(tx[1]?.client_ip, '0.0.0.0');

  const off = await startSpamd(t, { received: 'ignore' });
  assert.equal((await spamc(['-d', '127.0.0.1', '-p', String(off.spamdPort), '-y'], message('x'))).stdout.trim(), '');
});

test('User: an address at a local domain (or a sub-address of it) gets its threshold overrides; a Unix user name does not', { skip }, async (t) => {
  const gw = await startSpamd(t);
  const at = ['-d', '127.0.0.1', '-p', String(gw.spamdPort), '-c'];
  const tagged = message('TAG-MARKER');
  assert.deepEqual(await spamc([...at, '-u', 'strict@example.test'], tagged).then((r) => [r.status, r.stdout]), [1, '5.4/5.0\n']);
  // a sub-address of it too (mailhost.subaddress_delimiter, '+' by default)
  assert.deepEqual(await spamc([...at, '-u', 'Strict+News@example.test'], tagged).then((r) => [r.status, r.stdout]), [1, '5.4/5.0\n']);
  assert.deepEqual(await spamc([...at, '-u', 'strict'], tagged).then((r) => [r.status, r.stdout]), [0, '5.4/6.0\n']);
  assert.deepEqual(await spamc([...at, '-u', 'other@example.test'], tagged).then((r) => [r.status, r.stdout]), [0, '5.4/6.0\n']);
});

test('spam_action picks the threshold: add_header makes a 3-point message spam; a quarantine weight is spam at any score', { skip }, async (t) => {
  const gw = await startSpamd(t, { spam_action: 'add_header' });
  const at = ['-d', '127.0.0.1', '-p', String(gw.spamdPort), '-c'];
  const r = await spamc(at, message('TAG-MARKER'));
  assert.deepEqual([r.status, r.stdout], [1, '5.4/3.0\n']);
  // policy: a quarantine weight (as VIRUS_FOUND) is spam whatever the score; a tempfail weight is no verdict on the content
  assert.deepEqual(await spamc(at, message('HOLD-MARKER')).then((x) => [x.status, x.stdout]), [1, '0.2/3.0\n']);
  assert.deepEqual(await spamc(at, message('DEFER-MARKER')).then((x) => [x.status, x.stdout]), [0, '0.2/3.0\n']);
});

test('a unix socket; spamc -K pings', { skip }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-spamd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'spamd.sock');
  const gw = await startSpamd(t, { listen: `unix:${sock}` });
  const spam = await spamc(['-U', sock, '-c'], message('REJECT-MARKER'));
  assert.deepEqual([spam.status, spam.stdout], [1, '20.2/6.0\n']);
  const ping = await spamc(['-U', sock, '-K'], '');
  assert.equal(ping.status, 0, ping.stderr);
  assert.match(ping.stdout, /^SPAMD\/1\.5 0/);
  assert.equal(await metric(gw, 'spamgate_spamd_requests_total', 'command="ping",result="ok"'), 1);
  await gw.app.stop(500);
  assert.ok(!existsSync(sock), 'the socket file is removed at stop');
});

test('TELL: spamc -L spam / ham learns through the Bayes learner when allow_tell; refused when not', { skip }, async (t) => {
  const gw = await startSpamd(t, { allow_tell: true }, { bayes: { enabled: true } });
  const at = ['-d', '127.0.0.1', '-p', String(gw.spamdPort)];
  const msg = message('cheap watches, best prices, click now');
  const learned = await spamc([...at, '-L', 'spam'], msg);
  assert.equal(learned.status, 0, learned.stderr);
  assert.equal(learned.stdout, 'Message successfully un/learned\n');
  assert.equal((await spamc([...at, '-L', 'spam'], msg)).stdout, 'Message was already un/learned\n');
  assert.equal(await metric(gw, 'spamgate_bayes_learned_total', 'class="spam",source="manual"'), 1);
  assert.equal((await spamc([...at, '-L', 'ham'], msg)).stdout, 'Message successfully un/learned\n');
  assert.equal(await metric(gw, 'spamgate_bayes_learned_total', 'class="ham",source="manual"'), 1);
  assert.equal((await spamc([...at, '-L', 'forget'], msg)).stdout, 'Message successfully un/learned\n');
  assert.equal(await metric(gw, 'spamgate_spamd_requests_total', 'command="tell",result="ok"'), 4);

  const off = await startSpamd(t, {}, { bayes: { enabled: true } });
  const refused = await spamc(['-d', '127.0.0.1', '-p', String(off.spamdPort), '-L', 'spam'], msg);
  assert.notEqual(refused.status, 0);
  // spamc says nothing of why (exit 74, EX_IOERR): spamgate's log does, at the default level
  assert.equal(refused.stdout + refused.stderr, '');
  const why = off.logs.find((l) => l.msg === 'spamd tell refused');
  assert.equal(why?.level, 'warn', JSON.stringify(off.logs.filter((l) => String(l.msg).startsWith('spamd'))));
  assert.match(String(why?.reason), /TELL commands are not enabled \(spamd\.allow_tell\)/);
  assert.equal(await metric(off, 'spamgate_spamd_requests_total', 'command="tell",result="refused"'), 1);
  assert.equal((await metric(off, 'spamgate_bayes_learned_total', 'class="spam",source="manual"')) || 0, 0);
  // raw: the protocol's error line, EX_UNAVAILABLE
  const body = Buffer.from(msg);
  const raw = await rawExchange(off.spamdPort, [`TELL SPAMC/1.5\r\nContent-length: ${body.length}\r\nMessage-class: spam\r\nSet: local\r\n\r\n`, body]);
  assert.match(raw, /^SPAMD\/1\.0 69 Service Unavailable: TELL commands are not enabled/);
});

test('raw requests: PING, Compress: zlib, and malformed requests answered with the protocol error and closed', async (t) => {
  const gw = await startSpamd(t, { max_size: '4k' });
  const port = gw.spamdPort;
  assert.equal(await rawExchange(port, ['PING SPAMC/1.5\r\n\r\n']), 'SPAMD/1.5 0 PONG\r\n');
  // SKIP: closed without a word
  assert.equal(await rawExchange(port, ['SKIP SPAMC/1.5\r\n\r\n']), '');
  // Compress: zlib — Content-length counts the compressed bytes
  const packed = deflateSync(Buffer.from(message('REJECT-MARKER')));
  const z = await rawExchange(port, [`CHECK SPAMC/1.5\r\nContent-length: ${packed.length}\r\nCompress: zlib\r\n\r\n`, packed]);
  assert.equal(z, 'SPAMD/1.1 0 EX_OK\r\nSpam: True ; 20.2 / 6.0\r\n\r\n');
  // the request in pieces, the body split: one answer when Content-length bytes are in
  const body = Buffer.from(message('hello'));
  const split = await rawExchange(port, ['SYMBOLS SPA', `MC/1.5\r\nContent-len`, `gth: ${body.length}\r\n\r\n`, body.subarray(0, 10), body.subarray(10)]);
  assert.match(split, /^SPAMD\/1\.1 0 EX_OK\r\nSpam: False ; 0\.2 \/ 6\.0\r\nContent-length: 21\r\n\r\nLIST_T_(?:HELO|IP),LIST_T_(?:HELO|IP)$/);
  // REPORT as Exim's spam condition sends it and reads the answer: "SPAMD/%7s 0 EX_OK\r\nSpam: %*s ; %lf / %lf\r\n"
  const spam = Buffer.from(message('REJECT-MARKER'));
  const exim = await rawExchange(port, [`REPORT SPAMC/1.2\r\nUser: nobody\r\nContent-length: ${spam.length}\r\n\r\n`, spam]);
  assert.match(exim, /^SPAMD\/1\.1 0 EX_OK\r\nSpam: True ; 20\.2 \/ 6\.0\r\nContent-length: \d+\r\n\r\nSpam detection software/);

  const bad = async (request: (string | Buffer)[], expected: RegExp, end = false): Promise<void> => {
    const reply = await rawExchange(port, request, { end });
    assert.match(reply, expected);
    assert.equal(reply.split('\r\n').length, 2, `one line, then closed: ${JSON.stringify(reply)}`);
  };
  await bad(['HELLO\r\n\r\n'], /^SPAMD\/1\.0 76 Bad header line: HELLO\r\n$/);
  await bad(['FROB SPAMC/1.5\r\n\r\n'], /^SPAMD\/1\.0 76 Bad header line: \(unknown method FROB\)\r\n$/);
  await bad(['CHECK SPAMC/1.5\r\nthis is no header\r\n\r\n'], /^SPAMD\/1\.0 76 Bad header line: this is no header\r\n$/);
  await bad(['CHECK SPAMC/1.5\r\n\r\nSubject: x\r\n\r\nhi\r\n'], /^SPAMD\/1\.0 76 Bad header line: \(Content-Length missing\)\r\n$/);
  await bad(['CHECK SPAMC/1.5\r\nContent-length: ten\r\n\r\n'], /^SPAMD\/1\.0 76 Bad header line: \(Content-Length not a number/);
  await bad([`CHECK SPAMC/1.5\r\nUser: ${'a'.repeat(2000)}`], /^SPAMD\/1\.0 76 Bad header line: \(line too long\)\r\n$/);
  await bad([`CHECK SPAMC/1.5\r\n${'X-A: b\r\n'.repeat(40)}`], /^SPAMD\/1\.0 76 Bad header line: \(too many header lines\)\r\n$/);
  await bad(['CHECK SPAMC/1.5\r\nContent-length: 100\r\nCompress: gzip\r\n\r\n'], /^SPAMD\/1\.0 76 Bad header line: \(unsupported Compress/);
  await bad(['CHECK SPAMC/1.5\r\nContent-length: 100\r\n\r\nshort'], /^SPAMD\/1\.0 76 Bad header line: \(Content-Length mismatch: Expected 100 bytes, got 5 bytes\)\r\n$/, true);
  // over max_size: refused on the Content-length, before the body is read
  await bad(['PROCESS SPAMC/1.5\r\nContent-length: 5000\r\n\r\n'], /^SPAMD\/1\.0 65 Message too big: Content-length 5000 is over the limit of 4096 bytes\r\n$/);
  const bomb = deflateSync(Buffer.alloc(100_000, 'a'));
  await bad([`CHECK SPAMC/1.5\r\nContent-length: ${bomb.length}\r\nCompress: zlib\r\n\r\n`, bomb], /^SPAMD\/1\.0 65 Message too big/);
  assert.equal(await metric(gw, 'spamgate_spamd_requests_total', 'command="process",result="too_large"'), 1);
  assert.equal(await metric(gw, 'spamgate_spamd_requests_total', 'command="unknown",result="error"'), 2);
  // and the listener still answers
  assert.equal(await rawExchange(port, ['PING SPAMC/1.5\r\n\r\n']), 'SPAMD/1.5 0 PONG\r\n');
});

test('limits: a network outside allowed_networks is closed at connect; a stalled request times out; max_connections', async (t) => {
  const closed = await startSpamd(t, { allowed_networks: ['192.0.2.0/24'] });
  assert.equal(await rawExchange(closed.spamdPort, ['PING SPAMC/1.5\r\n\r\n']), '');
  assert.equal(await metric(closed, 'spamgate_spamd_connections_total', 'result="not_allowed"'), 1);

  const gw = await startSpamd(t, { timeout: '300ms', max_connections: 1 });
  const started = Date.now();
  // a request that stops half-way: the timeout answers EX_TIMEOUT and closes
  const first = rawExchange(gw.spamdPort, ['CHECK SPAMC/1.5\r\nContent-length: 50\r\n']);
  await new Promise((r) => setTimeout(r, 100));
  // the one connection allowed is taken: the next gets EX_TEMPFAIL at once
  assert.match(await rawExchange(gw.spamdPort, []), /^SPAMD\/1\.0 75 Service Unavailable: too many connections/);
  assert.match(await first, /^SPAMD\/1\.0 79 Timeout: no complete request within 300 ms\r\n$/);
  assert.ok(Date.now() - started >= 250, 'closed by the timeout, not before');
  assert.equal(await metric(gw, 'spamgate_spamd_connections_total', 'result="too_many"'), 1);
  assert.equal(await metric(gw, 'spamgate_spamd_requests_total', 'command="check",result="timeout"'), 1);
  assert.equal(await rawExchange(gw.spamdPort, ['PING SPAMC/1.5\r\n\r\n']), 'SPAMD/1.5 0 PONG\r\n');
});

test('reload: allow_tell and spam_action apply to the next connection; a new spamd.listen waits for a restart', { skip }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-spamd-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'spamgate.yaml');
  const gw = await startSpamd(t, {}, { bayes: { enabled: true } }, file);
  const at = ['-d', '127.0.0.1', '-p', String(gw.spamdPort)];
  const msg = message('TAG-MARKER');
  assert.deepEqual(await spamc([...at, '-c'], msg).then((r) => [r.status, r.stdout]), [0, '5.4/6.0\n']);
  assert.notEqual((await spamc([...at, '-L', 'spam'], msg)).status, 0);
  const config = parseYaml(readFileSync(file, 'utf8')) as { spamd: Record<string, unknown> };
  config.spamd = { ...config.spamd, allow_tell: true, spam_action: 'rewrite_subject', listen: '127.0.0.1:1' };
  writeFileSync(file, stringifyYaml(config));
  assert.deepEqual(gw.app.reload(), { ok: true });
  assert.deepEqual(await spamc([...at, '-c'], msg).then((r) => [r.status, r.stdout]), [1, '5.4/5.0\n']);
  assert.equal((await spamc([...at, '-L', 'spam'], msg)).stdout, 'Message successfully un/learned\n');
  const warned = gw.logs.find((l) => l.msg === 'settings changed that apply after a restart; the running instance keeps the old ones');
  assert.deepEqual(warned?.keys, ['spamd.listen']);
});

test('an answer the client never reads: the connection is closed within spamd.timeout and its slot freed', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-spamd-unread-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'spamd.sock');
  const gw = await startSpamd(t, { listen: `unix:${sock}`, max_connections: 1, timeout: '300ms', max_size: '2m' });
  // a PROCESS answer far larger than a unix socket's buffers, and a client that stops reading
  const body = Buffer.from(message('x', { extra: '' }) + `${'y'.repeat(75)}\n`.repeat(12_000));
  const stuck = net.connect(sock);
  t.after(() => stuck.destroy());
  stuck.on('error', () => undefined);
  stuck.pause();
  stuck.write(`PROCESS SPAMC/1.5\r\nContent-length: ${body.length}\r\n\r\n`);
  stuck.write(body);
  const started = Date.now();
  while (gw.transactions().length === 0 && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 20));
  assert.equal(gw.transactions().length, 1, 'scanned');
  // the answer is written when the scan is logged; spamd.timeout (300 ms) later the server has given up on it
  await new Promise((r) => setTimeout(r, 1000));
  const ping = await new Promise<string>((resolve, reject) => {
    const s = net.connect(sock, () => s.end('PING SPAMC/1.5\r\n\r\n'));
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
  assert.equal(ping, 'SPAMD/1.5 0 PONG\r\n', 'the slot is free again');
});

test('a request trickled in a byte at a time must still be complete within spamd.timeout of the connection', async (t) => {
  const gw = await startSpamd(t, { timeout: '300ms', max_connections: 1 });
  const body = Buffer.from(message('hello'));
  const request = Buffer.concat([Buffer.from(`CHECK SPAMC/1.5\r\nContent-length: ${body.length}\r\n\r\n`), body]);
  const socket = net.connect(gw.spamdPort, '127.0.0.1');
  t.after(() => socket.destroy());
  socket.on('error', () => undefined);
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const started = Date.now();
  // one byte every 50 ms: never silent for 300 ms, and the request would take some 15 s
  let sent = 0;
  const drip = setInterval(() => {
    if (sent < request.length && socket.writable) socket.write(request.subarray(sent, ++sent));
  }, 50);
  t.after(() => clearInterval(drip));
  await Promise.race([closed, new Promise((r) => setTimeout(r, 6000))]);
  clearInterval(drip);
  assert.match(Buffer.concat(chunks).toString('latin1'), /^SPAMD\/1\.0 79 Timeout: no complete request within 300 ms\r\n$/);
  // 300 ms configured; the bound leaves room for a loaded machine and is far below the 15 s of the drip
  assert.ok(Date.now() - started < 4000, 'closed by the deadline');
});
