// Lines over 998 octets in our own mail (RFC 5322 §2.1.1): leaves re-encoded (text quoted-printable, other
// types base64, broken base64/QP re-wrapped), long header lines folded at white space or refused, short lines and
// DKIM-signed messages kept byte for byte; what comes out decodes to what went in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMail } from '../../../src/mime/parse.ts';
import { decodeTransfer } from '../../../src/mime/transfer.ts';
import { foldLongHeaderLines } from '../../../src/smtp/long-header.ts';
import { withinLineLimit } from '../../../src/smtp/line-limit.ts';

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'utf8');
const longest = (s: string): number => Math.max(...s.split('\r\n').map((l) => l.length));
const mended = (m: Buffer): string => {
  const r = withinLineLimit(m);
  assert.ok('message' in r, 'refused' in r ? r.refused : '');
  const out = r.message.toString('latin1');
  assert.ok(longest(out) <= 998, `longest line ${longest(out)}`);
  return out;
};
const words = (n: number): string => Array.from({ length: n }, (_, i) => `word${i}`).join(' ');

test('a text/plain body with a 5,000-octet line becomes quoted-printable (lines within 76) and reads the same', () => {
  const line = `${'Grüße '.repeat(700)}end`;
  const msg = crlf(['From: a@example.org', 'Subject: long', '', 'short line', line, 'after', '']);
  const out = mended(msg);
  assert.match(out, /^MIME-Version: 1\.0\r\nContent-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n/m);
  const body = out.slice(out.indexOf('\r\n\r\n') + 4);
  assert.ok(longest(body) <= 76);
  assert.equal(parseMail(Buffer.from(out, 'latin1')).text, parseMail(msg).text);
});

test('multipart: the long HTML part is quoted-printable, a long octet-stream part base64, a broken base64 part re-wrapped; the others byte for byte', () => {
  const html = `<p>${'x'.repeat(3000)}</p>`;
  const binary = 'A'.repeat(1500);
  const b64 = Buffer.from('z'.repeat(2000)).toString('base64');
  const plain = ['--b', 'Content-Type: text/plain; charset=us-ascii', '', 'short text'];
  const msg = crlf([
    'From: a@example.org',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    ...plain,
    '--b',
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    '',
    html,
    '--b',
    'Content-Type: application/octet-stream',
    '',
    binary,
    '--b',
    'Content-Type: application/zip',
    'Content-Transfer-Encoding: base64',
    '',
    b64,
    '--b--',
    '',
  ]);
  const out = mended(msg);
  assert.ok(out.includes(plain.join('\r\n')), 'a short part is kept as it was');
  assert.equal((out.match(/MIME-Version/g) ?? []).length, 1);
  const parts = out.split(/\r\n--b(?:--)?\r\n/).slice(1, 5);
  const bodyOf = (p: string | undefined): string => (p ?? '').slice((p ?? '').indexOf('\r\n\r\n') + 4);
  assert.match(parts[1] ?? '', /Content-Transfer-Encoding: quoted-printable/);
  assert.equal(decodeTransfer(bodyOf(parts[1]), 'quoted-printable').toString('latin1'), html);
  assert.match(parts[2] ?? '', /Content-Transfer-Encoding: base64/);
  assert.equal(decodeTransfer(bodyOf(parts[2]), 'base64').toString('latin1'), binary);
  assert.equal(decodeTransfer(bodyOf(parts[3]), 'base64').toString('latin1'), 'z'.repeat(2000));
  assert.ok(longest(bodyOf(parts[3])) <= 76, 'base64 re-wrapped at 76');
  assert.equal((out.match(/Content-Transfer-Encoding: base64/g) ?? []).length, 2, 'the zip part keeps its one label');
});

test('a long header line is folded at white space (unfolding gives it back); one with none is refused', () => {
  const value = words(600);
  const out = mended(crlf(['From: a@example.org', `Subject: ${value}`, '', 'body', '']));
  assert.ok(longest(out) <= 78, 'folded to 78 where it can be');
  const subject = parseMail(Buffer.from(out, 'latin1')).headers.find((h) => h.name.toLowerCase() === 'subject');
  assert.equal(subject?.value.replace(/\r\n/g, ''), value);
  // only a few places to fold: pieces up to 998
  const sparse = `References: <${'a'.repeat(900)}@x> <${'b'.repeat(900)}@x> <${'c'.repeat(900)}@x>`;
  const folded = foldLongHeaderLines(`From: a@example.org\r\n${sparse}`);
  assert.equal(typeof folded, 'string');
  assert.equal((folded as string).replace(/\r\n(?=[ \t])/g, ''), `From: a@example.org\r\n${sparse}`);
  assert.ok(longest(folded as string) <= 998);
  const refused = withinLineLimit(crlf(['From: a@example.org', `X-Token: ${'t'.repeat(1200)}`, '', 'body', '']));
  assert.ok('refused' in refused && /"X-Token".*1209 octets/.test(refused.refused), JSON.stringify(refused));
  const trailing = foldLongHeaderLines(`X-Pad: ${'p'.repeat(995)}${' '.repeat(10)}`);
  assert.equal(typeof trailing, 'object', 'trailing white space is no place to fold (a line of white space alone)');
});

test('short lines, and mail DKIM-signed already, are kept byte for byte; message/partial with a long line is refused', () => {
  const short = crlf(['From: a@example.org', '', 'x'.repeat(998), '']);
  const r = withinLineLimit(short);
  assert.ok('message' in r && r.message === short);
  const signed = crlf(['DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s; bh=x; b=y', 'From: a@example.org', '', 'x'.repeat(5000), '']);
  const s = withinLineLimit(signed);
  assert.ok('message' in s && s.message === signed, 'a signed body is not rewritten');
  const partial = withinLineLimit(crlf(['Content-Type: message/partial; id=x; number=1', '', 'y'.repeat(1200), '']));
  assert.ok('refused' in partial && /message\/partial/.test(partial.refused));
});

