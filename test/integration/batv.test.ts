// BATV end to end over real sockets: a user's submission goes out to the MX with a prvs= sender, the message
// itself untouched; a bounce to it is delivered to the plain address; forged, expired, unknown-key and malformed
// tags get 550 5.7.1 at RCPT; an unsigned bounce is scored; replies (a sender) to a tagged address are delivered;
// a rotated-out key still passes while listed; front-of mode signs only the transaction for other domains.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { prvsSign } from '../../src/batv/prvs.ts';
import { hashPassword } from '../../src/mailhost/password.ts';
import { startGateway, TEST_PASSWORD, type RunningGateway } from '../helpers/gateway.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';

const DAY = 86_400_000;
const CURRENT = { id: 1, secret: 'current-batv-secret-0123456789ab' };
const OLD = { id: 0, secret: 'older-batv-secret-zyxwvutsrqponml' };
const ZONES = { 'remote.example': [{ MX: [10, 'mx.remote.example'] as [number, string] }], 'mx.remote.example': [{ A: '127.0.0.1' }] };

async function fullStack(t: test.TestContext, clock?: { now(): number }): Promise<{ gw: RunningGateway; sink: SinkServer }> {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(
    t,
    // nothing trusted: the MX-side tests are mail from the world; our own mail comes by submission with AUTH
    { smtp: { trusted_networks: [] }, outbound: { port: sink.port }, aliases: { 'abuse@localhost': 'postmaster@localhost' }, batv: { enabled: true, keys: [CURRENT, OLD] } },
    { zones: ZONES, ...(clock ? { clock } : {}) },
  );
  return { gw, sink };
}

/** Submits one message as postmaster@localhost (AUTH PLAIN on loopback) and returns the final reply. */
async function submit(port: number, rcpts: string[], body: string): Promise<number> {
  const { wire } = await SmtpWire.open(port);
  try {
    await wire.command('EHLO client.test.example');
    const auth = Buffer.from(`\0postmaster@localhost\0${TEST_PASSWORD}`).toString('base64');
    assert.equal((await wire.command(`AUTH PLAIN ${auth}`)).code, 235);
    assert.equal((await wire.command('MAIL FROM:<postmaster@localhost>')).code, 250);
    for (const r of rcpts) assert.equal((await wire.command(`RCPT TO:<${r}>`)).code, 250, r);
    assert.equal((await wire.command('DATA')).code, 354);
    wire.write(body);
    return (await wire.command('.', 10_000)).code;
  } finally {
    wire.close();
  }
}

async function rcptReply(port: number, from: string, rcpt: string): Promise<{ code: number; text: string }> {
  const { wire } = await SmtpWire.open(port);
  try {
    await wire.command('EHLO bouncer.test.example');
    assert.equal((await wire.command(`MAIL FROM:<${from}>`)).code, 250);
    return await wire.command(`RCPT TO:<${rcpt}>`);
  } finally {
    wire.close();
  }
}

