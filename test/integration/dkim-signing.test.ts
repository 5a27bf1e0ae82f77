// Outgoing DKIM signatures end to end: keys made by `spamgate dkim-keygen`, their TXT records served by the
// dns2 test server, mail through a running gateway to a sink or a mailbox, and every signature checked by a
// DKIM verifier that looks the key up in that DNS. Who is signed (trusted networks, authenticated clients),
// by which key (the From domain or its parent), what is not signed, bad key files, and a reload's new key.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { dkimKeygenCommand } from '../../src/commands/dkim-keygen.ts';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { toMailauthResolver } from '../../src/dns/mailauth-resolver.ts';
import { createResolver } from '../../src/dns/dns2-resolver.ts';
import { runCommand } from '../helpers/command-io.ts';
import { keygen, verifierAt, type DkimVerifier } from '../helpers/dkim-keys.ts';
import { startDnsServer, type Zones } from '../helpers/dns-server.ts';
import { startGateway, TEST_PASSWORD } from '../helpers/gateway.ts';
import { startSink, type SinkOptions } from '../helpers/sink-server.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';
import { tempDir as makeTempDir } from '../helpers/temp-dir.ts';

const tempDir = (t: TestContext): string => makeTempDir(t, 'spamgate-dkim-');


async function verifier(t: TestContext, zones: Zones): Promise<DkimVerifier> {
  const dns = await startDnsServer(zones);
  t.after(() => dns.close());
  return verifierAt(dns.server);
}

/** A front-of gateway relaying to `sinkPort`, signing with `sign`. */
function frontOfSigning(sinkPort: number, sign: Array<{ domain: string; selector: string; key: string }>): Record<string, unknown> {
  return { mode: 'front-of', local_domains: ['relay.example'], delivery: { upstream: { host: '127.0.0.1', port: sinkPort } }, queue: { scan_interval: '100ms' }, dkim: { sign } };
}

/** One key made by the CLI and published in the test DNS, a sink upstream (`sinkOptions`), and a front-of gateway signing with that key. */
async function oneKeyRig(t: TestContext, domain: string, selector: string, sinkOptions: SinkOptions = {}) {
  const key = await keygen(tempDir(t), domain, selector);
  const verify = await verifier(t, { [key.name]: [{ TXT: key.record }] });
  const sink = await startSink(sinkOptions);
  t.after(() => sink.close());
  const gw = await startGateway(t, frontOfSigning(sink.port, [{ domain, selector, key: key.file }]));
  return { verify, sink, gw };
}

const message = (from: string, subject: string): string =>
  `From: Sender <${from}>\r\nTo: user@relay.example\r\nSubject: ${subject}\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@test>\r\n\r\nHello,\r\n\r\nbody text  with trailing space \r\n`;

test('mail from a trusted network is signed by its From domain (or the parent domain), RSA and Ed25519, and verifies', async (t) => {
  const dir = tempDir(t);
  const rsa = await keygen(dir, 'relay.example', 's2026');
  const ed = await keygen(dir, 'ed.example', 'e1', 'ed25519');
  const verify = await verifier(t, { [rsa.name]: [{ TXT: rsa.record }], [ed.name]: [{ TXT: ed.record }] });
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, frontOfSigning(sink.port, [{ domain: 'relay.example', selector: 's2026', key: rsa.file }, { domain: 'ed.example', selector: 'e1', key: ed.file }]));
  const cases = [
    { from: 'a@relay.example', subject: 'rsa', signed: 'relay.example/s2026' },
    { from: 'b@Sub.Relay.Example', subject: 'parent', signed: 'relay.example/s2026' },
    { from: 'c@ed.example', subject: 'ed25519', signed: 'ed.example/e1' },
    { from: 'd@other.example', subject: 'nokey', signed: undefined },
  ];
  for (const c of cases) assert.equal((await sendMessage(gw.smtpPort, c.from, ['user@relay.example'], message(c.from, c.subject))).data?.code, 250, c.subject);
  await sink.waitForMessages(cases.length);
  for (const c of cases) {
    const got = sink.messages.find((m) => m.raw.toString('latin1').includes(`Subject: ${c.subject}\r\n`));
    assert.ok(got, c.subject);
    const results = await verify(got.raw);
    if (c.signed === undefined) {
      assert.deepEqual(results, [], `${c.subject}: not signed`);
      assert.doesNotMatch(got.raw.toString('latin1'), /^DKIM-Signature:/im);
      continue;
    }
    assert.deepEqual(results.map((r) => `${r.result} ${r.domain}/${r.selector}`), [`pass ${c.signed}`], c.subject);
  }
  const logged = gw.transactions().map((l) => l.dkim);
  assert.deepEqual(logged, ['relay.example s=s2026', 'relay.example s=s2026', 'ed.example s=e1', undefined]);
  const metrics = await gw.app.registry.metrics();
  assert.match(metrics, /spamgate_dkim_signatures_total\{domain="relay.example",result="signed"\} 2/);
  assert.match(metrics, /spamgate_dkim_signatures_total\{domain="ed.example",result="signed"\} 1/);
});

