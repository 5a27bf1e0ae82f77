// The milter over a real socket with a milter client playing the MTA: option negotiation, the pipeline's
// verdicts as milter replies (reply codes, header changes, quarantine), per-recipient refusals, macros
// (authenticated senders), size limits, abort and connection reuse, and malformed input closing one connection.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startHungClamd } from '../helpers/clamd.ts';
import { type RunningGateway } from '../helpers/gateway.ts';
import { DNS_CHECKS, startMilterGateway } from '../helpers/milter-gateway.ts';
import { connectData, cstr, encode, MilterClient, replyStrings, type MilterReply } from '../helpers/milter-client.ts';

const startMilter = startMilterGateway;

/** A negotiated client through CONNECT and HELO. */
async function session(t: TestContext, port: number, client = '203.0.113.5'): Promise<MilterClient> {
  const m = await MilterClient.connect(port);
  t.after(() => m.close());
  await m.negotiate();
  m.macro('C', { j: 'mta.example.test', '{daemon_name}': 'smtpd' });
  assert.equal((await m.step('C', connectData('mail.remote.example', client, 40000)))[0]?.cmd, 'c');
  assert.equal((await m.step('H', cstr('mail.remote.example')))[0]?.cmd, 'c');
  return m;
}

function headers(subject = 'hello', extra: [string, string][] = []): [string, string][] {
  return [['From', ' sender@remote.example'], ['To', ' user@example.test'], ['Subject', ` ${subject}`], ['Date', ' Sun, 22 Nov 2026 00:00:00 +0000'], ['Message-ID', ` <${Math.random().toString(36).slice(2)}@remote.example>`], ...extra];
}

async function transaction(m: MilterClient, body: string, opts: { rcpts?: string[]; subject?: string; extra?: [string, string][] } = {}): Promise<MilterReply[]> {
  m.macro('M', { i: 'ABC123' });
  assert.equal((await m.step('M', cstr('<sender@remote.example>', 'SIZE=100')))[0]?.cmd, 'c');
  for (const r of opts.rcpts ?? ['user@example.test']) assert.equal((await m.step('R', cstr(`<${r}>`)))[0]?.cmd, 'c');
  return m.message(headers(opts.subject, opts.extra), body);
}

const replyText = (r: MilterReply | undefined): string => (r && r.cmd === 'y' ? replyStrings(r)[0] ?? '' : `(${r?.cmd})`);

test('option negotiation: spamgate asks for header changes, quarantine, recipient and sender changes, skips UNKNOWN and DATA, wants headers as written', async (t) => {
  const gw = await startMilter(t);
  const m = await MilterClient.connect(gw.milterPort);
  t.after(() => m.close());
  const all = await m.negotiate(0x1ff, 0x1fffff);
  assert.equal(all.version, 6);
  assert.equal(all.actions, 0x01 | 0x10 | 0x20 | 0x04 | 0x08 | 0x40);
  assert.equal(all.protocol, 0x100 | 0x200 | 0x100000);
  // an MTA that offers less is asked for no more than it offers
  const m2 = await MilterClient.connect(gw.milterPort);
  t.after(() => m2.close());
  const few = await m2.negotiate(0x01, 0);
  assert.deepEqual([few.actions, few.protocol], [0x01, 0]);
});

test('a clean message: continue at each step, X-Spamgate-Result inserted below the MTA Received field, one transaction logged for the milter', async (t) => {
  const gw = await startMilter(t);
  const m = await session(t, gw.milterPort);
  const eob = await transaction(m, 'Hello, nothing special here.\r\n');
  assert.equal(eob.at(-1)?.cmd, 'c');
  const ins = eob.find((r) => r.cmd === 'i');
  assert.ok(ins, 'a header is inserted');
  // below the MTA's own Received field, which comes first
  assert.equal(ins.data.readUInt32BE(0), 1);
  const [name, value] = replyStrings(ins);
  assert.equal(name, 'X-Spamgate-Result');
  assert.match(value ?? '', /^ accept; score=[-\d.]+; id=[0-9a-f]+/);
  const tx = gw.transactions().at(-1);
  assert.equal(tx?.listener, 'milter');
  assert.equal(tx?.client_ip, '203.0.113.5');
  assert.equal(tx?.client_name, 'mail.remote.example');
  assert.equal(tx?.helo, 'mail.remote.example');
  assert.equal(tx?.from, 'sender@remote.example');
  assert.deepEqual(tx?.rcpts, ['user@example.test']);
  // the MTA's queue id (macro i) ties the line to the MTA's own log
  assert.equal(tx?.mta_queue_id, 'ABC123');
});