async function metric(gw: RunningGateway, result: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  const m = new RegExp(`^spamgate_batv_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text);
  assert.ok(m, `spamgate_batv_total{result="${result}"} exported`);
  return Number(m[1]);
}

test('submission goes out with a prvs= sender (headers untouched); a bounce to it reaches the plain address; forged, expired and malformed tags get 550', async (t) => {
  let offset = 0;
  const { gw, sink } = await fullStack(t, { now: () => Date.now() + offset });
  assert.equal(await metric(gw, 'signed'), 0, 'every result exported from the start');
  assert.ok(gw.submissionPort);
  const body = 'From: postmaster@localhost\r\nTo: carol@remote.example\r\nSubject: batv out\r\n\r\nhello carol\r\n';
  assert.equal(await submit(gw.submissionPort, ['carol@remote.example'], body), 250);
  await sink.waitForMessages(1, 20_000);
  const out = sink.messages[0];
  assert.ok(out);
  const m = /^prvs=1(\d{3})([0-9a-f]{6})=postmaster@localhost$/.exec(out.mailFrom);
  assert.ok(m, out.mailFrom);
  const [, ddd = '', hash = ''] = m;
  // draft-levine-smtp-batv-01 §4.1, computed here: DDD the expiry day (today + 7) mod 1000, HMAC-SHA1 over K DDD address
  assert.equal(Number(ddd), (Math.floor(Date.now() / DAY) + 7) % 1000);
  assert.equal(hash, createHmac('sha1', CURRENT.secret).update(`1${ddd}postmaster@localhost`).digest('hex').slice(0, 6));
  // the envelope only: the header fields keep the plain address
  assert.match(out.raw.toString(), /^From: postmaster@localhost\r$/m);
  assert.doesNotMatch(out.raw.toString(), /prvs=/i);
  assert.equal(await metric(gw, 'signed'), 1);

  // carol's server bounces: MAIL FROM:<> to the tagged address is taken and delivered to postmaster@localhost
  const bounce = await sendMessage(gw.smtpPort, '', [out.mailFrom.replace(/^prvs=(\d{4})([0-9a-f]{6})/, (_m, kd: string, h: string) => `PRVS=${kd}${h.toUpperCase()}`)], 'Subject: Undelivered Mail\r\n\r\ncarol is gone\r\n');
  assert.equal(bounce.data?.code, 250, JSON.stringify(bounce.replies));
  const delivered = gw.transactions().at(-1);
  assert.deepEqual(delivered?.rcpts, ['postmaster@localhost'], 'the tag is removed (hex and prefix without regard to case)');
  assert.doesNotMatch(JSON.stringify(delivered?.symbols), /BATV/);
  assert.equal(await metric(gw, 'valid'), 1);

  // a forged hash, another address under a real tag, an unknown key number, a malformed tag: 550 5.7.1 at RCPT
  const forged = [
    out.mailFrom.replace(/^(prvs=1\d{3})[0-9a-f]{6}/, '$1abcdef'),
    out.mailFrom.replace('=postmaster@', '=abuse@'),
    out.mailFrom.replace(/^prvs=1/, 'prvs=7'),
  ];
  for (const rcpt of forged) {
    const reply = await rcptReply(gw.smtpPort, '', rcpt);
    assert.equal(reply.code, 550, rcpt);
    assert.match(reply.text, /^5\.7\.1 Bounce address tag invalid or expired \((bad_hash|unknown_key)\)/, rcpt);
  }
  // an unreadable tag is no address of ours: refused (here the user directory's 5.1.1 comes first), never a crash
  for (const rcpt of ['prvs=1x23abcdef=postmaster@localhost', `prvs=${'='.repeat(2000)}@localhost`, 'prvs=@localhost']) {
    const reply = await rcptReply(gw.smtpPort, '', rcpt);
    assert.ok(reply.code >= 500, `${rcpt.slice(0, 40)}: ${reply.code} ${reply.text}`);
  }
  assert.ok((await metric(gw, 'invalid')) >= 3);
  // the tag expires after batv.max_age (7 days): on the 8th day it is refused
  offset = 7 * DAY;
  assert.equal((await rcptReply(gw.smtpPort, '', out.mailFrom)).code, 250, 'seven days on: still valid');
  offset = 8 * DAY;
  const late = await rcptReply(gw.smtpPort, '', out.mailFrom);
  assert.equal(late.code, 550);
  assert.match(late.text, /\(expired\)/);
  assert.ok(gw.transactions().length >= 1);
});

test('an unsigned bounce is scored (BATV_UNSIGNED_BOUNCE), postmaster exempt; a reply with a sender to a tagged address is delivered plain; an old key still passes', async (t) => {
  const { gw } = await fullStack(t);
  const unsigned = await sendMessage(gw.smtpPort, '', ['postmaster@localhost'], 'Subject: Out of office\r\n\r\naway\r\n');
  assert.equal(unsigned.data?.code, 250, 'scored, not refused');
  // RFC 5321 §4.5.1: postmaster takes bounces without a tag; the alias-free test user is postmaster, so another local part
  assert.doesNotMatch(JSON.stringify(gw.transactions().at(-1)?.symbols), /BATV_UNSIGNED_BOUNCE/);
  const other = await rcptReply(gw.smtpPort, '', 'nobody@localhost');
  assert.equal(other.code, 550, 'unknown users are still unknown');
  assert.equal(await metric(gw, 'unsigned'), 1, 'the bounce to nobody, not the one to postmaster');

  // a tag made with the old key (rotation: key 0 still listed) passes
  const old = prvsSign('postmaster@localhost', OLD, Date.now(), 7);
  const viaOld = await sendMessage(gw.smtpPort, '', [old], 'Subject: bounce of old mail\r\n\r\nold\r\n');
  assert.equal(viaOld.data?.code, 250, JSON.stringify(viaOld.replies));
  assert.deepEqual(gw.transactions().at(-1)?.rcpts, ['postmaster@localhost']);

  // a reply to the envelope sender (some MTAs do): not a bounce, the tag removed whatever it is
  const reply = await sendMessage(gw.smtpPort, 'dave@remote.example', ['prvs=1000000000=postmaster@localhost'], 'Subject: re\r\n\r\nthanks\r\n');
  assert.equal(reply.data?.code, 250, JSON.stringify(reply.replies));
  assert.deepEqual(gw.transactions().at(-1)?.rcpts, ['postmaster@localhost']);
  assert.doesNotMatch(JSON.stringify(gw.transactions().at(-1)?.symbols), /BATV/);
});

test('an unsigned bounce to a user other than postmaster gets BATV_UNSIGNED_BOUNCE', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, {
    smtp: { trusted_networks: [] },
    outbound: { port: sink.port },
    aliases: { 'alice@localhost': 'postmaster@localhost' },
    batv: { enabled: true, keys: [CURRENT] },
  });
  const r = await sendMessage(gw.smtpPort, '', ['alice@localhost'], 'Subject: Undelivered Mail\r\n\r\nyou never sent this\r\n');
  assert.equal(r.data?.code, 250);
  const tx = gw.transactions().at(-1);
  assert.match(JSON.stringify(tx?.symbols), /"s":"BATV_UNSIGNED_BOUNCE","score":3/);
  assert.equal(await metric(gw, 'unsigned'), 1);
});

test('front-of mode: trusted-network mail is handed to the upstream with a prvs= sender for other domains only; a bounce to the tag is handed on to the plain address', async (t) => {
  const upstream = await startSink();
  t.after(() => upstream.close());
  const gw = await startGateway(t, {
    mode: 'front-of',
    local_domains: ['example.org'],
    delivery: { upstream: { host: '127.0.0.1', port: upstream.port } },
    batv: { enabled: true, keys: [CURRENT] },
  });
  // 127.0.0.1 is in the default trusted_networks: our own mail
  const r = await sendMessage(gw.smtpPort, 'alice@example.org', ['bob@remote.example', 'carol@example.org'], 'From: alice@example.org\r\nSubject: mixed\r\n\r\nhi\r\n');
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  await upstream.waitForMessages(2, 20_000);
  const remote = upstream.messages.find((m) => m.rcptTo.includes('bob@remote.example'));
  const local = upstream.messages.find((m) => m.rcptTo.includes('carol@example.org'));
  assert.match(remote?.mailFrom ?? '', /^prvs=1\d{3}[0-9a-f]{6}=alice@example\.org$/);
  assert.equal(local?.mailFrom, 'alice@example.org', 'our own domain gets the plain sender (the upstream delivers it)');
  assert.deepEqual(remote?.rcptTo, ['bob@remote.example']);

  // the bounce comes back through spamgate: handed on to alice@example.org, the tag removed
  const bounce = await sendMessage(gw.smtpPort, '', [remote?.mailFrom ?? ''], 'Subject: Undelivered\r\n\r\nbob is gone\r\n');
  assert.equal(bounce.data?.code, 250, JSON.stringify(bounce.replies));
  await upstream.waitForMessages(3, 20_000);
  const back = upstream.messages[2];
  assert.deepEqual(back?.rcptTo, ['alice@example.org']);
  assert.equal(back?.mailFrom, '');
});

test('the null sender and senders of domains not signed are handed on as they are', async (t) => {
  const upstream = await startSink();
  t.after(() => upstream.close());
  const gw = await startGateway(t, {
    mode: 'front-of',
    local_domains: ['example.org', 'example.net'],
    delivery: { upstream: { host: '127.0.0.1', port: upstream.port } },
    batv: { enabled: true, keys: [CURRENT], domains: ['example.org'] },
  });
  for (const from of ['', 'alice@example.net', 'SRS0=AbCd=ZZ=orig.example=bob@example.org']) {
    const r = await sendMessage(gw.smtpPort, from, ['bob@remote.example'], 'Subject: as is\r\n\r\nhi\r\n');
    assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  }
  await upstream.waitForMessages(3, 20_000);
  assert.deepEqual(upstream.messages.map((m) => m.mailFrom).sort(), ['', 'SRS0=AbCd=ZZ=orig.example=bob@example.org', 'alice@example.net']);
});

test('key rotation through batv.key_file and reload: the new key signs, the old one still validates; a broken file keeps the running keys', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-batv-keys-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keyFile = path.join(dir, 'batv.keys');
  writeFileSync(keyFile, `${OLD.id} ${OLD.secret}\n`, { mode: 0o600 });
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(
    t,
    { smtp: { trusted_networks: [] }, outbound: { port: sink.port }, batv: { enabled: true, key_file: 'batv.keys' } },
    { zones: ZONES, configFile: path.join(dir, 'spamgate.yaml') },
  );
  assert.ok(gw.submissionPort);
  assert.equal(await submit(gw.submissionPort, ['carol@remote.example'], 'Subject: before\r\n\r\nx\r\n'), 250);
  await sink.waitForMessages(1, 20_000);
  const before = sink.messages[0]?.mailFrom ?? '';
  assert.match(before, /^prvs=0\d{3}[0-9a-f]{6}=postmaster@localhost$/);

  // a new key first, the old one kept for the tags out there
  writeFileSync(keyFile, `# rotated\n${CURRENT.id} ${CURRENT.secret}\n${OLD.id} ${OLD.secret}\n`);
  assert.equal(gw.app.reload().ok, true);
  assert.equal(await submit(gw.submissionPort, ['carol@remote.example'], 'Subject: after\r\n\r\nx\r\n'), 250);
  await sink.waitForMessages(2, 20_000);
  assert.match(sink.messages[1]?.mailFrom ?? '', /^prvs=1\d{3}[0-9a-f]{6}=postmaster@localhost$/);
  assert.equal((await rcptReply(gw.smtpPort, '', before)).code, 250, 'a tag of the old key still passes');

  // a key file others can read fails the reload; the running keys stay
  chmodSync(keyFile, 0o644);
  const failed = gw.app.reload();
  assert.equal(failed.ok, false);
  assert.match(failed.ok ? '' : failed.error, /batv\.key_file.*open to other users/);
  assert.equal((await rcptReply(gw.smtpPort, '', before)).code, 250);
  chmodSync(keyFile, 0o600);
  // the old key dropped: its tags are refused
  writeFileSync(keyFile, `${CURRENT.id} ${CURRENT.secret}\n`);
  assert.equal(gw.app.reload().ok, true);
  const dropped = await rcptReply(gw.smtpPort, '', before);
  assert.equal(dropped.code, 550);
  assert.match(dropped.text, /\(unknown_key\)/);
});

