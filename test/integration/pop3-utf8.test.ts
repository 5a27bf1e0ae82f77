// RFC 6856 with Python's poplib and raw sockets: CAPA UTF8/LANG, messages as stored after UTF8, downgraded (7-bit
// header fields, sizes that match LIST/STAT) without it, UIDL the same either way, the command's states and LANG;
// and SMTPUTF8 mail received by spamgate's SMTP, fetched over its POP3 both ways.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeHeaderValue } from '../../src/mime/headers.ts';
import { TEST_PASSWORD } from '../helpers/gateway.ts';
import { gatewayWithSmtputf8Mail } from '../helpers/smtputf8-delivery.ts';
import { message, python, startPop3 } from './pop3-fixture.ts';
import { RawPop3 } from './pop3-client.ts';

/** A message as received with SMTPUTF8: raw UTF-8 in From and Subject, and a dotted body line. */
const UTF8_MAIL = 'From: Jörg <jörg@bücher.example>\r\nTo: alice@example.com\r\nSubject: Grüße aus Zürich\r\nMessage-ID: <u1@bücher.example>\r\n\r\nHallo ü\r\n.punkt\r\n';

const PY = `
import json, poplib, sys
port, utf8 = int(sys.argv[1]), sys.argv[2] == 'utf8'
user, pw = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else ('alice@example.com', 'secret-alice')
p = poplib.POP3('127.0.0.1', port, timeout=10)
out = {'capa': sorted(p.capa().keys())}
if utf8: out['utf8'] = p.utf8().decode()
p.user(user); out['login'] = p.pass_(pw).decode()
out['stat'] = list(p.stat())
out['list'] = [l.decode() for l in p.list()[1]]
out['uidl'] = [l.decode() for l in p.uidl()[1]]
out['retr'] = []
for i in range(out['stat'][0]):
    resp, lines, octets = p.retr(i + 1)
    out['retr'].append({'resp': resp.decode(), 'lines': [l.decode('utf-8') for l in lines], 'raw': [list(l) for l in lines]})
out['top'] = [l.decode('utf-8') for l in p.top(min(2, out['stat'][0]), 0)[1]]
p.quit()
print(json.dumps(out))
`;

interface Retr {
  resp: string;
  lines: string[];
  raw: number[][];
}
interface Out {
  capa: string[];
  utf8?: string;
  login: string;
  stat: [number, number];
  list: string[];
  uidl: string[];
  retr: Retr[];
  top: string[];
}

/** The octets RETR sent: lines (un-stuffed by poplib) with CRLF each. */
const octets = (r: Retr): number => r.raw.reduce((n, l) => n + l.length + 2, 0);

test('poplib: CAPA has UTF8; after utf8() the message is sent as stored, sizes the stored ones', async (t) => {
  const f = await startPop3(t);
  await f.deliver('alice@example.com', message('ascii', 'plain\r\n'));
  await f.deliver('alice@example.com', UTF8_MAIL);
  const stored = (await f.store.list('alice@example.com', 'INBOX')).map((m) => m.size);
  const out = await python<Out>(PY, [String(f.port), 'utf8']);
  assert.ok(out.capa.includes('UTF8') && out.capa.includes('LANG'), out.capa.join(' '));
  assert.match(out.utf8 ?? '', /^\+OK/);
  assert.deepEqual(out.list, stored.map((s, i) => `${i + 1} ${s}`));
  const utf8 = out.retr[1];
  assert.ok(utf8);
  assert.ok(utf8.lines.includes('Subject: Grüße aus Zürich'));
  assert.ok(utf8.lines.includes('From: Jörg <jörg@bücher.example>'));
  assert.equal(octets(utf8), stored[1], 'as stored (poplib un-stuffs the dotted line)');
  assert.ok(out.top.includes('Subject: Grüße aus Zürich'));
});