test('verdicts: spam gets the 554 reply code, tempfail 451, a tagged message its Subject changed, quarantine the MTA hold', async (t) => {
  const gw = await startMilter(t);
  const m = await session(t, gw.milterPort);
  const spam = await transaction(m, 'Hello, REJECT-MARKER here.\r\n');
  assert.match(replyText(spam.at(-1)), /^554 5\.7\.1 /);
  const deferred = await transaction(m, 'Hello, DEFER-MARKER here.\r\n');
  assert.match(replyText(deferred.at(-1)), /^451 4\.7\.1 /);
  const tagged = await transaction(m, 'Hello, TAG-MARKER here.\r\n', { subject: 'tag me' });
  const chg = tagged.find((r) => r.cmd === 'm');
  assert.ok(chg, 'the Subject is changed');
  assert.equal(chg.data.readUInt32BE(0), 1);
  assert.deepEqual(replyStrings(chg), ['Subject', ' ***SPAM*** tag me']);
  assert.equal(tagged.at(-1)?.cmd, 'c');
  const held = await transaction(m, 'Hello, HOLD-MARKER here.\r\n');
  const q = held.find((r) => r.cmd === 'q');
  assert.ok(q, 'the message goes to the MTA quarantine');
  assert.match(replyStrings(q)[0] ?? '', /CT_TEST_HOLD/);
  assert.match(replyStrings(held.find((r) => r.cmd === 'i') as MilterReply)[1] ?? '', /^ quarantine;/);
  assert.equal(held.at(-1)?.cmd, 'c');
  const actions = gw.transactions().map((l) => l.action);
  assert.deepEqual(actions, ['reject', 'tempfail', 'rewrite_subject', 'quarantine']);
  // the gateway's metrics, with the milter as listener
  const metrics = await gw.app.registry.metrics();
  for (const action of ['reject', 'tempfail', 'rewrite_subject', 'quarantine']) assert.match(metrics, new RegExp(`^spamgate_smtp_transactions_total\\{listener="milter",action="${action}"\\} 1$`, 'm'));
  assert.match(metrics, /^spamgate_smtp_connections_total\{listener="milter",result="accepted"\} 1$/m);
  assert.match(metrics, /^spamgate_smtp_rejects_total\{phase="data",family="SCORE",symbol="SCORE"\} 1$/m);
});

test('a forged X-Spamgate-Result is deleted; the checks read the message without it', async (t) => {
  const gw = await startMilter(t);
  const m = await session(t, gw.milterPort);
  const eob = await transaction(m, 'plain\r\n', { extra: [['X-Spamgate-Result', ' accept; score=-100'], ['X-Spamgate-Result', ' accept; score=-50']] });
  const deletes = eob.filter((r) => r.cmd === 'm');
  assert.deepEqual(deletes.map((r) => [r.data.readUInt32BE(0), ...replyStrings(r)]), [[2, 'X-Spamgate-Result', ''], [1, 'X-Spamgate-Result', '']]);
});

test('per recipient: relaying to another domain is refused at RCPT, the local recipient continues; {auth_authen} makes the sender authenticated', async (t) => {
  const gw = await startMilter(t);
  const m = await session(t, gw.milterPort);
  m.macro('M', { i: 'Q1' });
  assert.equal((await m.step('M', cstr('<sender@remote.example>')))[0]?.cmd, 'c');
  const [refused] = await m.step('R', cstr('<someone@elsewhere.example>'));
  assert.match(replyText(refused), /^5\d\d 5\.7\.\d /);
  assert.equal((await m.step('R', cstr('<user@example.test>')))[0]?.cmd, 'c');
  const eob = await m.message(headers(), 'hi\r\n');
  assert.equal(eob.at(-1)?.cmd, 'c');
  assert.deepEqual(gw.transactions().at(-1)?.rcpts, ['user@example.test']);
  // an authenticated client may relay
  m.macro('M', { i: 'Q2', '{auth_authen}': 'alice', '{auth_type}': 'PLAIN' });
  assert.equal((await m.step('M', cstr('<alice@example.test>')))[0]?.cmd, 'c');
  assert.equal((await m.step('R', cstr('<someone@elsewhere.example>')))[0]?.cmd, 'c');
  assert.equal((await m.message(headers(), 'hi\r\n')).at(-1)?.cmd, 'c');
  assert.equal(gw.transactions().at(-1)?.auth_user, 'alice');
  // the next MAIL's macros say no more of it: not authenticated
  m.macro('M', { i: 'Q3' });
  assert.equal((await m.step('M', cstr('<sender@remote.example>')))[0]?.cmd, 'c');
  assert.match(replyText((await m.step('R', cstr('<someone@elsewhere.example>')))[0]), /^5\d\d 5\.7\.\d /);
});

