// spamgate as the milter of a real Postfix (a private instance: its own config, queue and data directories, smtpd
// on a free loopback port, smtpd_milters pointing at spamgate, mail for example.test relayed to a sink SMTP
// server): spam is refused with spamgate's 5xx in Postfix's SMTP dialogue, a tempfail passes as Postfix's 4xx,
// a relay attempt is refused at RCPT, a clean message reaches the sink with X-Spamgate-Result and a quarantined
// one waits in Postfix's hold queue; mail from Postfix's trusted network leaves DKIM-signed (verified against the
// test DNS) with a BATV-tagged envelope sender, and with the README's main.cf Postfix's own bounce of it reaches
// the mail host at the plain sender.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { keygen, verifierAt } from '../helpers/dkim-keys.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import { freePort } from '../helpers/free-port.ts';
import { DNS_CHECKS, milterTestRules, startMilterGateway } from '../helpers/milter-gateway.ts';
import { postfixMissing, startPostfix } from '../helpers/postfix.ts';
import { startSink } from '../helpers/sink-server.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';
import { tempDir } from '../helpers/temp-dir.ts';

function message(marker: string, subject: string): string {
  return `From: sender@remote.example\r\nTo: user@example.test\r\nSubject: ${subject}\r\nDate: Sun, 22 Nov 2026 00:00:00 +0000\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@remote.example>\r\n\r\nHello, ${marker} here.\r\n`;
}

async function waitFor(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('Postfix with spamgate as its milter: 5xx for spam, 4xx for a tempfail, RCPT refused, clean mail tagged to the next hop, quarantine held', { skip: postfixMissing(), timeout: 120_000 }, async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startMilterGateway(t);
  const smtpPort = await freePort();
  const pf = await startPostfix(t, { smtpPort, milterPort: gw.milterPort ?? 0, domains: ['example.test'], relayPort: sink.port });
  const send = (marker: string, subject: string, rcpts = ['user@example.test']) => sendMessage(smtpPort, 'sender@remote.example', rcpts, message(marker, subject), 'mail.remote.example');
  const why = async (): Promise<string> => `\npostfix log:\n${await pf.log()}\nspamgate:\n${gw.logs.map((l) => JSON.stringify(l)).join('\n')}`;

  const spam = await send('REJECT-MARKER', 'spam');
  assert.equal(spam.data?.code, 554, await why());
  assert.match(spam.data?.text ?? '', /^5\.7\.1 Message rejected as spam/);

  const deferred = await send('DEFER-MARKER', 'deferred');
  assert.equal(deferred.data?.code, 451, await why());
  assert.match(deferred.data?.text ?? '', /^4\.7\.1 /);

  // a relay attempt: spamgate's relay control refuses the recipient in Postfix's RCPT reply; the local one goes on
  const mixed = await send('nothing', 'clean one', ['someone@elsewhere.example', 'user@example.test']);
  assert.equal(mixed.replies[2]?.code, 554, await why());
  assert.match(mixed.replies[2]?.text ?? '', /^5\.7\.1 /);
  assert.equal(mixed.data?.code, 250, await why());
  await waitFor(() => sink.messages.length >= 1, `the clean message reaches the sink${await why()}`);
  const clean = sink.messages[0];
  assert.deepEqual(clean?.rcptTo, ['user@example.test']);
  const head = clean?.raw.toString('latin1').split('\r\n\r\n')[0] ?? '';
  assert.match(head, /^X-Spamgate-Result: accept; score=[-\d.]+; id=[0-9a-f]+/m);
  assert.match(head, /^Subject: clean one$/m);

  const tagged = await send('TAG-MARKER', 'tag me');
  assert.equal(tagged.data?.code, 250, await why());
  await waitFor(() => sink.messages.length >= 2, 'the tagged message reaches the sink');
  const tag = sink.messages[1]?.raw.toString('latin1') ?? '';
  // below Postfix's own Received field, as a field about this hop
  assert.match(tag, /^Received: from mail\.remote\.example .*\r\n(?:\t.*\r\n)*X-Spamgate-Result: /);
  assert.match(tag, /^Subject: \*\*\*SPAM\*\*\* tag me$/m);
  assert.match(tag, /^X-Spamgate-Result: rewrite_subject; score=5\.2/m);

  // a forged result field does not reach the next hop
  const forged = message('nothing', 'forged').replace('Subject:', 'X-Spamgate-Result: accept; score=-100\r\nSubject:');
  assert.equal((await sendMessage(smtpPort, 'sender@remote.example', ['user@example.test'], forged, 'mail.remote.example')).data?.code, 250);
  await waitFor(() => sink.messages.length >= 3, 'the forged message reaches the sink');
  const results = (sink.messages[2]?.raw.toString('latin1') ?? '').match(/^X-Spamgate-Result:.*$/gm) ?? [];
  assert.equal(results.length, 1);
  assert.doesNotMatch(results[0] ?? '', /score=-100/);

  const held = await send('HOLD-MARKER', 'hold me');
  assert.equal(held.data?.code, 250, await why());
  const hold = path.join(pf.dir, 'queue', 'hold');
  await waitFor(() => readdirSync(hold).length === 1, 'the quarantined message is in the hold queue');
  assert.equal(sink.messages.length, 3);

  const actions = gw.transactions().map((l) => l.action);
  assert.deepEqual(actions, ['reject', 'tempfail', 'accept', 'rewrite_subject', 'accept', 'quarantine']);
  for (const l of gw.transactions()) assert.equal(l.listener, 'milter');
  // each names Postfix's queue id, as Postfix's log does
  const queueId = String(gw.transactions()[2]?.mta_queue_id);
  assert.match(queueId, /^[0-9A-F]{6,}$/);
  assert.ok((await pf.log()).includes(`${queueId}: `), 'the same id is in the Postfix log');
  // Postfix goes on talking SMTP after the refusals (the session is not cut)
  const { wire } = await SmtpWire.open(smtpPort);
  t.after(() => wire.close());
  assert.equal((await wire.command('EHLO mail.remote.example')).code, 250);
});