test('poplib without UTF8: 8-bit header fields downgraded; LIST, STAT and RETR agree; UIDL unaffected; TOP too', async (t) => {
  const f = await startPop3(t);
  await f.deliver('alice@example.com', message('ascii', 'plain\r\n'));
  await f.deliver('alice@example.com', UTF8_MAIL);
  // a body past the store's first read of a file (32 KiB): its size is known from the header alone
  await f.deliver('alice@example.com', UTF8_MAIL.replace('Hallo', 'Groß\r\n' + 'ü'.repeat(60).concat('\r\n').repeat(1000)));
  const stored = (await f.store.list('alice@example.com', 'INBOX')).map((m) => m.size);
  const legacy = await python<Out>(PY, [String(f.port), 'legacy']);
  const modern = await python<Out>(PY, [String(f.port), 'utf8']);
  assert.deepEqual(legacy.uidl, modern.uidl, 'UIDL does not depend on the form');
  const sizes = legacy.list.map((l) => Number(l.split(' ')[1]));
  assert.equal(sizes[0], stored[0], 'a 7-bit message keeps its size');
  assert.notEqual(sizes[1], stored[1], 'the downgraded message has its own size');
  assert.deepEqual(legacy.stat, [3, sizes.reduce((a, b) => a + b, 0)], 'STAT sums the sizes LIST gives');
  const big = legacy.retr[2];
  assert.ok(big);
  assert.equal(octets(big), sizes[2], 'a big message: RETR sends what LIST said');
  assert.equal((stored[2] ?? 0) - (sizes[2] ?? 0), (stored[1] ?? 0) - (sizes[1] ?? 0), 'the same header, the same change');
  assert.match(legacy.login, new RegExp(`\\(${legacy.stat[1]} octets\\)`), 'the greeting gives STAT\'s size');
  const r = legacy.retr[1];
  assert.ok(r);
  assert.equal(octets(r), sizes[1], 'RETR sends the octets LIST announced (before byte-stuffing)');
  assert.match(r.resp, new RegExp(`^\\+OK ${sizes[1]} octets`));
  const head = r.raw.slice(0, r.raw.findIndex((l) => l.length === 0));
  assert.ok(head.every((l) => l.every((b) => b < 0x80)), 'every header octet is 7-bit');
  const subject = r.lines.find((l) => l.startsWith('Subject: '));
  assert.equal(decodeHeaderValue(subject?.slice(9) ?? ''), 'Grüße aus Zürich', 'valid encoded words');
  assert.match(r.lines.find((l) => l.startsWith('From: ')) ?? '', /^From: =\?utf-8\?b\?.*\?=:;$/);
  assert.ok(r.lines.includes('Hallo ü') && r.lines.includes('.punkt'), 'the body as stored');
  assert.ok(legacy.top.some((l) => /^Subject: =\?utf-8\?b\?/.test(l)), 'TOP downgrades too');
  assert.ok(legacy.top.every((l) => /^[\x00-\x7f]*$/.test(l)));
});

test('UTF8: AUTHORIZATION only, no argument, repeatable; LANG lists and takes English; replies stay ASCII before UTF8', async (t) => {
  const f = await startPop3(t);
  await f.deliver('alice@example.com', UTF8_MAIL);
  const c = await RawPop3.connect(f.port);
  t.after(() => c.sock.destroy());
  await c.line();
  assert.match((await c.cmd('UTF8 now')) ?? '', /^-ERR/);
  assert.match((await c.cmd('LANG')) ?? '', /^\+OK/);
  assert.equal((await c.multiline())?.toString(), 'en English\r\n.\r\n');
  assert.equal(await c.cmd('LANG en-GB'), '+OK en English');
  assert.equal(await c.cmd('LANG *'), '+OK en English');
  assert.match((await c.cmd('LANG fr')) ?? '', /^-ERR invalid language fr/);
  assert.match((await c.cmd('LANG ü')) ?? '', /^-ERR invalid language \?$/, 'no UTF-8 in a reply before UTF8');
  assert.match((await c.cmd('UTF8')) ?? '', /^\+OK/);
  assert.match((await c.cmd('UTF8')) ?? '', /^\+OK/, 'a second UTF8 changes nothing');
  await c.cmd('USER alice@example.com');
  assert.match((await c.cmd('PASS secret-alice')) ?? '', /^\+OK/);
  assert.match((await c.cmd('UTF8')) ?? '', /^-ERR/, 'not in TRANSACTION');
  assert.match((await c.cmd('RETR 1')) ?? '', /^\+OK/);
  assert.match((await c.multiline())?.toString('utf8') ?? '', /Subject: Grüße aus Zürich/);
});

test('SMTPUTF8 mail through spamgate: POP3 sends it downgraded without UTF8, as received with it', { timeout: 60_000 }, async (t) => {
  const gw = await gatewayWithSmtputf8Mail(t, UTF8_MAIL.replace('alice@example.com', 'postmaster@localhost'));

  const args = [String(gw.pop3Port ?? 0)];
  const legacy = await python<Out>(PY, [...args, 'legacy', 'postmaster@localhost', TEST_PASSWORD]);
  const modern = await python<Out>(PY, [...args, 'utf8', 'postmaster@localhost', TEST_PASSWORD]);
  const [old, now] = [legacy.retr[0], modern.retr[0]];
  assert.ok(old && now);
  const head = (r: Retr): number[][] => r.raw.slice(0, r.raw.findIndex((l) => l.length === 0));
  assert.ok(head(old).every((l) => l.every((b) => b < 0x80)), old.lines.join('\n'));
  assert.ok(head(now).some((l) => l.some((b) => b >= 0x80)), 'after UTF8: the header as received');
  assert.ok(now.lines.includes('Subject: Grüße aus Zürich'));
  assert.equal(decodeHeaderValue(old.lines.find((l) => l.startsWith('Subject: '))?.slice(9) ?? ''), 'Grüße aus Zürich');
  assert.equal(Number(legacy.list[0]?.split(' ')[1]), octets(old));
  assert.equal(Number(modern.list[0]?.split(' ')[1]), octets(now));
  assert.deepEqual(legacy.uidl, modern.uidl);
});
