// Lines over 998 octets end to end (RFC 5322 §2.1.1, RFC 5321 §4.5.3.1.6), through a running front-of gateway to a
// sink upstream, every DKIM signature checked by a verifier that looks keys up in the test DNS. Our own mail (a
// trusted-network client, signed) reaches the next hop re-encoded with short lines, signed and decoding to what
// was sent; a header that cannot be folded is refused at DATA; mail relayed for others goes byte for byte, and a
// next hop's refusal of a long line says so in the bounce.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import type { DKIMSignOptions } from 'mailauth';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { parseMail } from '../../src/mime/parse.ts';
import { keygen, verifierAt } from '../helpers/dkim-keys.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import { startGateway, TEST_PASSWORD } from '../helpers/gateway.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { DNS_CHECKS } from '../helpers/quarantine-rules.ts';
import { startSink } from '../helpers/sink-server.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const longest = (raw: Buffer): number => Math.max(...raw.toString('latin1').split('\r\n').map((l) => l.length));

/** A key for relay.example in the test DNS, a sink upstream, and a front-of gateway; `trusted`: 127.0.0.1 is a trusted network (our own mail). */
async function rig(t: TestContext, trusted: boolean, smtp: Record<string, unknown> = {}) {
  const key = await keygen(tempDir(t, 'spamgate-longlines-'), 'relay.example', 'll');
  const dns = await startDnsServer({ [key.name]: [{ TXT: key.record }] });
  t.after(() => dns.close());
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, {
    mode: 'front-of',
    local_domains: ['relay.example'],
    delivery: { upstream: { host: '127.0.0.1', port: sink.port } },
    queue: { scan_interval: '100ms' },
    bayes: { enabled: false },
    checks: { disabled: DNS_CHECKS },
    ...(trusted ? { dkim: { sign: [{ domain: 'relay.example', selector: 'll', key: key.file }] }, smtp } : { smtp: { trusted_networks: [], ...smtp } }),
  });
  return { key, sink, gw, verify: verifierAt(dns.server) };
}

const head = (subject: string, extra: string[] = []): string[] => [
  'From: Writer <writer@relay.example>',
  'To: user@relay.example',
  `Subject: ${subject}`,
  'Date: Mon, 7 Dec 2026 10:00:00 +0000',
  `Message-ID: <${subject.slice(0, 20).replace(/\W/g, '')}@test>`,
  ...extra,
];
const LONG_TEXT = `${'Grüße aus Köln, '.repeat(312)}end`; // 5,000+ octets in UTF-8
const LONG_HTML = `<html><body>${'<p>paragraph</p>'.repeat(400)}</body></html>`;
const WORDS = Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ');