test('an authenticated client is signed only for its own From; an untrusted unauthenticated one is not; MAIL FROM must be its own on port 25 too', async (t) => {
  const dir = tempDir(t);
  const key = await keygen(dir, 'mail.example', 'sel');
  const verify = await verifier(t, { [key.name]: [{ TXT: key.record }] });
  const gw = await startGateway(t, {
    local_domains: ['localhost', 'mail.example'],
    aliases: { 'team@mail.example': 'postmaster@localhost', 'other@mail.example': 'someone@elsewhere.example' },
    smtp: { trusted_networks: [] },
    dkim: { sign: [{ domain: 'mail.example', selector: 'sel', key: key.file }] },
  });
  const plain = Buffer.from(`\0postmaster@localhost\0${TEST_PASSWORD}`).toString('base64');
  const cases = [
    { auth: true, from: 'team@mail.example', subject: 'own alias' },
    { auth: true, from: 'other@mail.example', subject: 'not own' },
    { auth: false, from: 'team@mail.example', subject: 'anonymous' },
  ];
  for (const c of cases) {
    const { wire } = await SmtpWire.open(gw.smtpPort);
    try {
      await wire.command('EHLO client.test.example');
      if (c.auth) {
        assert.equal((await wire.command(`AUTH PLAIN ${plain}`)).code, 235);
        const foreign = await wire.command('MAIL FROM:<other@mail.example>');
        assert.equal(foreign.code, 553, `an authenticated client's MAIL FROM is its own on the MX port too: ${foreign.text}`);
        await wire.command('RSET');
      }
      assert.equal((await wire.command('MAIL FROM:<postmaster@localhost>')).code, 250);
      assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
      assert.equal((await wire.command('DATA')).code, 354);
      wire.write(message(c.from, c.subject));
      assert.equal((await wire.command('.', 10_000)).code, 250);
    } finally {
      wire.close();
    }
  }
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (path.basename(d) === 'new' || path.basename(d) === 'cur') files.push(path.join(d, e.name));
    }
  };
  const deadline = Date.now() + 10_000;
  while (files.length < cases.length && Date.now() < deadline) {
    files.length = 0;
    walk(path.join(gw.dataDir, 'mail'));
    if (files.length < cases.length) await new Promise((r) => setTimeout(r, 50));
  }
  const stored = (subject: string): Buffer => {
    const found = files.map((f) => readFileSync(f)).find((b) => b.includes(`Subject: ${subject}\r\n`));
    assert.ok(found, `${subject}: delivered (${files.length} files)`);
    return found;
  };
  const signed = stored('own alias');
  assert.deepEqual((await verify(signed)).map((r) => `${r.result} ${r.domain}`), ['pass mail.example'], 'the delivered copy (below Return-Path and trace) verifies');
  assert.deepEqual(await verify(stored('not own')), [], "another user's From is not signed for this one");
  assert.deepEqual(await verify(stored('anonymous')), []);
  assert.deepEqual(gw.transactions().map((l) => l.dkim), ['mail.example s=sel', "not signed: From <other@mail.example> is not postmaster@localhost's", undefined]);
  const tampered = Buffer.from(signed.toString('latin1').replace('Subject: own alias', 'Subject: own alias!'), 'latin1');
  assert.deepEqual((await verify(tampered)).map((r) => r.result), ['fail'], 'the verifier does check the signed fields');
});