test('a refused MAIL or RCPT is logged as on the SMTP listener ("refused": session, queue id, client, HELO, command, address, symbol, reply), at most smtp.max_bad_commands since the last accepted message', async (t) => {
  const gw = await startMilter(t, { smtp: { trusted_networks: [], max_bad_commands: 3, max_message_size: 1024 } });
  const m = await session(t, gw.milterPort, '203.0.113.7');
  const refused = (): Array<Record<string, unknown>> => gw.logs.filter((l) => l.msg === 'refused');
  m.macro('M', { i: 'QID1' });
  assert.match(replyText((await m.step('M', cstr('<big@remote.example>', 'SIZE=5000')))[0]), /^552 5\.3\.4 /);
  assert.equal(refused().length, 1, JSON.stringify(gw.logs));
  const mail = refused()[0];
  assert.equal(mail?.level, 'info');
  assert.equal(mail?.listener, 'milter');
  assert.equal(mail?.command, 'MAIL');
  assert.equal(mail?.address, 'big@remote.example');
  assert.equal(mail?.mta_queue_id, 'QID1');
  assert.match(String(mail?.reply), /^552 5\.3\.4 /);
  m.macro('M', { i: 'QID2' });
  assert.equal((await m.step('M', cstr('<sender@remote.example>')))[0]?.cmd, 'c');
  assert.match(replyText((await m.step('R', cstr('<victim@elsewhere.example>')))[0]), /^554 5\.7\.1 /);
  const rcpt = refused()[1];
  assert.equal(typeof rcpt?.session, 'string');
  assert.equal(rcpt?.session, mail?.session);
  assert.equal(rcpt?.mta_queue_id, 'QID2');
  assert.equal(rcpt?.client_ip, '203.0.113.7');
  assert.equal(rcpt?.helo, 'mail.remote.example');
  assert.equal(rcpt?.command, 'RCPT');
  assert.equal(rcpt?.address, 'victim@elsewhere.example');
  assert.equal(rcpt?.symbol, 'RELAY_DENIED');
  assert.match(String(rcpt?.reply), /^554 5\.7\.1 Relay access denied/);
  // the MTA goes on past max_bad_commands (its own limit ends the session): the lines stop at the bound
  for (let i = 0; i < 4; i++) assert.match(replyText((await m.step('R', cstr(`<victim${i}@elsewhere.example>`)))[0]), /^554 5\.7\.1 /);
  assert.equal(refused().length, 3);
  assert.equal(gw.logs.filter((l) => l.msg === 'refusals not logged').length, 0);
  // an accepted message starts the count again, and says how many were not logged
  assert.equal((await m.step('R', cstr('<user@example.test>')))[0]?.cmd, 'c');
  assert.equal((await m.message(headers(), 'hi\r\n')).at(-1)?.cmd, 'c');
  const summary = gw.logs.filter((l) => l.msg === 'refusals not logged');
  assert.equal(summary.length, 1);
  assert.equal(summary[0]?.count, 3);
  assert.equal(summary[0]?.session, mail?.session);
  m.macro('M', { i: 'QID3' });
  assert.equal((await m.step('M', cstr('<sender@remote.example>')))[0]?.cmd, 'c');
  assert.match(replyText((await m.step('R', cstr('<again@elsewhere.example>')))[0]), /^554 5\.7\.1 /);
  assert.equal(refused().length, 4);
  assert.equal(refused()[3]?.address, 'again@elsewhere.example');
});