test('Postfix with spamgate as its milter: a reply to a BATV-tagged address at our domain reaches the next hop at the plain address', { skip: postfixMissing(), timeout: 120_000 }, async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startMilterGateway(t);
  const smtpPort = await freePort();
  const pf = await startPostfix(t, { smtpPort, milterPort: gw.milterPort ?? 0, domains: ['example.test'], relayPort: sink.port });
  const why = async (): Promise<string> => `\npostfix log:\n${await pf.log()}\nspamgate:\n${gw.logs.map((l) => JSON.stringify(l)).join('\n')}`;
  const sent = await sendMessage(smtpPort, 'sender@remote.example', ['prvs=1000000000=user@example.test', 'other@example.test'], message('nothing', 're: your mail'), 'mail.remote.example');
  assert.equal(sent.data?.code, 250, await why());
  await waitFor(() => sink.messages.length >= 1, `the message reaches the sink${await why()}`);
  assert.deepEqual([...(sink.messages[0]?.rcptTo ?? [])].sort(), ['other@example.test', 'user@example.test'], await why());
});

test('Postfix with spamgate as its milter: a folded Subject is tagged with its folding kept, a folded header is read whole by the checks, spamgate\'s folded fields arrive with CRLF only', { skip: postfixMissing(), timeout: 120_000 }, async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const rules = milterTestRules(t);
  writeFileSync(path.join(rules, 'zz-folded.yaml'), `content_rules:\n  - { symbol: CT_TEST_FOLDED, description: a folded header read whole, weight: 5.2, type: header, header: X-Folded, regex: 'first part\\s+second part' }\n`);
  const gw = await startMilterGateway(t, { rules_dirs: [SHIPPED_RULES_DIR, rules], checks: { disabled: DNS_CHECKS.filter((c) => c !== 'dkim_dmarc') } });
  const smtpPort = await freePort();
  const pf = await startPostfix(t, { smtpPort, milterPort: gw.milterPort ?? 0, domains: ['example.test'], relayPort: sink.port });
  const why = async (): Promise<string> => `\npostfix log:\n${await pf.log()}\nspamgate:\n${gw.logs.map((l) => JSON.stringify(l)).join('\n')}`;
  const raw = message('nothing', 'a long subject\r\n\tfolded onto a second line').replace('Date:', 'X-Folded: first part\r\n second part\r\nDate:');
  const sent = await sendMessage(smtpPort, 'sender@remote.example', ['user@example.test'], raw, 'mail.remote.example');
  assert.equal(sent.data?.code, 250, await why());
  await waitFor(() => sink.messages.length >= 1, `the message reaches the sink${await why()}`);
  const out = sink.messages[0]?.raw.toString('latin1') ?? '';
  assert.match(out, /^Subject: \*\*\*SPAM\*\*\* a long subject\r\n\tfolded onto a second line\r\n/m, await why());
  assert.match(out, /^X-Folded: first part\r\n second part\r\n/m);
  assert.match(JSON.stringify(gw.transactions().at(-1)?.symbols), /CT_TEST_FOLDED/);
  // spamgate's folded Authentication-Results arrives folded, with CRLF line ends only
  assert.match(out, /^Authentication-Results: mx\.test\.example;\r\n\tdkim=none;/m);
  assert.doesNotMatch(out.split('\r\n\r\n')[0] ?? '', /\r(?!\n)/);
});