test('the 8-bit walk and the line walk together (as the DKIM signer uses them): 7-bit output, lines within the limit', () => {
  const msg = crlf(['From: a@example.org', 'Content-Type: text/plain; charset=utf-8', '', `${'ü'.repeat(2000)}`, '']);
  const r = withinLineLimit(msg, true);
  assert.ok('message' in r);
  const out = r.message.toString('latin1');
  assert.ok(!/[\x80-\xff]/.test(out));
  assert.ok(longest(out) <= 76);
  assert.equal(parseMail(r.message).text, parseMail(msg).text);
});

test('a header line of 20 MB with white space throughout is folded, not a crash (no argument-list overflow)', () => {
  const value = 'a '.repeat(10_000_000).trimEnd();
  const r = withinLineLimit(crlf(['From: a@example.org', `Subject: ${value}`, '', 'body', '']));
  assert.ok('message' in r, 'refused' in r ? r.refused : '');
  const lines = r.message.toString('latin1').split('\r\n');
  assert.ok(lines.length > 250_000 && lines.every((l) => l.length <= 78));
});

test('a soft line break of the quoted-printable re-encoding never leaves a line that reads as the multipart delimiter', () => {
  // wherever the soft breaks fall, the part's text "--b" at the end of a long line must not start an encoded line
  for (let pad = 0; pad < 80; pad++) {
    const line = `${'a'.repeat(1000 + pad)}--b`;
    const msg = crlf(['From: a@example.org', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: text/plain', '', line, '--b--', '']);
    const out = mended(msg);
    const delimiters = out.split('\r\n').filter((l) => l.startsWith('--b'));
    assert.deepEqual(delimiters, ['--b', '--b--'], `pad ${pad}: ${delimiters.length} delimiter-like lines`);
    const part = out.slice(out.indexOf('quoted-printable\r\n\r\n') + 20, out.lastIndexOf('\r\n--b--'));
    assert.equal(decodeTransfer(part, 'quoted-printable').toString('latin1'), line);
  }
});

test('a multipart/signed (S/MIME, PGP/MIME) with a long line is refused, never re-encoded: that would break its signature', () => {
  const msg = crlf([
    'From: a@example.org',
    'MIME-Version: 1.0',
    'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="s"',
    '',
    '--s',
    'Content-Type: text/plain',
    '',
    'x'.repeat(1200),
    '--s',
    'Content-Type: application/pkcs7-signature; name=smime.p7s',
    'Content-Transfer-Encoding: base64',
    '',
    'AAAA',
    '--s--',
    '',
  ]);
  const r = withinLineLimit(msg);
  assert.ok('refused' in r && /multipart\/signed/.test(r.refused), JSON.stringify('refused' in r ? r.refused : 'rewritten'));
  // the 8-bit walk of the signer alike: what it signs is the message as it came
  const both = withinLineLimit(msg, true);
  assert.ok('refused' in both);
});

test('a broken base64 body of chunks each padded ("...==" mid-line) is re-wrapped whole: no data after the first padding is lost', () => {
  const chunks = Array.from({ length: 30 }, (_, i) => Buffer.from(`chunk ${String(i).padStart(2, '0')} ${'d'.repeat(31)}`));
  const line = chunks.map((c) => c.toString('base64')).join('');
  assert.ok(line.length > 998 && /=[A-Za-z0-9+/]/.test(line), 'padding inside the line');
  const msg = crlf(['From: a@example.org', 'MIME-Version: 1.0', 'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', '', line, '']);
  const out = mended(msg);
  const body = out.slice(out.indexOf('\r\n\r\n') + 4);
  const decoded = Buffer.concat(body.replace(/\s+/g, '').split(/(?<==)(?=[^=])/).map((s) => Buffer.from(s, 'base64')));
  assert.equal(decoded.toString('latin1'), Buffer.concat(chunks).toString('latin1'));
  assert.ok(!/=[A-Za-z0-9+/]/.test(body.replace(/\r\n/g, '')), 'one clean base64 stream');
});

test('a delimiter line padded past 998 octets with white space (RFC 2046 §5.1.1 transport padding) loses its padding, not its meaning', () => {
  const msg = crlf(['From: a@example.org', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '', `--b${' '.repeat(1200)}`, 'Content-Type: text/plain', '', 'one', `--b${'\t'.repeat(1000)}`, 'Content-Type: text/plain', '', 'two', `--b--${' '.repeat(1000)}`, '']);
  const out = mended(msg);
  const parsed = parseMail(Buffer.from(out, 'latin1'));
  assert.equal(parsed.text?.replace(/\s+/g, ' ').trim(), parseMail(msg).text?.replace(/\s+/g, ' ').trim());
  assert.deepEqual(out.split('\r\n').filter((l) => l.startsWith('--b')), ['--b', '--b', '--b--']);
});

test('re-wrapping broken quoted-printable keeps a "--boundary" line of the text escaped ("=2D-b"), not a delimiter', () => {
  const msg = crlf(['From: a@example.org', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: text/plain', 'Content-Transfer-Encoding: quoted-printable', '', 'x'.repeat(1200), '=2D-b', 'after', '--b--', '']);
  const out = mended(msg);
  assert.deepEqual(out.split('\r\n').filter((l) => l.startsWith('--b')), ['--b', '--b--']);
  assert.match(parseMail(Buffer.from(out, 'latin1')).text ?? '', /\r?\n--b\r?\nafter/);
});