test('a refusal names no queue id of an earlier message: the MTA (Postfix) gives macro i at end of message only, the next MAIL and RCPT come without one', async (t) => {
  const gw = await startMilter(t, { smtp: { trusted_networks: [] } });
  const m = await session(t, gw.milterPort, '203.0.113.8');
  const refused = (): Array<Record<string, unknown>> => gw.logs.filter((l) => l.msg === 'refused');
  m.macro('M', { '{mail_addr}': 'sender@remote.example' });
  assert.equal((await m.step('M', cstr('<sender@remote.example>')))[0]?.cmd, 'c');
  assert.equal((await m.step('R', cstr('<user@example.test>')))[0]?.cmd, 'c');
  m.macro('E', { i: 'FIRST1' });
  assert.equal((await m.message(headers(), 'hi\r\n')).at(-1)?.cmd, 'c');
  assert.equal(gw.transactions().at(-1)?.mta_queue_id, 'FIRST1');
  // the next message on the session: its queue id is not known yet at MAIL and RCPT
  m.macro('M', { '{mail_addr}': 'sender@remote.example' });
  assert.equal((await m.step('M', cstr('<sender@remote.example>')))[0]?.cmd, 'c');
  assert.match(replyText((await m.step('R', cstr('<victim@elsewhere.example>')))[0]), /^554 5\.7\.1 /);
  assert.equal(refused().length, 1, JSON.stringify(gw.logs));
  assert.equal(refused()[0]?.mta_queue_id, undefined, 'the refusal is not filed under the message before');
  // after an ABORT (RSET) neither
  m.macro('R', { i: 'SECOND2' });
  assert.equal((await m.step('R', cstr('<user@example.test>')))[0]?.cmd, 'c');
  m.send('A');
  m.macro('M', { '{mail_addr}': 'other@remote.example' });
  assert.equal((await m.step('M', cstr('<other@remote.example>')))[0]?.cmd, 'c');
  assert.match(replyText((await m.step('R', cstr('<victim2@elsewhere.example>')))[0]), /^554 5\.7\.1 /);
  assert.equal(refused()[1]?.mta_queue_id, undefined, 'the aborted transaction\'s queue id is not used');
});

test('a client name from the MTA that no DNS name can be (over 253 octets, control characters) is no name: the refused and transaction lines stay bounded', async (t) => {
  const gw = await startMilter(t, { smtp: { trusted_networks: [] } });
  const refusedRcpt = async (name: string, macroName?: string): Promise<Record<string, unknown> | undefined> => {
    const m = await MilterClient.connect(gw.milterPort);
    t.after(() => m.close());
    await m.negotiate();
    m.macro('C', macroName === undefined ? {} : { '{client_name}': macroName });
    assert.equal((await m.step('C', connectData(name, '203.0.113.9', 40000)))[0]?.cmd, 'c');
    assert.equal((await m.step('H', cstr('mail.remote.example')))[0]?.cmd, 'c');
    assert.equal((await m.step('M', cstr('<sender@remote.example>')))[0]?.cmd, 'c');
    const before = gw.logs.length;
    assert.match(replyText((await m.step('R', cstr('<victim@elsewhere.example>')))[0]), /^554 5\.7\.1 /);
    return gw.logs.slice(before).find((l) => l.msg === 'refused');
  };
  const huge = `${'a'.repeat(60)}.`.repeat(10_000) + 'example';
  const line = await refusedRcpt(huge);
  assert.ok(line, JSON.stringify(gw.logs.slice(-3)).slice(0, 500));
  assert.ok(line.client_name === undefined, `client_name of ${String(line.client_name).length} characters`);
  assert.ok(JSON.stringify(line).length < 2000, `a refused line of ${JSON.stringify(line).length} characters`);
  assert.equal((await refusedRcpt('evil.example\r\n{"msg":"forged"}'))?.client_name, undefined);
  // from the macro (the CONNECT name "unknown") as well
  assert.equal((await refusedRcpt('unknown', `${'b'.repeat(300)}.example`))?.client_name, undefined);
  // a real name is kept
  assert.equal((await refusedRcpt('mx-1.remote.example'))?.client_name, 'mx-1.remote.example');
});

test('milter.listen on a unix socket', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-milter-sock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'milter.sock');
  // a socket left by a process that is gone is replaced
  execFileSync('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sock]);
  assert.ok(lstatSync(sock).isSocket());
  await startMilter(t, { milter: { enabled: true, listen: `unix:${sock}` } });
  const m = await MilterClient.connect(sock);
  t.after(() => m.close());
  assert.equal((await m.negotiate()).version, 6);
  assert.equal((await m.step('C', connectData('mail.remote.example', '203.0.113.5', 1)))[0]?.cmd, 'c');
});