test('our own signed mail: a 5,000-octet text line, a long HTML line and a long header reach the next hop re-encoded, signed, and read the same', async (t) => {
  const { sink, gw, verify } = await rig(t, true);
  const plain = [...head('plain'), 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', 'Hello,', LONG_TEXT, 'bye', ''].join('\r\n');
  const html = [
    ...head(`html ${WORDS}`, ['MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary="alt"']),
    '',
    '--alt',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'short text part',
    '--alt',
    'Content-Type: text/html; charset=us-ascii',
    '',
    LONG_HTML,
    '--alt--',
    '',
  ].join('\r\n');
  for (const m of [plain, html]) {
    const sent = await sendMessage(gw.smtpPort, 'writer@relay.example', ['user@relay.example'], Buffer.from(m, 'utf8'));
    assert.equal(sent.data?.code, 250, sent.data?.text);
  }
  await sink.waitForMessages(2);
  for (const got of sink.messages) {
    assert.ok(longest(got.raw) <= 998, `longest line ${longest(got.raw)}`);
    assert.deepEqual((await verify(got.raw)).map((r) => `${r.result} ${r.domain}`), ['pass relay.example'], 'the signature made over the re-encoded message verifies');
  }
  const textCopy = sink.messages.find((m) => m.raw.includes('Subject: plain\r\n'));
  assert.ok(textCopy);
  const text = textCopy.raw.toString('latin1');
  assert.match(text, /^Content-Transfer-Encoding: quoted-printable\r$/m);
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  assert.ok(Math.max(...body.split('\r\n').map((l) => l.length)) <= 76, 'quoted-printable lines within 76');
  assert.equal(parseMail(textCopy.raw).text, `Hello,\r\n${LONG_TEXT}\r\nbye\r\n`);
  const htmlCopy = sink.messages.find((m) => m.raw.includes('Subject: html'));
  assert.ok(htmlCopy);
  const parsed = parseMail(htmlCopy.raw);
  assert.equal(parsed.html?.trim(), LONG_HTML);
  assert.equal(parsed.text?.trim(), 'short text part');
  assert.equal(parsed.headers.find((h) => h.name.toLowerCase() === 'subject')?.value.replace(/\r\n/g, ''), `html ${WORDS}`, 'the folded Subject unfolds to the one sent');
  assert.match(htmlCopy.raw.toString('latin1'), /--alt\r\nContent-Type: text\/plain; charset=us-ascii\r\n\r\nshort text part\r\n--alt/, 'the short part as it was');
});

test('our own mail with a long header that has no white space to fold at is refused at DATA with 554 5.6.0, and sent nowhere', async (t) => {
  const { sink, gw } = await rig(t, true);
  const m = [...head('token', [`X-Token: ${'t'.repeat(1500)}`]), '', 'body', ''].join('\r\n');
  const sent = await sendMessage(gw.smtpPort, 'writer@relay.example', ['user@relay.example'], m);
  assert.equal(sent.data?.code, 554, sent.data?.text);
  assert.match(sent.data?.text ?? '', /^5\.6\.0 .*"X-Token".*998/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(sink.messages.length, 0);
});

test('an authenticated submission with a 5,000-octet line is delivered quoted-printable and signed; one with an unfoldable header gets 554 5.6.0', async (t) => {
  const key = await keygen(tempDir(t, 'spamgate-longlines-'), 'mail.example', 'sub');
  const dns = await startDnsServer({ [key.name]: [{ TXT: key.record }] });
  t.after(() => dns.close());
  const verify = verifierAt(dns.server);
  const gw = await startGateway(t, {
    local_domains: ['localhost', 'mail.example'],
    aliases: { 'team@mail.example': 'postmaster@localhost' },
    smtp: { trusted_networks: [] },
    bayes: { enabled: false },
    checks: { disabled: DNS_CHECKS },
    dkim: { sign: [{ domain: 'mail.example', selector: 'sub', key: key.file }] },
  });
  const line = Array.from({ length: 1100 }, (_, i) => `w${i}`).join(' ');
  assert.ok(line.length > 4000);
  const submit = async (extra: string[]): Promise<{ code: number; text: string }> => {
    const { wire } = await SmtpWire.open(gw.submissionPort ?? 0);
    try {
      await wire.command('EHLO client.test.example');
      assert.equal((await wire.command(`AUTH PLAIN ${Buffer.from(`\0postmaster@localhost\0${TEST_PASSWORD}`).toString('base64')}`)).code, 235);
      assert.equal((await wire.command('MAIL FROM:<postmaster@localhost>')).code, 250);
      assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
      assert.equal((await wire.command('DATA')).code, 354);
      wire.write([...head('submitted', extra).map((h) => h.replace('writer@relay.example', 'team@mail.example')), 'Content-Type: text/plain; charset=us-ascii', '', line, ''].join('\r\n'));
      return await wire.command('.', 10_000);
    } finally {
      wire.close();
    }
  };
  const refused = await submit([`X-Blob: ${'b'.repeat(2000)}`]);
  assert.equal(refused.code, 554, refused.text);
  assert.match(refused.text, /^5\.6\.0 .*"X-Blob"/);
  assert.equal((await submit([])).code, 250);
  const deadline = Date.now() + 10_000;
  while (maildirMessages(gw.dataDir).length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const stored = maildirMessages(gw.dataDir);
  assert.equal(stored.length, 1, 'the refused one was not delivered');
  const raw = Buffer.from(stored[0] ?? '', 'latin1');
  assert.ok(longest(raw) <= 998, `longest line ${longest(raw)}`);
  assert.match(stored[0] ?? '', /^Content-Transfer-Encoding: quoted-printable\r$/m);
  assert.equal(parseMail(raw).text, `${line}\r\n`);
  assert.deepEqual((await verify(raw)).map((r) => `${r.result} ${r.domain}`), ['pass mail.example']);
});

test('mail relayed for others is not rewritten: a signed message with a 5,000-octet line arrives byte for byte and still verifies', async (t) => {
  const { key, sink, gw, verify } = await rig(t, false);
  const original = Buffer.from([...head('relayed signed'), '', 'Hi,', LONG_TEXT, ''].join('\r\n'), 'utf8');
  const signature = { signingDomain: 'relay.example', selector: 'll', privateKey: readFileSync(key.file, 'utf8') };
  const res = await dkimSign(original, { ...signature, signatureData: [signature], canonicalization: 'relaxed/relaxed' } as DKIMSignOptions);
  assert.ok(res.signatures);
  const signed = Buffer.concat([Buffer.from(res.signatures, 'latin1'), original]);
  const unsigned = Buffer.from([...head('relayed unsigned'), '', LONG_TEXT, ''].join('\r\n'), 'utf8');
  for (const m of [signed, unsigned]) assert.equal((await sendMessage(gw.smtpPort, 'someone@sender.example', ['user@relay.example'], m)).data?.code, 250);
  await sink.waitForMessages(2);
  for (const [m, subject] of [[signed, 'relayed signed'], [unsigned, 'relayed unsigned']] as const) {
    const got = sink.messages.find((s) => s.raw.includes(`Subject: ${subject}\r\n`));
    assert.ok(got, subject);
    assert.ok(got.raw.subarray(got.raw.length - m.length).equals(m), `${subject}: byte for byte below our trace fields`);
  }
  const got = sink.messages.find((s) => s.raw.includes('Subject: relayed signed\r\n'));
  assert.deepEqual((await verify(got?.raw ?? Buffer.alloc(0))).map((r) => r.result), ['pass']);
});

test("a next hop that refuses a relayed long line: the bounce's diagnostic names the line length", async (t) => {
  const { sink, gw } = await rig(t, false);
  sink.rule({ stage: 'data', code: 550, text: '5.5.0 Line too long', times: 1 });
  const m = [...head('refused long'), '', LONG_TEXT, ''].join('\r\n');
  assert.equal((await sendMessage(gw.smtpPort, 'writer@relay.example', ['user@relay.example'], m)).data?.code, 250);
  await sink.waitForMessages(1);
  const bounce = sink.messages[0];
  assert.ok(bounce);
  assert.equal(bounce.mailFrom, '');
  const text = bounce.raw.toString('latin1');
  assert.match(text, /Diagnostic-Code: smtp; 550 5\.5\.0 Line too long \[spamgate: the message has a line of 5\d{3} octets; RFC 5322 section 2\.1\.1 allows 998/);
  assert.ok(longest(bounce.raw) <= 998, `the bounce itself keeps within 998 (longest ${longest(bounce.raw)})`);
});

test('our own mail that re-encoding takes past smtp.max_message_size is refused at DATA with 552 5.3.4, not accepted and bounced later', async (t) => {
  const { sink, gw } = await rig(t, true, { max_message_size: 30_000 });
  // 24,000 octets of UTF-8 in one line: within the limit as sent, three times it in quoted-printable
  const m = [...head('grown'), 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', 'ü'.repeat(12_000), ''].join('\r\n');
  assert.ok(Buffer.byteLength(m) < 30_000);
  const sent = await sendMessage(gw.smtpPort, 'writer@relay.example', ['user@relay.example'], Buffer.from(m, 'utf8'));
  assert.equal(sent.data?.code, 552, sent.data?.text);
  assert.match(sent.data?.text ?? '', /^5\.3\.4 .*30000/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(sink.messages.length, 0);
});
