// Milter framing and parsing: packets split across reads or several in one, bounded lengths, CONNECT of each
// address family, MAIL arguments, milter.listen forms.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConnect, parseEnvelopeAddress } from '../../../src/milter/connect-info.ts';
import { parseMilterListen } from '../../../src/milter/listen-address.ts';
import { MessageBuffer } from '../../../src/milter/message-buffer.ts';
import { PacketError, PacketReader } from '../../../src/milter/packet-reader.ts';
import { connectData, cstr, encode } from '../../helpers/milter-client.ts';

test('packets split at every byte, and several in one read, come out whole and in order', () => {
  const bytes = Buffer.concat([encode('O', Buffer.alloc(12, 1)), encode('H', cstr('helo.example')), encode('B', Buffer.alloc(70_000, 0x61))]);
  const reader = new PacketReader(1 << 20);
  const got = [];
  for (let i = 0; i < bytes.length; i += 997) got.push(...reader.push(bytes.subarray(i, i + 997)));
  assert.deepEqual(got.map((p) => [p.cmd, p.data.length]), [['O', 12], ['H', 13], ['B', 70_000]]);
  const all = new PacketReader(1 << 20).push(bytes);
  assert.equal(all.length, 3);
});

test('a zero or oversize length is a protocol error before the bytes are waited for', () => {
  assert.throws(() => new PacketReader(1024).push(Buffer.from([0, 0, 0, 0])), PacketError);
  assert.throws(() => new PacketReader(1024).push(Buffer.from([0, 0, 4, 1, 0x42])), PacketError);
  assert.deepEqual(new PacketReader(1024).push(Buffer.from([0, 0, 4, 0])), []);
});

test('CONNECT: IPv4, IPv6 (with or without the IPv6: prefix), a local socket, an unknown client; malformed ones', () => {
  assert.deepEqual(parseConnect(connectData('mx.example', '192.0.2.1', 25)), { family: 'inet', port: 25, address: '192.0.2.1', hostname: 'mx.example' });
  const v6 = (addr: string) => Buffer.concat([cstr('[2001:db8::1]'), Buffer.from('6'), Buffer.from([0, 1]), cstr(addr)]);
  assert.deepEqual(parseConnect(v6('IPv6:2001:db8::1')), { family: 'inet6', port: 1, address: '2001:db8::1' });
  assert.deepEqual(parseConnect(v6('2001:db8::1')), { family: 'inet6', port: 1, address: '2001:db8::1' });
  assert.deepEqual(parseConnect(Buffer.concat([cstr('localhost'), Buffer.from('L'), Buffer.from([0, 0]), cstr('/run/x')])), { family: 'local', port: 0, address: '/run/x', hostname: 'localhost' });
  assert.deepEqual(parseConnect(Buffer.concat([cstr('unknown'), Buffer.from('U')])), { family: 'unknown', port: 0, address: '' });
  assert.equal(parseConnect(Buffer.from('no-nul')), undefined);
  assert.equal(parseConnect(Buffer.concat([cstr('h'), Buffer.from('X'), Buffer.from([0, 0]), cstr('a')])), undefined);
  assert.equal(parseConnect(Buffer.concat([cstr('h'), Buffer.from('4')])), undefined);
});

test('MAIL: the address without brackets, known ESMTP keywords kept, others left to the MTA; RCPT without arguments', () => {
  assert.deepEqual(parseEnvelopeAddress(cstr('<a@b.example>', 'SIZE=100', 'BODY=8BITMIME', 'XYZ=1', 'SMTPUTF8'), true), { address: 'a@b.example', args: { SIZE: '100', BODY: '8BITMIME', SMTPUTF8: true } });
  assert.deepEqual(parseEnvelopeAddress(cstr('<>'), true), { address: '', args: false });
  assert.deepEqual(parseEnvelopeAddress(cstr('<c@d.example>', 'NOTIFY=NEVER'), false), { address: 'c@d.example', args: false });
  assert.equal(parseEnvelopeAddress(cstr('<a\r\nb@c>'), true), undefined);
  assert.equal(parseEnvelopeAddress(Buffer.alloc(0), true), undefined);
});

test('milter.listen: host:port (port 0 too), [ipv6]:port, unix:/path; errors name what was found', () => {
  assert.deepEqual(parseMilterListen('127.0.0.1:11332'), { kind: 'tcp', host: '127.0.0.1', port: 11332 });
  assert.deepEqual(parseMilterListen('[::1]:0'), { kind: 'tcp', host: '::1', port: 0 });
  assert.deepEqual(parseMilterListen('unix:/run/spamgate/milter.sock'), { kind: 'unix', path: '/run/spamgate/milter.sock' });
  for (const bad of ['11332', 'unix:relative.sock', 'host name:1', '127.0.0.1:99999']) assert.ok('error' in parseMilterListen(bad), bad);
});

test('the message is rebuilt in CRLF with folded values, kept up to the limit and counted past it', () => {
  const m = new MessageBuffer(200, true);
  m.addHeader('Subject', ' a\n\tfolded one');
  m.addHeader('subject', ' again');
  m.addBody(Buffer.from('body\r\n'));
  const whole = 'Subject: a\r\n\tfolded one\r\nsubject: again\r\n\r\nbody\r\n';
  assert.equal(m.raw().toString(), whole);
  assert.deepEqual(m.headers.map((h) => [h.name, h.index, h.value]), [['Subject', 1, 'a\n\tfolded one'], ['subject', 2, 'again']]);
  m.addBody(Buffer.alloc(300));
  assert.equal(m.exceeded, true);
  assert.equal(m.bytes, whole.length + 300);
  assert.equal(m.raw().length, whole.length);
  const plain = new MessageBuffer(100, false);
  plain.addHeader('To', 'x@y');
  assert.equal(plain.raw().toString(), 'To: x@y\r\n\r\n');
});

test('header fields past the size limit hold nothing: a peer sending endless new field names after the 552 grows no per-name count', () => {
  const m = new MessageBuffer(100, true);
  m.addHeader('Subject', ' kept');
  for (let i = 0; i < 10_000; i++) m.addHeader(`X-Name-${i}-${'n'.repeat(100)}`, ' v');
  assert.equal(m.exceeded, true);
  assert.equal(m.namesCounted, 1);
  assert.deepEqual(m.headers.map((h) => [h.name, h.index]), [['Subject', 1]]);
});
