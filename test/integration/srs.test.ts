// SRS end to end over real sockets: an alias forwards to a remote member with an SRS0 sender, a bounce to that
// address reaches the original sender's server with <>, bad hashes, expired stamps and non-bounces get 550 at
// RCPT, SRS1 for another forwarder's SRS0, null and local senders kept, the secret file made once and reused.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { srsReverse, srsTimestamp } from '../../src/mailhost/srs.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';

const DAY = 86_400_000;
const mx = (name: string) => ({ [name]: [{ MX: [10, `mx.${name}`] as [number, string] }], [`mx.${name}`]: [{ A: '127.0.0.1' }] });
// Every remote domain's MX is the sink (outbound.port): the alias member's server and the original sender's.
const ZONES = { ...mx('remote.example'), ...mx('gmail.example'), ...mx('forwarder1.example') };
const ALIASES = { 'team@localhost': ['postmaster@localhost', 'carol@remote.example'] };

async function setup(
  t: test.TestContext,
  opts: { clock?: { now(): number }; dataDir?: string; srs?: Record<string, unknown>; aliases?: Record<string, string | string[]> } = {},
): Promise<{ gw: RunningGateway; sink: SinkServer }> {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(
    t,
    { aliases: { ...ALIASES, ...opts.aliases }, outbound: { port: sink.port }, ...(opts.srs ? { srs: opts.srs } : {}) },
    { zones: ZONES, ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.dataDir ? { dataDir: opts.dataDir } : {}) },
  );
  return { gw, sink };
}

/** Sends to the alias and returns the envelope sender of the copy that reached carol's server. */
async function forwardedSender(gw: RunningGateway, sink: SinkServer, from: string, subject: string): Promise<string> {
  const before = sink.messages.length;
  const r = await sendMessage(gw.smtpPort, from, ['team@localhost'], `Subject: ${subject}\r\n\r\nhello team\r\n`);
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  await sink.waitForMessages(before + 1, 20_000);
  const copy = sink.messages.slice(before).find((m) => m.rcptTo.includes('carol@remote.example') && m.raw.toString().includes(`Subject: ${subject}`));
  assert.ok(copy, 'the remote member got a copy');
  return copy.mailFrom;
}

/** The RCPT reply for one recipient after MAIL FROM (no data sent). */
async function rcptReply(port: number, from: string, rcpt: string): Promise<{ code: number; text: string }> {
  const { wire } = await SmtpWire.open(port);
  try {
    await wire.command('EHLO client.test.example');
    assert.equal((await wire.command(`MAIL FROM:<${from}>`)).code, 250);
    return await wire.command(`RCPT TO:<${rcpt}>`);
  } finally {
    wire.close();
  }
}

const secretOf = (gw: RunningGateway): string => readFileSync(path.join(gw.dataDir, 'srs.secret'), 'utf8').split('\n')[0]?.trim() ?? '';

test('a forward gets an SRS0 sender; a bounce to it reaches the original sender with <>; tampering and non-bounces get 550', async (t) => {
  const { gw, sink } = await setup(t);
  const srsFrom = await forwardedSender(gw, sink, 'Alice@gmail.example', 'forward one');
  const m = /^SRS0=([^=]{4})=([A-Z2-7]{2})=gmail\.example=Alice@localhost$/.exec(srsFrom);
  assert.ok(m, srsFrom);
  // The hash, computed here from the secret file by the scheme: base64(HMAC-SHA1(secret, stamp+domain+local lower-cased)).
  const [, hash = '', stamp = ''] = m;
  assert.equal(hash, createHmac('sha1', secretOf(gw)).update(`${stamp}gmail.examplealice`.toLowerCase()).digest('base64').slice(0, 4));
  assert.deepEqual(srsReverse(srsFrom.split('@')[0] ?? '', { secrets: [secretOf(gw)], maxAgeDays: 21, nowMs: Date.now() }), { kind: 'ok', scheme: 'SRS0', address: 'Alice@gmail.example' });

  // carol's server refuses later: its bounce (from <>) to the SRS address goes back to alice's server.
  const before = sink.messages.length;
  const bounce = await sendMessage(gw.smtpPort, '', [srsFrom], 'Subject: Undelivered Mail Returned to Sender\r\n\r\ncarol is gone\r\n');
  assert.equal(bounce.data?.code, 250, JSON.stringify(bounce.replies));
  await sink.waitForMessages(before + 1, 20_000);
  const returned = sink.messages.slice(before).find((msg) => msg.raw.toString().includes('carol is gone'));
  assert.deepEqual(returned?.rcptTo, ['Alice@gmail.example']);
  assert.equal(returned?.mailFrom, '', 'the null sender is kept');

  // The hash checked: one character changed in it, or in what it covers, is refused at RCPT.
  // another letter whatever the case (hashes compare case-insensitively: an 'a' flipped to 'A' was no tampering)
  const flip = (c: string): string => (c.toLowerCase() === 'a' ? 'B' : 'A');
  const tampered = [`SRS0=${flip(hash[0] ?? '')}${hash.slice(1)}=${stamp}=gmail.example=Alice@localhost`, srsFrom.replace('=Alice@', '=Alicf@'), srsFrom.replace('=gmail.example=', '=evil.example=')];
  for (const rcpt of tampered) {
    const reply = await rcptReply(gw.smtpPort, '', rcpt);
    assert.equal(reply.code, 550, rcpt);
    assert.match(reply.text, /^5\.1\.1 .*SRS/, rcpt);
  }
  // Case changed by some MTA on the way: still ours.
  assert.equal((await rcptReply(gw.smtpPort, '', srsFrom.toUpperCase().replace('@LOCALHOST', '@localhost'))).code, 250);
  // srs.bounces_only: a captured address is no way to mail alice through us.
  const spam = await rcptReply(gw.smtpPort, 'spammer@elsewhere.example', srsFrom);
  assert.equal(spam.code, 550);
  assert.match(spam.text, /^5\.7\.1 .*bounces only/);

  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  assert.match(metrics, /^spamgate_srs_forward_total\{result="srs0"\} 1$/m);
  assert.match(metrics, /^spamgate_srs_reverse_total\{result="srs0"\} 2$/m);
  assert.match(metrics, /^spamgate_srs_reverse_total\{result="bad_hash"\} 3$/m);
  assert.match(metrics, /^spamgate_srs_reverse_total\{result="not_bounce"\} 1$/m);
});