/** A full-stack gateway with BATV and an alias team@localhost forwarding to carol@remote.example, and outside mail to team forwarded (SRS) to the sink. */
async function aliasForwardSent(t: TestContext): Promise<{ gw: RunningGateway; sink: SinkServer }> {
  const sink = await startSink();
  t.after(() => sink.close());
  const zones = { ...ZONES, 'gmail.example': [{ MX: [10, 'mx.remote.example'] as [number, string] }] };
  const gw = await startGateway(
    t,
    { smtp: { trusted_networks: [] }, outbound: { port: sink.port }, aliases: { 'team@localhost': ['carol@remote.example'] }, batv: { enabled: true, keys: [CURRENT] } },
    { zones },
  );
  const outside = await sendMessage(gw.smtpPort, 'alice@gmail.example', ['team@localhost'], 'Subject: from outside\r\n\r\nhi team\r\n');
  assert.equal(outside.data?.code, 250, JSON.stringify(outside.replies));
  await sink.waitForMessages(1, 20_000);
  return { gw, sink };
}

test('with SRS: an alias forward of outside mail goes out with its SRS sender, untagged; a user\'s own mail forwarded by the alias gets the tag', async (t) => {
  const { gw, sink } = await aliasForwardSent(t);
  assert.match(sink.messages[0]?.mailFrom ?? '', /^SRS0=[^=]{4}=[A-Z2-7]{2}=gmail\.example=alice@localhost$/, 'SRS, and no tag on it');
  assert.ok(gw.submissionPort);
  assert.equal(await submit(gw.submissionPort, ['team@localhost'], 'Subject: from a user\r\n\r\nhi team\r\n'), 250);
  await sink.waitForMessages(2, 20_000);
  assert.match(sink.messages[1]?.mailFrom ?? '', /^prvs=1\d{3}[0-9a-f]{6}=postmaster@localhost$/);
});

