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

test('toCrlf and dotStuff agree with a plain reference on random data over a, ".", CR and LF', () => {
  // Reference: regexes over the string form (slow, obviously right).
  const refCrlf = (x: string): string => x.replace(/\r\n|\r|\n/g, '\r\n');
  const refStuff = (x: string): string => {
    const body = refCrlf(x).replace(/(^|\r\n)\./g, '$1..');
    return body + (body === '' || body.endsWith('\r\n') ? '.\r\n' : '\r\n.\r\n');
  };
  let seed = 7;
  const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let round = 0; round < 2000; round++) {
    const text = Array.from({ length: next() % 40 }, () => 'a.\r\n'[next() % 4]).join('');
    const data = Buffer.from(text, 'latin1');
    assert.equal(toCrlf(data).toString('latin1'), refCrlf(text), JSON.stringify(text));
    assert.equal(Buffer.concat(dotStuff(data)).toString('latin1'), refStuff(text), JSON.stringify(text));
  }
});

test('a message of nothing but bare LFs or dot lines is converted in one buffer (no piece per line)', () => {
  const lfs = Buffer.alloc(200_000, 0x0a);
  const fixed = toCrlf(lfs);
  assert.equal(fixed.length, 400_000);
  assert.equal(fixed.indexOf('\n\n'), -1);
  const stuffed = dotStuff(Buffer.from('.\r\n'.repeat(100_000)));
  assert.equal(stuffed.length, 2, 'the message and the terminator');
  assert.equal(stuffed[0]?.length, 400_000);
});
