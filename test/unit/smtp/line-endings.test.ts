// Bare CR/LF repair of message data and the next-hop dot-stuffing built on it (SMTP smuggling).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasBareLineBreak, toCrlf } from '../../../src/smtp/line-endings.ts';
import { dotStuff } from '../../../src/smtp/next-hop-wire.ts';

const crlf = (s: string): string => toCrlf(Buffer.from(s, 'latin1')).toString('latin1');

test('toCrlf turns every bare LF and bare CR into CRLF and leaves CRLF alone', () => {
  assert.equal(crlf('a\nb\r\nc\rd\r\r\ne\n\r'), 'a\r\nb\r\nc\r\nd\r\n\r\ne\r\n\r\n');
  assert.equal(crlf('\n'), '\r\n');
  assert.equal(crlf('\r'), '\r\n');
  assert.equal(crlf(''), '');
  const clean = Buffer.from('x\r\ny\r\n');
  assert.equal(toCrlf(clean), clean, 'no copy when nothing is bare');
  assert.equal(hasBareLineBreak(clean), false);
  assert.equal(hasBareLineBreak(Buffer.from('x\r')), true);
});

test('dotStuff never sends a bare LF: "<LF>.<CR><LF>" goes out as a stuffed content line', () => {
  const wire = Buffer.concat(dotStuff(Buffer.from('Subject: s\r\n\r\nbody\n.\r\nQUIT\r\n'))).toString('latin1');
  assert.equal(wire, 'Subject: s\r\n\r\nbody\r\n..\r\nQUIT\r\n.\r\n');
  assert.equal(Buffer.concat(dotStuff(Buffer.from('.a\n.b'))).toString('latin1'), '..a\r\n..b\r\n.\r\n');
  assert.equal(Buffer.concat(dotStuff(Buffer.alloc(0))).toString('latin1'), '.\r\n');
});