test('a sender written with capitals: a bounce that comes back with the address in another case (all upper, all lower) still passes', async (t) => {
  const { gw, sink } = await fullStack(t);
  assert.ok(gw.submissionPort);
  const { wire } = await SmtpWire.open(gw.submissionPort);
  try {
    await wire.command('EHLO client.test.example');
    const auth = Buffer.from(`\0postmaster@localhost\0${TEST_PASSWORD}`).toString('base64');
    assert.equal((await wire.command(`AUTH PLAIN ${auth}`)).code, 235);
    assert.equal((await wire.command('MAIL FROM:<PostMaster@localhost>')).code, 250);
    assert.equal((await wire.command('RCPT TO:<carol@remote.example>')).code, 250);
    assert.equal((await wire.command('DATA')).code, 354);
    wire.write('From: PostMaster@localhost\r\nSubject: caps\r\n\r\nhi\r\n');
    assert.equal((await wire.command('.', 10_000)).code, 250);
  } finally {
    wire.close();
  }
  await sink.waitForMessages(1, 20_000);
  const signed = sink.messages[0]?.mailFrom ?? '';
  assert.match(signed, /^prvs=1\d{3}[0-9a-f]{6}=PostMaster@localhost$/, 'the sender keeps its case');
  for (const back of [signed, signed.toUpperCase(), signed.toLowerCase()]) {
    const reply = await rcptReply(gw.smtpPort, '', back);
    assert.equal(reply.code, 250, `${back}: ${reply.code} ${reply.text}`);
  }
});