test('an SRS address older than srs.max_age gets 550 5.1.1 (clock moved on)', async (t) => {
  let offset = 0;
  const { gw, sink } = await setup(t, { clock: { now: () => Date.now() + offset }, srs: { max_age: '10d' } });
  const srsFrom = await forwardedSender(gw, sink, 'alice@gmail.example', 'aging');
  offset = 10 * DAY;
  assert.equal((await rcptReply(gw.smtpPort, '', srsFrom)).code, 250, 'ten days old: still good');
  offset = 11 * DAY;
  const late = await rcptReply(gw.smtpPort, '', srsFrom);
  assert.equal(late.code, 550);
  assert.match(late.text, /^5\.1\.1 /);
  assert.ok(gw.logs.some((l) => l.msg === 'SRS address refused' && l.reason === 'expired'), 'the log says why');
});

test("another forwarder's SRS0 sender becomes SRS1, and a bounce to it goes back to that forwarder's SRS0 address", async (t) => {
  // A catch-all on the SRS domain takes unknown users, but not SRS addresses that fail their check.
  const { gw, sink } = await setup(t, { aliases: { '@localhost': 'postmaster@localhost' } });
  const theirs = 'SRS0=AbCd=ZZ=orig.example=bob@forwarder1.example';
  const srsFrom = await forwardedSender(gw, sink, theirs, 'second hop');
  assert.match(srsFrom, /^SRS1=[^=]{4}=forwarder1\.example==AbCd=ZZ=orig\.example=bob@localhost$/);
  const before = sink.messages.length;
  const bounce = await sendMessage(gw.smtpPort, '', [srsFrom], 'Subject: bounce\r\n\r\nsecond hop bounced\r\n');
  assert.equal(bounce.data?.code, 250, JSON.stringify(bounce.replies));
  await sink.waitForMessages(before + 1, 20_000);
  const returned = sink.messages.slice(before).find((msg) => msg.raw.toString().includes('second hop bounced'));
  assert.deepEqual(returned?.rcptTo, [theirs], 'to the first forwarder, which reverses its own SRS0');
  assert.equal(returned?.mailFrom, '');
  const bad = await rcptReply(gw.smtpPort, '', srsFrom.replace(/^SRS1=[^=]{4}=/, 'SRS1=ZZZZ='));
  assert.equal(bad.code, 550);
  assert.equal((await rcptReply(gw.smtpPort, '', 'SRS0=junk@localhost')).code, 550, 'malformed');
  assert.equal((await rcptReply(gw.smtpPort, '', 'nobody@localhost')).code, 250, 'the catch-all still works for the rest');
});

test('the null sender and senders in local domains are forwarded as they are; srs.enabled: false keeps every sender', async (t) => {
  const { gw, sink } = await setup(t);
  assert.equal(await forwardedSender(gw, sink, '', 'from null'), '');
  assert.equal(await forwardedSender(gw, sink, 'postmaster@localhost', 'from local'), 'postmaster@localhost');
  await t.test('srs off', async (st) => {
    const off = await setup(st, { srs: { enabled: false } });
    assert.equal(await forwardedSender(off.gw, off.sink, 'alice@gmail.example', 'srs off'), 'alice@gmail.example');
    // Without SRS an SRS-looking address is just an unknown user.
    assert.equal((await rcptReply(off.gw.smtpPort, '', 'SRS0=abcd=AA=gmail.example=alice@localhost')).code, 550);
  });
});