test('a key file that cannot sign is refused by name; one key per domain', async (t) => {
  const dir = tempDir(t);
  const { generateKeyPairSync } = await import('node:crypto');
  const weak = path.join(dir, 'weak.pem');
  writeFileSync(weak, generateKeyPairSync('rsa', { modulusLength: 768 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const ec = path.join(dir, 'ec.pem');
  writeFileSync(ec, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const encrypted = path.join(dir, 'encrypted.pem');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  writeFileSync(encrypted, rsa.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }), { mode: 0o600 });
  const legacy = path.join(dir, 'legacy.pem');
  writeFileSync(legacy, rsa.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }), { mode: 0o600 });
  const text = path.join(dir, 'text.pem');
  writeFileSync(text, 'not a key\n');
  const good = (await keygen(dir, 'example.com', 'ok')).file;
  const open = path.join(dir, 'open.pem');
  writeFileSync(open, readFileSync(good));
  chmodSync(open, 0o644);
  const groupOnly = path.join(dir, 'group.pem');
  writeFileSync(groupOnly, readFileSync(good));
  chmodSync(groupOnly, 0o640);
  const cases: Array<[string, unknown, RegExp]> = [
    ['short RSA', [{ domain: 'example.com', selector: 's', key: weak }], /dkim\.sign\[0\]\.key: .*weak\.pem is an RSA key of 768 bits; DKIM needs at least 1024 \(RFC 8301/],
    ['EC key', [{ domain: 'example.com', selector: 's', key: ec }], /dkim\.sign\[0\]\.key: .*ec\.pem is a ec key; DKIM signs with RSA/],
    ['not a key', [{ domain: 'example.com', selector: 's', key: text }], /dkim\.sign\[0\]\.key: .*text\.pem is not a PEM private key/],
    ['missing', [{ domain: 'example.com', selector: 's', key: path.join(dir, 'none.pem') }], /dkim\.sign\[0\]\.key: .*none\.pem does not exist/],
    ['encrypted', [{ domain: 'example.com', selector: 's', key: encrypted }], /dkim\.sign\[0\]\.key: .*encrypted\.pem is an encrypted private key \(spamgate has no passphrase/],
    ['encrypted PKCS#1', [{ domain: 'example.com', selector: 's', key: legacy }], /dkim\.sign\[0\]\.key: .*legacy\.pem is an encrypted private key/],
    ['world-readable', [{ domain: 'example.com', selector: 's', key: open }], /dkim\.sign\[0\]\.key: .*open\.pem is open to other users \(mode 0644\): a signing key must not be; chmod 600/],
    ['bad selector', [{ domain: 'example.com', selector: '_bad sel', key: good }], /dkim\.sign\[0\]\.selector: expected a DNS label/],
    ['one-label domain', [{ domain: 'localhost', selector: 's', key: good }], /dkim\.sign\[0\]\.domain: expected a domain of two labels/],
    ['same domain twice', [{ domain: 'example.com', selector: 'a', key: good }, { domain: 'Example.com.', selector: 'b', key: good }], /dkim\.sign\[1\]\.domain: example\.com has a key already/],
  ];
  for (const [label, sign, expected] of cases) {
    const err = (() => {
      try {
        loadConfig({ inline: { dkim: { sign } }, dataDir: dir });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof ConfigError, `${label}: refused`);
    assert.match(err.message, expected, label);
  }
  assert.doesNotThrow(() => loadConfig({ inline: { dkim: { sign: [{ domain: 'example.com', selector: 'ok', key: good }] } }, dataDir: dir }));
  assert.doesNotThrow(() => loadConfig({ inline: { dkim: { sign: [{ domain: 'example.com', selector: 'ok', key: groupOnly }] } }, dataDir: dir }), 'owner and group may read it');
  const again = await runCommand(dkimKeygenCommand, { flags: new Map([['domain', 'example.com'], ['selector', 'ok'], ['out', good]]), positional: [] });
  assert.equal(again.code, 1, 'an existing key file is never overwritten');
  assert.match(again.err, /exists/);
});

test('a reload reads the key files again: a replaced key signs at once, a broken one keeps the running key', async (t) => {
  const dir = tempDir(t);
  const first = await keygen(dir, 'relay.example', 'cur');
  const second = await keygen(dir, 'relay.example', 'next');
  const dns = await startDnsServer({ [first.name]: [{ TXT: first.record }] });
  t.after(() => dns.close());
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, frontOfSigning(sink.port, [{ domain: 'relay.example', selector: 'cur', key: first.file }]));
  const send = async (subject: string): Promise<string[]> => {
    assert.equal((await sendMessage(gw.smtpPort, 'a@relay.example', ['user@relay.example'], message('a@relay.example', subject))).data?.code, 250);
    await sink.waitForMessages(sink.messages.length + 1);
    const got = sink.messages.find((m) => m.raw.toString('latin1').includes(`Subject: ${subject}\r\n`));
    // a new resolver each time: its cache would keep the record published before the key changed
    const resolver = toMailauthResolver(createResolver({ servers: [dns.server], timeoutMs: 500, retries: 0 }));
    const res = await dkimVerify(got?.raw ?? Buffer.alloc(0), { resolver });
    return res.results.map((r) => `${r.status.result} ${r.selector ?? ''}`);
  };
  assert.deepEqual(await send('before'), ['pass cur']);
  // The key is replaced in place and its new public key published under the same selector.
  writeFileSync(first.file, readFileSync(second.file));
  dns.set(first.name, [{ TXT: second.record }]);
  assert.equal(gw.app.reload().ok, true);
  assert.deepEqual(await send('after'), ['pass cur'], 'signed with the new key (the old one would fail against the new record)');
  writeFileSync(first.file, 'garbage\n');
  const failed = gw.app.reload();
  assert.equal(failed.ok, false);
  assert.match(failed.ok ? '' : failed.error, /cur\.relay\.example\.pem: not a PEM private key/);
  assert.deepEqual(await send('still'), ['pass cur'], 'a failed reload keeps signing with the running key');
});

test('an 8-bit message is signed in its 7-bit form (RFC 6376 §5.3), so it verifies after a next hop without 8BITMIME', async (t) => {
  const { verify, sink, gw } = await oneKeyRig(t, 'relay.example', 's7', { eightBitMime: false, smtputf8: false });
  const eightBit = message('a@relay.example', 'eight bit').replace('\r\n\r\n', '\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln\r\n');
  assert.equal((await sendMessage(gw.smtpPort, 'a@relay.example', ['user@relay.example'], Buffer.from(eightBit, 'utf8'))).data?.code, 250);
  await sink.waitForMessages(1);
  const got = sink.messages[0]?.raw ?? Buffer.alloc(0);
  assert.doesNotMatch(got.toString('latin1'), /[\x80-\xff]/, 'sent as 7-bit MIME');
  assert.match(got.toString('latin1'), /Gr=C3=BC=C3=9Fe aus K=C3=B6ln/);
  assert.deepEqual((await verify(got)).map((r) => `${r.result} ${r.domain}/${r.selector}`), ['pass relay.example/s7']);
});

test('a From field with more than one reading is not signed, nor a second From past the first 256 KiB of header', async (t) => {
  const { verify, sink, gw } = await oneKeyRig(t, 'relay.example', 'sx');
  const padding = Array.from({ length: 3000 }, (_, i) => `X-Pad-${i}: ${'p'.repeat(90)}\r\n`).join('');
  const cases = [
    // nodemailer's parser (and mailauth's) reads a@, other parsers ceo@: the display name may not hold a bare "@"
    { subject: 'unquoted at', from: 'ceo@relay.example <a@relay.example>', signed: false },
    { subject: 'unterminated', from: 'ceo@relay.example <a@relay.example', signed: false },
    { subject: 'trailing text', from: '<a@relay.example> ceo@relay.example', signed: false },
    { subject: 'far from', from: 'a@relay.example', extra: `${padding}From: ceo@relay.example\r\n`, signed: false },
    { subject: 'plain', from: '"Ann, Sales" (desk) <a@relay.example>', signed: true },
    { subject: 'obs phrase', from: 'Dr. A. =?utf-8?q?M=C3=BCller?= <a@relay.example>', signed: true },
  ];
  for (const c of cases) {
    const raw = `From: ${c.from}\r\n${c.extra ?? ''}To: user@relay.example\r\nSubject: ${c.subject}\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\n\r\nHello\r\n`;
    assert.equal((await sendMessage(gw.smtpPort, 'a@relay.example', ['user@relay.example'], raw)).data?.code, 250, c.subject);
  }
  await sink.waitForMessages(cases.length);
  for (const c of cases) {
    const got = sink.messages.find((m) => m.raw.includes(`Subject: ${c.subject}\r\n`));
    assert.ok(got, c.subject);
    assert.deepEqual((await verify(got.raw)).map((r) => r.result), c.signed ? ['pass'] : [], c.subject);
  }
});

test('an internationalized From domain (SMTPUTF8, U-labels) is signed by the key of its A-label form', async (t) => {
  const { verify, sink, gw } = await oneKeyRig(t, 'xn--bcher-kva.example', 'idn');
  const { wire } = await SmtpWire.open(gw.smtpPort);
  try {
    await wire.command('EHLO client.test.example');
    assert.equal((await wire.command('MAIL FROM:<jörg@bücher.example> SMTPUTF8')).code, 250);
    assert.equal((await wire.command('RCPT TO:<user@relay.example>')).code, 250);
    assert.equal((await wire.command('DATA')).code, 354);
    wire.write(Buffer.from(message('jörg@Bücher.example', 'idn'), 'utf8'));
    assert.equal((await wire.command('.', 10_000)).code, 250);
  } finally {
    wire.close();
  }
  await sink.waitForMessages(1);
  assert.deepEqual((await verify(sink.messages[0]?.raw ?? Buffer.alloc(0))).map((r) => `${r.result} ${r.domain}/${r.selector}`), ['pass xn--bcher-kva.example/idn']);
  assert.deepEqual(gw.transactions().map((l) => l.dkim), ['xn--bcher-kva.example s=idn']);
});

test('dkim-keygen prints a dkim.sign entry that loads as it is, whatever the key file is called', async (t) => {
  const dir = path.join(tempDir(t), 'keys: dkim #1');
  mkdirSync(dir);
  const file = path.join(dir, 'k.pem');
  const res = await runCommand(dkimKeygenCommand, { flags: new Map([['domain', 'example.com'], ['selector', 's1'], ['out', file], ['type', 'ed25519']]), positional: [] });
  assert.equal(res.code, 0, res.err);
  const entry = res.out.split('\n').filter((l) => l.startsWith('# ') && !/^# (wrote|publish|then)/.test(l)).map((l) => l.slice(2)).join('\n');
  const config = parseYaml(entry) as { dkim: { sign: Array<{ key: string }> } };
  assert.equal(config.dkim.sign[0]?.key, file);
  assert.doesNotThrow(() => loadConfig({ inline: config, dataDir: dir }));
});

test('a delivery status notice spamgate writes is signed by the key of its hostname domain (MAILER-DAEMON@mx.test.example)', async (t) => {
  const { verify, sink, gw } = await oneKeyRig(t, 'test.example', 'dsn1');
  sink.rule({ stage: 'rcpt', rcpt: 'gone@relay.example', code: 550, text: '5.1.1 no such user' });
  const sent = await sendMessage(gw.smtpPort, 'writer@relay.example', ['gone@relay.example'], message('writer@relay.example', 'tobounce'));
  assert.equal(sent.data?.code, 250);
  await sink.waitForMessages(1);
  const bounce = sink.messages[0];
  assert.ok(bounce);
  assert.equal(bounce.mailFrom, '', 'a notice, from the null reverse path');
  assert.deepEqual(bounce.rcptTo, ['writer@relay.example']);
  assert.match(bounce.raw.toString('latin1'), /^From: Mail Delivery System <MAILER-DAEMON@mx\.test\.example>\r$/m);
  assert.deepEqual(await verify(bounce.raw), [{ result: 'pass', domain: 'test.example', selector: 'dsn1' }]);
  const metrics = await gw.app.registry.metrics();
  assert.match(metrics, /spamgate_dkim_signatures_total\{domain="test\.example",result="signed"\} 1/);
});

test('front-of, our own mail to another domain and ours: the copy without X-Spamgate-* fields and the copy with them both verify', async (t) => {
  const { verify, sink, gw } = await oneKeyRig(t, 'relay.example', 's1');
  // forged fields in spamgate's namespace (one in obsolete syntax, blanks before the colon) go at receipt
  const body = `X-Spamgate-Result : accept; score=-50\r\nx-SPAMGATE-verdict: ham\r\n${message('a@relay.example', 'split')}`;
  assert.equal((await sendMessage(gw.smtpPort, 'a@relay.example', ['bob@remote.example', 'user@relay.example'], body)).data?.code, 250);
  await sink.waitForMessages(2);
  const remote = sink.messages.find((m) => m.rcptTo.includes('bob@remote.example'));
  const local = sink.messages.find((m) => m.rcptTo.includes('user@relay.example'));
  assert.ok(remote && local);
  const head = (raw: Buffer): string => raw.toString('latin1').slice(0, raw.indexOf('\r\n\r\n'));
  assert.doesNotMatch(head(remote.raw), /^x-spamgate-/im);
  assert.match(head(local.raw), /^X-Spamgate-Result: accept; score=[0-9.-]+; id=/m);
  assert.doesNotMatch(head(local.raw), /score=-50|x-spamgate-verdict/i);
  for (const m of [remote, local]) assert.deepEqual((await verify(m.raw)).map((r) => `${r.result} ${r.domain}/${r.selector}`), ['pass relay.example/s1']);
});
