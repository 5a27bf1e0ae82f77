// XFORWARD command lines: only the attributes the next hop lists, xtext values, IPv6 marked, lines kept short.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { originOf, xforwardCommands } from '../../../src/smtp/next-hop-xforward.ts';

const ALL = new Set(['NAME', 'ADDR', 'PROTO', 'HELO', 'SOURCE', 'PORT', 'IDENT']);

test('one line with the offered attributes; unknown values as [UNAVAILABLE]; IPv6 as IPV6:', () => {
  assert.deepEqual(xforwardCommands(ALL, { addr: '192.0.2.7', port: 4000, proto: 'ESMTP', helo: 'a+b=c.example' }), ['XFORWARD ADDR=192.0.2.7 PORT=4000 PROTO=ESMTP SOURCE=REMOTE NAME=[UNAVAILABLE] HELO=a+2Bb+3Dc.example']);
  assert.deepEqual(xforwardCommands(new Set(['ADDR', 'HELO']), { addr: '2001:db8::1', proto: 'SMTP', name: 'x.example' }), ['XFORWARD ADDR=IPV6:2001:db8::1 HELO=[UNAVAILABLE]']);
  assert.deepEqual(xforwardCommands(new Set(), { addr: '192.0.2.7', proto: 'SMTP' }), []);
});

test('long values are split over several lines of at most 512 octets, never inside an xtext escape', () => {
  const helo = '+'.repeat(300);
  const lines = xforwardCommands(ALL, { addr: '192.0.2.7', proto: 'ESMTP', name: [63, 63, 63, 61].map((n) => 'n'.repeat(n)).join('.'), helo });
  assert.ok(lines.length > 1);
  for (const l of lines) assert.ok(l.length <= 512 && l.startsWith('XFORWARD '), l);
  const heloValue = lines.join(' ').match(/HELO=(\S+)/)?.[1] ?? '';
  assert.match(heloValue, /^(\+2B)+$/, 'shortened whole escapes only');
});

test('a notice spamgate wrote itself (no recorded client) gets no XFORWARD', () => {
  assert.equal(originOf({ clientIp: '127.0.0.1' }), undefined);
  assert.deepEqual(originOf({ clientIp: '192.0.2.7', client: { helo: 'h.example', esmtp: true, port: 25 } }), { addr: '192.0.2.7', proto: 'ESMTP', port: 25, helo: 'h.example' });
});

test('NAME is a host name or [UNAVAILABLE]: a hostile PTR answer confirmed forward is not told as the client\'s name', () => {
  const nameOf = (name: string): string | undefined => xforwardCommands(new Set(['NAME']), { addr: '192.0.2.7', proto: 'ESMTP', name })[0]?.replace(/^XFORWARD NAME=/, '');
  assert.equal(nameOf('Mail-1.Client_x.example'), 'Mail-1.Client_x.example');
  assert.equal(nameOf('mail.client.example.'), 'mail.client.example', 'the root dot dropped');
  for (const hostile of ['a b.example', 'a=b.example', 'a+b.example', 'mail\r\nRCPT TO:<x@y>.example', 'm\u00e9l.example', '192.0.2.7', '-a.example', 'a..example', `${'a'.repeat(64)}.example`, '[192.0.2.7]']) {
    assert.equal(nameOf(hostile), '[UNAVAILABLE]', JSON.stringify(hostile));
  }
});

test('no attribute value over 255 octets (Postfix refuses the whole XFORWARD command for one: the client would go unnamed)', () => {
  const lines = xforwardCommands(ALL, { addr: '192.0.2.7', proto: 'ESMTP', helo: 'h'.repeat(400) });
  const helo = lines.join(' ').match(/HELO=(\S+)/)?.[1] ?? '';
  assert.ok(helo.length > 0 && helo.length <= 255, `HELO value of ${helo.length} octets`);
  const escaped = xforwardCommands(new Set(['HELO']), { addr: '192.0.2.7', proto: 'ESMTP', helo: '='.repeat(200) })[0] ?? '';
  assert.match(escaped, /^XFORWARD HELO=(\+3D)+$/);
  assert.ok(escaped.length - 'XFORWARD HELO='.length <= 255);
});
