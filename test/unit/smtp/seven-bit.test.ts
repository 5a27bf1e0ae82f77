// 7-bit conversion for next hops without 8BITMIME: what comes out is 7-bit, decodes to the same content
// (read back with spamgate's own MIME parser), keeps 7-bit parts byte for byte, and refuses 8-bit headers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMail } from '../../../src/mime/parse.ts';
import { decodeQuotedPrintable, encodeQuotedPrintable } from '../../../src/mime/transfer.ts';
import { toSevenBit } from '../../../src/smtp/seven-bit.ts';

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'utf8');
const converted = (m: Buffer): string => {
  const r = toSevenBit(m);
  assert.ok('message' in r, 'refused' in r ? r.refused : '');
  const out = r.message.toString('latin1');
  assert.ok(!/[\x80-\xff]/.test(out), `7-bit output:\n${out}`);
  return out;
};

test('quoted-printable: round trip of 8-bit, "=", trailing white space and long lines; lines within 76', () => {
  const samples = ['Grüße = 100 € ', 'tab at end\t', 'x'.repeat(300), `${'é'.repeat(80)} end`, '', '=3D literal', '.leading dot'];
  const body = Buffer.from(samples.join('\r\n'), 'utf8').toString('latin1');
  const encoded = encodeQuotedPrintable(body);
  for (const line of encoded.split('\r\n')) assert.ok(line.length <= 76, `line of ${line.length}: ${line}`);
  assert.ok(!/[ \t]\r\n|[ \t]$/.test(encoded), 'no white space at the end of an encoded line');
  assert.equal(decodeQuotedPrintable(encoded).toString('utf8'), samples.join('\r\n'));
});

test('a plain 8-bit message gets MIME-Version and quoted-printable; its text reads the same', () => {
  const msg = crlf(['From: a@example.org', 'Subject: plain', '', 'Grüße aus Köln', 'zweite Zeile', '']);
  const out = converted(msg);
  assert.match(out, /^MIME-Version: 1\.0\r\nContent-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n/m);
  const latin1 = converted(Buffer.from('Subject: x\r\n\r\nGr\xfc\xdfe\r\n', 'latin1'));
  assert.match(latin1, /charset=unknown-8bit/, 'not valid UTF-8: RFC 1428 unknown-8bit');
  assert.equal(parseMail(Buffer.from(out, 'latin1')).text, parseMail(msg).text);
  const declared = crlf(['Subject: x', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding:', ' 8bit', '', 'Grüße', '']);
  const out2 = converted(declared);
  assert.equal((out2.match(/Content-Transfer-Encoding/g) ?? []).length, 1, 'the folded 8bit field is replaced, not kept');
  assert.equal((out2.match(/MIME-Version/g) ?? []).length, 1);
  assert.equal(parseMail(Buffer.from(out2, 'latin1')).text, 'Grüße\r\n');
});

test('nested multipart and message/rfc822: 8-bit leaves converted, 7-bit parts and delimiters byte for byte', () => {
  const base64Part = ['--inner', 'Content-Type: application/pdf', 'Content-Transfer-Encoding: base64', '', 'JVBERi0xLjQK'];
  const msg = crlf([
    'From: a@example.org',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="outer"',
    'Content-Transfer-Encoding: 8bit',
    '',
    'preamble with ümlaut',
    '--outer',
    'Content-Type: multipart/alternative; boundary=inner',
    '',
    '--inner',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'Preis: 10 €',
    ...base64Part,
    '--inner--',
    '--outer',
    'Content-Type: message/rfc822',
    '',
    'Subject: enclosed',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'drinnen: größer',
    '--outer--',
    '',
  ]);
  const out = converted(msg);
  assert.ok(out.includes(base64Part.join('\r\n')), 'the base64 part is untouched');
  assert.match(out, /^Content-Type: multipart\/mixed; boundary="outer"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n/m, 'the multipart is relabelled 7bit');
  assert.match(out, /\r\n--outer\r\nContent-Type: multipart\/alternative; boundary=inner\r\n/);
  assert.match(out, /preamble with \?\?mlaut/, 'a UTF-8 ü is two bytes');
  assert.match(out, /Content-Type: message\/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\nSubject: enclosed\r\nContent-Type: text\/plain; charset=utf-8\r\nMIME-Version: 1\.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ndrinnen: gr=C3=B6=C3=9Fer/, 'the enclosed message is a message: MIME-Version too');
  const before = parseMail(msg);
  const after = parseMail(Buffer.from(out, 'latin1'));
  assert.equal(after.text, before.text);
  assert.deepEqual(after.parts.map((p) => p.type), before.parts.map((p) => p.type));
});

test('7-bit messages pass unchanged; 8-bit header fields are refused, not sent', () => {
  const ascii = crlf(['Subject: ascii', '', 'plain', '']);
  const r = toSevenBit(ascii);
  assert.ok('message' in r && r.message === ascii);
  const bad = toSevenBit(crlf(['Subject: Grüße', '', 'body', '']));
  assert.ok('refused' in bad && /header fields carry 8-bit/.test(bad.refused));
  const deep = toSevenBit(crlf(['Content-Type: multipart/mixed; boundary=b', '', '--b', 'Subject: x', '', 'ok', '--b', 'Subject: Grüße', '', 'x', '--b--', '']));
  assert.ok('refused' in deep, 'an 8-bit header in a part is refused too');
});

test('what cannot be converted without changing its meaning is refused, never mangled', () => {
  const refused = (lines: string[]): string => {
    const r = toSevenBit(crlf(lines));
    assert.ok('refused' in r, `should be refused:\n${lines.join('\n')}`);
    return r.refused;
  };
  assert.match(refused(['Content-Type: multipart/mixed; boundary=abc', '', '--abd', 'Content-Type: text/plain', '', 'Grüße', '--abd--', '']), /never occurs/);
  assert.match(refused(['Content-Type: multipart/mixed', '', 'Grüße', '']), /without a boundary/);
  assert.match(refused(['Content-Type: message/partial; id=x; number=1', '', 'Grüße', '']), /message\/partial/);
  // multipart/digest: a part without Content-Type is a message (RFC 2046 §5.1.5), so its 8-bit header is caught
  assert.match(refused(['Content-Type: multipart/digest; boundary=d', '', '--d', '', 'Subject: Grüße', '', 'x', '--d--', '']), /header fields carry 8-bit/);
  const digest = converted(crlf(['Content-Type: multipart/digest; boundary=d', '', '--d', '', 'Subject: ok', '', 'Grüße', '--d--', '']));
  assert.match(digest, /--d\r\nContent-Transfer-Encoding: 7bit\r\n\r\nSubject: ok\r\nMIME-Version: 1\.0\r\nContent-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe/);
});