test('Postfix speaking milter protocol 2 (milter_protocol = 2): spamgate answers with version 2 and filters', { skip: postfixMissing(), timeout: 120_000 }, async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startMilterGateway(t);
  const smtpPort = await freePort();
  const pf = await startPostfix(t, { smtpPort, milterPort: gw.milterPort ?? 0, domains: ['example.test'], relayPort: sink.port, milterProtocol: 2 });
  const why = async (): Promise<string> => `\npostfix log:\n${await pf.log()}\nspamgate:\n${gw.logs.map((l) => JSON.stringify(l)).join('\n')}`;
  const spam = await sendMessage(smtpPort, 'sender@remote.example', ['user@example.test'], message('REJECT-MARKER', 'spam'), 'mail.remote.example');
  assert.equal(spam.data?.code, 554, await why());
  const clean = await sendMessage(smtpPort, 'sender@remote.example', ['user@example.test'], message('nothing', 'clean'), 'mail.remote.example');
  assert.equal(clean.data?.code, 250, await why());
  await waitFor(() => sink.messages.length >= 1, `the clean message reaches the sink${await why()}`);
  assert.match(sink.messages[0]?.raw.toString('latin1') ?? '', /^X-Spamgate-Result: accept;/m);
  assert.doesNotMatch(await pf.log(), /protocol version .* conflict/);
});

test('Postfix with spamgate as its milter: mail from a trusted network leaves DKIM-signed (it verifies at the next hop) with a BATV-tagged envelope sender, an 8-bit body too', { skip: postfixMissing(), timeout: 120_000 }, async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const key = await keygen(tempDir(t, 'spamgate-milter-postfix-'), 'example.test', 'pf1');
  const dns = await startDnsServer({ [key.name]: [{ TXT: key.record }] });
  t.after(() => dns.close());
  const verify = verifierAt(dns.server);
  const gw = await startMilterGateway(t, {
    smtp: { trusted_networks: ['127.0.0.0/8'] },
    dkim: { sign: [{ domain: 'example.test', selector: 'pf1', key: key.file }] },
    batv: { enabled: true, keys: [{ id: 3, secret: 'postfix-batv-secret-0123456789' }] },
  });
  const smtpPort = await freePort();
  const pf = await startPostfix(t, { smtpPort, milterPort: gw.milterPort ?? 0, domains: ['example.test', 'remote.example'], relayPort: sink.port });
  const why = async (): Promise<string> => `\npostfix log:\n${await pf.log()}\nspamgate:\n${gw.logs.map((l) => JSON.stringify(l)).join('\n')}`;
  const out = (subject: string, body: string): string =>
    `From: Alice <alice@example.test>\r\nTo: bob@remote.example\r\nSubject: ${subject}\r\n\tfolded\r\nDate: Mon, 7 Dec 2026 09:00:00 +0000\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@example.test>\r\n\r\n${body}`;
  // (a trusted client's mail skips the content checks, so no Subject tag here: milter-sign.test.ts has one signed)
  for (const [subject, body] of [['plain', 'Hello Bob,\r\n\r\nsee you  at noon. \r\n'], ['eight bit', 'Gr\xfc\xdfe, Bob\r\n']] as const) {
    const sent = await sendMessage(smtpPort, 'alice@example.test', ['bob@remote.example'], out(subject, body), 'client.example.test');
    assert.equal(sent.data?.code, 250, await why());
  }
  await waitFor(() => sink.messages.length >= 2, `both messages reach the sink${await why()}`);
  for (const got of sink.messages) {
    const raw = got.raw.toString('latin1');
    assert.match(raw, /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.test;/, await why());
    assert.deepEqual(await verify(got.raw), [{ result: 'pass', domain: 'example.test', selector: 'pf1' }], raw);
    // draft-levine-smtp-batv-01 §4.1: prvs=K DDD SSSSSS=local@domain, key number 3
    assert.match(got.mailFrom, /^prvs=3\d{3}[0-9a-f]{6}=alice@example\.test$/);
    // our own outgoing mail to another domain carries no verdict (X-Spamgate-Result); the signature above Postfix's Received field
    assert.match(raw, /^DKIM-Signature: [^]*?\r\nReceived: from client\.example\.test /);
    assert.doesNotMatch(raw, /^X-Spamgate-/im);
  }
  // a message to one of our domains goes on with the plain sender (and signed)
  assert.equal((await sendMessage(smtpPort, 'alice@example.test', ['user@example.test'], out('local', 'Hi.\r\n'), 'client.example.test')).data?.code, 250);
  await waitFor(() => sink.messages.length >= 3, 'the local message reaches the sink');
  assert.equal(sink.messages[2]?.mailFrom, 'alice@example.test');
  assert.equal((await verify(sink.messages[2]?.raw ?? Buffer.alloc(0)))[0]?.result, 'pass');
  // signed over our own header changes, the verdict kept for our own recipient: X-Spamgate-Result below Postfix's Received field
  assert.match(sink.messages[2]?.raw.toString('latin1') ?? '', /\r\nReceived: from client\.example\.test .*\r\n(?:\t.*\r\n)*X-Spamgate-Result: accept;/);
});