test('a message past smtp.max_message_size is refused with 552 as soon as it is, without the rest', async (t) => {
  const gw = await startMilter(t, { smtp: { trusted_networks: [], max_message_size: 1024 } });
  const m = await session(t, gw.milterPort);
  assert.equal((await m.step('M', cstr('<sender@remote.example>')))[0]?.cmd, 'c');
  assert.equal((await m.step('R', cstr('<user@example.test>')))[0]?.cmd, 'c');
  await m.step('L', cstr('Subject', ' big'));
  await m.step('N');
  const [r] = await m.step('B', Buffer.alloc(2000, 'a'));
  assert.match(replyText(r), /^552 5\.3\.4 /);
  assert.equal(gw.transactions().at(-1)?.decided_by, 'SIZE_LIMIT');
});

test('ABORT ends the transaction and the next one runs; QUIT_NC keeps the connection for a new session', async (t) => {
  const gw = await startMilter(t);
  const m = await session(t, gw.milterPort);
  assert.equal((await m.step('M', cstr('<sender@remote.example>')))[0]?.cmd, 'c');
  assert.equal((await m.step('R', cstr('<user@example.test>')))[0]?.cmd, 'c');
  m.send('A');
  assert.equal((await transaction(m, 'after abort\r\n')).at(-1)?.cmd, 'c');
  const firstId = gw.transactions().at(-1)?.session;
  m.send('K');
  assert.equal((await m.step('C', connectData('other.remote.example', '198.51.100.7', 1234)))[0]?.cmd, 'c');
  assert.equal((await transaction(m, 'second session\r\n')).at(-1)?.cmd, 'c');
  const last = gw.transactions().at(-1);
  assert.equal(last?.client_ip, '198.51.100.7');
  assert.notEqual(last?.session, firstId);
  m.send('Q');
  await m.closedPromise;
});

test('malformed input closes that connection only: oversize length, zero length, unknown command, a step before negotiation', async (t) => {
  const gw = await startMilter(t);
  const attempts: Array<(m: MilterClient) => void> = [
    (m) => m.raw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x42])),
    (m) => m.raw(Buffer.from([0, 0, 0, 0])),
    (m) => m.send('Z', cstr('what')),
    (m) => m.send('C', connectData('x', '192.0.2.1', 1)),
  ];
  for (const [i, attempt] of attempts.entries()) {
    const m = await MilterClient.connect(gw.milterPort);
    t.after(() => m.close());
    if (i !== 3) await m.negotiate();
    attempt(m);
    assert.equal(await m.read(), undefined, `attempt ${i} closes the connection`);
  }
  // a truncated CONNECT too
  const m = await MilterClient.connect(gw.milterPort);
  t.after(() => m.close());
  await m.negotiate();
  m.raw(encode('C', Buffer.from('host-without-nul')));
  assert.equal(await m.read(), undefined);
  // a network client whose address is no IP address (it is not taken for a local, trusted one)
  const bad = await MilterClient.connect(gw.milterPort);
  t.after(() => bad.close());
  await bad.negotiate();
  bad.send('C', connectData('x', 'not-an-address', 1));
  assert.equal(await bad.read(), undefined);
  // and the process serves the next MTA connection as before
  const ok = await session(t, gw.milterPort);
  assert.equal((await transaction(ok, 'still here\r\n')).at(-1)?.cmd, 'c');
});

test('milter.max_connections bounds the connections at once', async (t) => {
  const gw = await startMilter(t, { milter: { enabled: true, listen: '127.0.0.1:0', max_connections: 1 } });
  const first = await session(t, gw.milterPort);
  const second = await MilterClient.connect(gw.milterPort);
  t.after(() => second.close());
  await second.closedPromise;
  assert.equal((await transaction(first, 'the first one works\r\n')).at(-1)?.cmd, 'c');
});

test('a slow scan: SMFIR_PROGRESS every milter.progress until the verdict (here clamd hangs: 451)', async (t) => {
  const clamd = await startHungClamd(t);
  const gw = await startMilter(t, {
    antivirus: { enabled: true, clamd: clamd.address, timeout: '1500ms' },
    milter: { enabled: true, listen: '127.0.0.1:0', progress: '200ms' },
  });
  const m = await session(t, gw.milterPort);
  const eob = await transaction(m, 'scan me slowly\r\n');
  const progress = eob.filter((r) => r.cmd === 'p').length;
  assert.ok(progress >= 4, `progress packets: ${progress}`);
  assert.match(replyText(eob.at(-1)), /^451 4\.7\.1 /);
});