test('with SRS: a bounce (MAIL FROM:<>) to an SRS address of a forward is judged by the SRS rules, not scored as an unsigned BATV bounce', async (t) => {
  const { gw, sink } = await aliasForwardSent(t);
  const srs = sink.messages[0]?.mailFrom ?? '';
  assert.match(srs, /^SRS0=/);
  // carol's server bounces the forwarded copy to its SRS sender: a genuine bounce, SRS-checked
  const bounce = await sendMessage(gw.smtpPort, '', [srs], 'Subject: Undelivered Mail\r\n\r\ncarol is gone\r\n');
  assert.equal(bounce.data?.code, 250, JSON.stringify(bounce.replies));
  assert.doesNotMatch(JSON.stringify(gw.transactions().at(-1)?.symbols), /BATV/);
  assert.equal(await metric(gw, 'unsigned'), 0, 'an SRS bounce is no unsigned BATV bounce');
});

test('BATV turned off, or a domain taken out of batv.domains: bounces to the tags still out there reach the plain address', async (t) => {
  // off (by reload, say): a tag written while it was on comes back within its days; the user is there
  const off = await startGateway(t, { smtp: { trusted_networks: [] }, aliases: { 'alice@localhost': 'postmaster@localhost' }, batv: { enabled: false } });
  const tag = prvsSign('alice@localhost', CURRENT, Date.now() - DAY, 7);
  const bounce = await sendMessage(off.smtpPort, '', [tag], 'Subject: Undelivered Mail\r\n\r\nbob is gone\r\n');
  assert.equal(bounce.data?.code, 250, JSON.stringify(bounce.replies));
  assert.deepEqual(off.transactions().at(-1)?.rcpts, ['alice@localhost']);
  const reply = await sendMessage(off.smtpPort, 'dave@remote.example', [tag.replace(/^prvs=(\d{4})([0-9a-f]{6})/, (_m, kd: string, h: string) => `PRVS=${kd}${h.toUpperCase()}`)], 'Subject: re\r\n\r\nthanks\r\n');
  assert.equal(reply.data?.code, 250, JSON.stringify(reply.replies));
  assert.deepEqual(off.transactions().at(-1)?.rcpts, ['alice@localhost']);
  // a prvs= local part that is no tag is an address like any other (here unknown)
  assert.equal((await rcptReply(off.smtpPort, '', 'prvs=junk@localhost')).code, 550);

  // example.net no longer signed: its tags are handed on untagged, not judged
  const upstream = await startSink();
  t.after(() => upstream.close());
  const gw = await startGateway(t, {
    mode: 'front-of',
    local_domains: ['example.org', 'example.net'],
    smtp: { trusted_networks: [] },
    delivery: { upstream: { host: '127.0.0.1', port: upstream.port } },
    batv: { enabled: true, keys: [CURRENT], domains: ['example.org'] },
  });
  const net = await sendMessage(gw.smtpPort, '', [prvsSign('bob@example.net', CURRENT, Date.now(), 7)], 'Subject: Undelivered\r\n\r\nx\r\n');
  assert.equal(net.data?.code, 250, JSON.stringify(net.replies));
  await upstream.waitForMessages(1, 20_000);
  assert.deepEqual(upstream.messages[0]?.rcptTo, ['bob@example.net']);
  assert.doesNotMatch(JSON.stringify(gw.transactions().at(-1)?.symbols), /BATV/);
});