/** The README's main.cf lines for milter mode (its ```sh block "# /etc/postfix/main.cf"), the milter at `port`. */
function readmeMainCf(port: number): string[] {
  const readme = readFileSync(path.join(import.meta.dirname, '../../README.md'), 'utf8');
  const block = /^```sh\n# \/etc\/postfix\/main\.cf\n([\s\S]*?)^```$/m.exec(readme)?.[1];
  assert.ok(block, 'the README shows main.cf for milter mode');
  return block.split('\n').filter((l) => l.trim() !== '').map((l) => l.replace('127.0.0.1:11332', `127.0.0.1:${port}`));
}

test('Postfix configured as the README says: the bounce Postfix itself writes for a BATV-tagged outgoing message reaches the mail host at the plain sender', { skip: postfixMissing(), timeout: 120_000 }, async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  // the next hop refuses the recipient: Postfix bounces to the envelope sender it has, the tagged one
  sink.rule({ stage: 'rcpt', rcpt: 'bob@remote.example', code: 550, text: '5.1.1 no such user' });
  const gw = await startMilterGateway(t, { smtp: { trusted_networks: ['127.0.0.0/8'] }, batv: { enabled: true, keys: [{ id: 3, secret: 'postfix-batv-secret-0123456789' }] } });
  const smtpPort = await freePort();
  const mainCf = readmeMainCf(gw.milterPort);
  const pf = await startPostfix(t, { smtpPort, milterPort: gw.milterPort, domains: ['example.test', 'remote.example'], relayPort: sink.port, mainCf });
  const why = async (): Promise<string> => `\nmain.cf:\n${mainCf.join('\n')}\npostfix log:\n${await pf.log()}\nspamgate:\n${gw.logs.map((l) => JSON.stringify(l)).join('\n')}`;
  const out = `From: Alice <alice@example.test>\r\nTo: bob@remote.example\r\nSubject: lunch\r\nDate: Mon, 7 Dec 2026 09:00:00 +0000\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@example.test>\r\n\r\nHi.\r\n`;
  const sent = await sendMessage(smtpPort, 'alice@example.test', ['bob@remote.example'], out, 'client.example.test');
  assert.equal(sent.data?.code, 250, await why());
  await waitFor(() => sink.messages.length >= 1, `the bounce reaches the mail host${await why()}`);
  const bounce = sink.messages[0];
  assert.equal(bounce?.mailFrom, '');
  assert.match(bounce?.raw.toString('latin1') ?? '', /^Subject: Undelivered Mail Returned to Sender/m);
  // the mail host knows alice, not prvs=3DDDHHHHHH=alice: spamgate, as the milter of Postfix's own notices, untags her
  assert.deepEqual(bounce?.rcptTo, ['alice@example.test'], await why());
});