test('a connection silent for milter.timeout is closed', async (t) => {
  const gw = await startMilter(t, { milter: { enabled: true, listen: '127.0.0.1:0', timeout: '1s' } });
  const m = await session(t, gw.milterPort);
  const started = Date.now();
  await m.closedPromise;
  const waited = Date.now() - started;
  assert.ok(waited >= 900 && waited < 5000, `closed after ${waited} ms`);
  await waitForLog(gw, 'idle timeout');
});

async function waitForLog(gw: RunningGateway, reason: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!gw.logs.some((l) => l.msg === 'milter connection closed' && l.reason === reason)) {
    if (Date.now() > deadline) throw new Error(`no log line for ${reason}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('an MTA speaking an older protocol version gets that version back (Postfix refuses a milter whose version is above its own)', async (t) => {
  const gw = await startMilter(t);
  for (const version of [2, 4, 6]) {
    const m = await MilterClient.connect(gw.milterPort);
    t.after(() => m.close());
    assert.equal((await m.negotiate(0x3f, 0x7f, version)).version, version);
  }
});

test('only the actions the MTA granted are used: no header changes without ADDHDRS/CHGHDRS, no quarantine without QUARANTINE (451 instead)', async (t) => {
  const gw = await startMilter(t);
  const m = await MilterClient.connect(gw.milterPort);
  t.after(() => m.close());
  assert.equal((await m.negotiate(0, 0x1fffff)).actions, 0);
  m.macro('C', { j: 'mta.example.test' });
  assert.equal((await m.step('C', connectData('mail.remote.example', '203.0.113.5', 40000)))[0]?.cmd, 'c');
  assert.equal((await m.step('H', cstr('mail.remote.example')))[0]?.cmd, 'c');
  const tagged = await transaction(m, 'Hello, TAG-MARKER here.\r\n', { subject: 'tag me', extra: [['X-Spamgate-Result', ' accept; forged']] });
  assert.deepEqual(tagged.map((r) => r.cmd), ['c']);
  const held = await transaction(m, 'Hello, HOLD-MARKER here.\r\n');
  assert.deepEqual(held.map((r) => r.cmd), ['y']);
  assert.match(replyText(held[0]), /^451 4\.7\.1 /);
  assert.equal(gw.transactions().at(-1)?.action, 'tempfail');
});

test('a recipient with a BATV tag at our domains: the MTA is told to deliver to the plain address (DELRCPT of the tag, ADDRCPT of the plain one)', async (t) => {
  const gw = await startMilter(t);
  const m = await session(t, gw.milterPort);
  const tagged = 'prvs=1000000000=user@example.test';
  const eob = await transaction(m, 'Thanks for your mail.\r\n', { rcpts: [tagged, 'other@example.test'] });
  assert.equal(eob.at(-1)?.cmd, 'c');
  assert.deepEqual(eob.filter((r) => r.cmd === '-' || r.cmd === '+').map((r) => [r.cmd, replyStrings(r)[0]]), [
    ['-', `<${tagged}>`],
    ['+', '<user@example.test>'],
  ]);
  assert.deepEqual(gw.transactions().at(-1)?.rcpts, ['user@example.test', 'other@example.test']);
  // the next transaction has no replacement left over
  const next = await transaction(m, 'Another one.\r\n');
  assert.ok(!next.some((r) => r.cmd === '-' || r.cmd === '+'));
  // an MTA that does not grant recipient changes is not asked for them
  const few = await MilterClient.connect(gw.milterPort);
  t.after(() => few.close());
  await few.negotiate(0x01 | 0x10 | 0x20, 0x1fffff);
  assert.equal((await few.step('C', connectData('mail.remote.example', '203.0.113.5', 40000)))[0]?.cmd, 'c');
  const kept = await transaction(few, 'Thanks.\r\n', { rcpts: [tagged] });
  assert.ok(!kept.some((r) => r.cmd === '-' || r.cmd === '+'));
});

test('a BATV-tagged recipient padded past any address (half a megabyte of spaces) is told back bounded: DELRCPT of the address, not of every byte the MTA sent, and none of them kept', async (t) => {
  const gw = await startMilter(t);
  const m = await session(t, gw.milterPort);
  const tagged = 'prvs=1000000000=user@example.test';
  m.macro('M', { i: 'PAD1' });
  assert.equal((await m.step('M', cstr('<sender@remote.example>')))[0]?.cmd, 'c');
  assert.equal((await m.step('R', cstr(`<${tagged}>${' '.repeat(500_000)}`)))[0]?.cmd, 'c');
  const eob = await m.message(headers(), 'Thanks.\r\n');
  assert.equal(eob.at(-1)?.cmd, 'c');
  const changes = eob.filter((r) => r.cmd === '-' || r.cmd === '+');
  assert.deepEqual(changes.map((r) => [r.cmd, replyStrings(r)[0]]), [
    ['-', `<${tagged}>`],
    ['+', '<user@example.test>'],
  ]);
});

test('a client refused at CONNECT (limits.per_ip.connections) is counted as on the SMTP listener: by the refusing symbol, not also as accepted', async (t) => {
  const gw = await startMilter(t, { limits: { per_ip: { connections: { limit: 1, window: '1h' } } } });
  await session(t, gw.milterPort);
  const m = await MilterClient.connect(gw.milterPort);
  t.after(() => m.close());
  await m.negotiate();
  const [r] = await m.step('C', connectData('mail.remote.example', '203.0.113.5', 40001));
  assert.match(replyText(r), /^421 4\.7\.0 /);
  const metrics = await gw.app.registry.metrics();
  assert.match(metrics, /^spamgate_smtp_connections_total\{listener="milter",result="accepted"\} 1$/m);
  assert.match(metrics, /^spamgate_smtp_connections_total\{listener="milter",result="rate_ip_connections"\} 1$/m);
  assert.match(metrics, /^spamgate_smtp_connections_active\{listener="milter"\} 1$/m);
});

test('a tagged message without a Subject gets one appended (SMFIR_ADDHEADER), never above the MTA trace fields', async (t) => {
  const gw = await startMilter(t);
  const m = await session(t, gw.milterPort);
  m.macro('M', { i: 'ABC124' });
  assert.equal((await m.step('M', cstr('<sender@remote.example>')))[0]?.cmd, 'c');
  assert.equal((await m.step('R', cstr('<user@example.test>')))[0]?.cmd, 'c');
  const eob = await m.message([['Received', ' from mail.remote.example by mta.example.test'], ['From', ' sender@remote.example'], ['To', ' user@example.test']], 'Hello, TAG-MARKER here.\r\n');
  assert.ok(!eob.some((r) => r.cmd === 'i' && replyStrings(r)[0] === 'Subject' && r.data.readUInt32BE(0) === 0), 'no Subject inserted at the top');
  const add = eob.find((r) => r.cmd === 'h');
  assert.ok(add, 'a Subject is added');
  assert.deepEqual(replyStrings(add), ['Subject', ' ***SPAM***']);
});

test('a connection that never negotiates is closed after 10s, whatever milter.timeout (an MTA negotiates at once)', { timeout: 30_000 }, async (t) => {
  const gw = await startMilter(t);
  const m = await MilterClient.connect(gw.milterPort);
  t.after(() => m.close());
  const started = Date.now();
  await m.closedPromise;
  const waited = Date.now() - started;
  assert.ok(waited >= 9000 && waited < 15_000, `closed after ${waited} ms`);
  await waitForLog(gw, 'no option negotiation');
});

test('a field the checks wrote folded (Authentication-Results) goes to the MTA with LF line breaks, no CR (the MTA would keep it in the line)', async (t) => {
  const gw = await startMilter(t, { checks: { disabled: DNS_CHECKS.filter((c) => c !== 'dkim_dmarc') } });
  const m = await session(t, gw.milterPort);
  const eob = await transaction(m, 'Hello there.\r\n');
  const ar = eob.find((r) => r.cmd === 'i' && replyStrings(r)[0] === 'Authentication-Results');
  assert.ok(ar, `Authentication-Results inserted: ${eob.map((r) => r.cmd).join(',')}`);
  const value = replyStrings(ar)[1] ?? '';
  assert.match(value, /\n/, 'folded');
  assert.doesNotMatch(value, /\r/);
  for (const r of eob.filter((x) => x.cmd === 'i' || x.cmd === 'm' || x.cmd === 'h')) assert.doesNotMatch(replyStrings(r)[1] ?? '', /\r/);
});