test('the secret file is made at first start with mode 0600 and reused after a restart', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-srs-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  let srsFrom = '';
  let secret = '';
  await t.test('first start', async (st) => {
    const { gw, sink } = await setup(st, { dataDir });
    const file = path.join(dataDir, 'srs.secret');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    secret = readFileSync(file, 'utf8');
    assert.match(secret, /^[A-Za-z0-9+/]{43}=\n$/, '32 random bytes in base64, one line');
    srsFrom = await forwardedSender(gw, sink, 'alice@gmail.example', 'before restart');
  });
  await t.test('second start', async (st) => {
    const { gw } = await setup(st, { dataDir });
    assert.equal(readFileSync(path.join(dataDir, 'srs.secret'), 'utf8'), secret, 'the same secret');
    assert.equal((await rcptReply(gw.smtpPort, '', srsFrom)).code, 250, 'an address made before the restart is still good');
  });
});

test("spamgate's own failure notice for a forwarded copy goes to the SRS address and on to the original sender", async (t) => {
  const { gw, sink } = await setup(t);
  sink.rule({ stage: 'rcpt', rcpt: 'carol@remote.example', code: 550, text: '5.1.1 carol is gone' });
  const r = await sendMessage(gw.smtpPort, 'alice@gmail.example', ['team@localhost'], 'Subject: to a gone member\r\n\r\nhello team\r\n');
  assert.equal(r.data?.code, 250);
  await sink.waitForMessages(1, 20_000);
  const notice = sink.messages.find((m) => m.rcptTo.includes('alice@gmail.example'));
  assert.ok(notice, JSON.stringify(sink.messages.map((m) => [m.mailFrom, m.rcptTo])));
  assert.equal(notice.mailFrom, '');
  assert.match(notice.raw.toString(), /carol is gone/);
  assert.match(notice.raw.toString(), /^Final-Recipient: rfc822; carol@remote\.example/m);
  // It went by way of the SRS address: delivered there (locally, into a new queue entry), then by MX.
  const viaSrs = (): boolean => gw.logs.some((l) => l.msg === 'message done' && /"SRS0=[^"]+@localhost":"delivered"/.test(JSON.stringify(l.recipients)));
  const until = Date.now() + 10_000;
  while (!viaSrs() && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
  assert.ok(viaSrs(), JSON.stringify(gw.logs.filter((l) => l.msg === 'message done').map((l) => l.recipients)));
});

test('srs.secret_file: the first secret signs, every one verifies (rotation); none is made in the data dir', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-srs-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  writeFileSync(path.join(dataDir, 'rotated.secret'), 'the-new-secret-0123456789\nthe-old-secret-0123456789\n', { mode: 0o600 });
  const { gw, sink } = await setup(t, { dataDir, srs: { secret_file: path.join(dataDir, 'rotated.secret') } });
  const stampNow = srsTimestamp(Date.now());
  const address = (secret: string, local: string): string =>
    `SRS0=${createHmac('sha1', secret).update(`${stampNow}gmail.example${local}`.toLowerCase()).digest('base64').slice(0, 4)}=${stampNow}=gmail.example=${local}@localhost`;
  const srsFrom = await forwardedSender(gw, sink, 'erin@gmail.example', 'rotation');
  assert.equal(srsFrom, address('the-new-secret-0123456789', 'erin'), 'signed with the first line');
  assert.equal((await rcptReply(gw.smtpPort, '', address('the-old-secret-0123456789', 'frank'))).code, 250, 'an address of the old secret still comes back');
  assert.equal((await rcptReply(gw.smtpPort, '', address('a-secret-never-configured', 'frank'))).code, 550);
  assert.equal(existsSync(path.join(dataDir, 'srs.secret')), false);

  // a reload (SIGHUP) reads the file again: a third secret put first signs, the oldest dropped no longer verifies
  writeFileSync(path.join(dataDir, 'rotated.secret'), 'the-third-secret-012345678\nthe-new-secret-0123456789\n', { mode: 0o600 });
  assert.equal(gw.app.reload().ok, true);
  assert.ok(gw.logs.some((l) => l.msg === 'SRS secrets reloaded' && l.secrets === 2));
  assert.equal(await forwardedSender(gw, sink, 'erin@gmail.example', 'rotation 2'), address('the-third-secret-012345678', 'erin'));
  assert.equal((await rcptReply(gw.smtpPort, '', address('the-new-secret-0123456789', 'frank'))).code, 250);
  assert.equal((await rcptReply(gw.smtpPort, '', address('the-old-secret-0123456789', 'frank'))).code, 550, 'a dropped secret');
  // a file broken meanwhile (open to other users, then empty) keeps the running secrets, logged with the file
  for (const [body, mode] of [['the-fourth-secret-01234567\n', 0o644], ['', 0o600]] as const) {
    writeFileSync(path.join(dataDir, 'rotated.secret'), body, { mode });
    chmodSync(path.join(dataDir, 'rotated.secret'), mode);
    assert.equal(gw.app.reload().ok, true, 'the rest of the reload goes on');
    assert.equal((await rcptReply(gw.smtpPort, '', address('the-third-secret-012345678', 'frank'))).code, 250);
  }
  assert.equal(gw.logs.filter((l) => l.msg === 'SRS secrets not reloaded, keeping the running ones' && String(l.error).includes('rotated.secret')).length, 2);
  assert.equal(await forwardedSender(gw, sink, 'erin@gmail.example', 'rotation 3'), address('the-third-secret-012345678', 'erin'));
});