test('an unsigned bounce scores only its own recipient: a genuine bounce to a tag beside it in the transaction is not sent to Junk', async (t) => {
  const password = await hashPassword('batv-test-pass', { N: 1024, r: 8, p: 1 });
  const gw = await startGateway(t, {
    smtp: { trusted_networks: [] },
    users: { 'alice@localhost': { password }, 'bob@localhost': { password } },
    batv: { enabled: true, keys: [CURRENT] },
  });
  // no Date or Message-ID: 4.5 points of its own; BATV_UNSIGNED_BOUNCE (3) takes bob's copy past junk (6)
  const r = await sendMessage(gw.smtpPort, '', [prvsSign('alice@localhost', CURRENT, Date.now(), 7), 'bob@localhost'], 'Subject: Undelivered Mail\r\n\r\ngone\r\n');
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  let done: Record<string, unknown> | undefined;
  for (let i = 0; i < 200 && !done; i++) {
    await new Promise((res) => setTimeout(res, 50));
    done = gw.logs.find((l) => l.msg === 'message done');
  }
  assert.ok(done, 'delivered');
  const count = (user: string, dir: string): number => {
    const d = path.join(gw.dataDir, 'mail', 'localhost', user, 'Maildir', dir);
    return existsSync(d) ? readdirSync(d).length : 0;
  };
  assert.equal(count('bob', path.join('.Junk', 'new')), 1, 'the unsigned bounce to bob: Junk');
  assert.equal(count('alice', 'new'), 1, 'the bounce to alice\'s tag: INBOX');
  assert.equal(count('alice', path.join('.Junk', 'new')), 0);
});
