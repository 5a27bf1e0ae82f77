// The tokenizer on crafted MIME: nested multiparts whose boundaries share a prefix (as some mailers and
// spamware make them), close delimiters with trailing text, encoded words in filenames, attached messages,
// and mangled input that must never throw.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { tokenize } from '../../../src/bayes/tokenizer.ts';
import { parseMail, splitMultipart } from '../../../src/mime/parse.ts';

const fixture = (name: string): Buffer => readFileSync(new URL(`../../fixtures/mail/${name}`, import.meta.url));

const PREFIXED = [
  'From: shop@example.net',
  'Subject: =?UTF-8?B?w5xiZXJyYXNjaHVuZw==?=',
  'Content-Type: multipart/related; boundary="----=_NextPart_Q7"',
  '',
  '------=_NextPart_Q7',
  'Content-Type: multipart/alternative; boundary="----=_NextPart_Q7AA"',
  '',
  '------=_NextPart_Q7AA',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Gr=C3=BC=C3=9Fe vom plaintext',
  '------=_NextPart_Q7AA',
  'Content-Type: text/html; charset=utf-8',
  'Content-Transfer-Encoding: base64',
  '',
  Buffer.from('<p>htmlpart <a href="https://shop.example.net/deal/today">deal</a></p>').toString('base64'),
  '------=_NextPart_Q7AA--',
  '------=_NextPart_Q7',
  'Content-Type: application/pdf; name="=?UTF-8?Q?Rechnung=5F2024.pdf?="',
  'Content-Transfer-Encoding: base64',
  '',
  'JVBERi0xLjQK',
  '------=_NextPart_Q7--</BODY></HTML>',
  'epilogue words',
  '',
].join('\r\n');

test('a nested boundary that extends the outer one is not taken for the outer delimiter', () => {
  const m = parseMail(Buffer.from(PREFIXED));
  assert.deepEqual(m.problems, []);
  assert.deepEqual(m.parts.map((p) => p.type), ['multipart/related', 'multipart/alternative', 'text/plain', 'text/html', 'application/pdf']);
  assert.equal(m.parts[4]?.filename, 'Rechnung_2024.pdf');
  assert.equal(m.subject, 'Überraschung');
  assert.match(m.text, /^Grüße vom plaintext$/);
  assert.match(m.htmlText, /htmlpart/);
  assert.deepEqual(m.links, ['https://shop.example.net/deal/today']);
  assert.equal(m.text.includes('epilogue'), false, 'text after the close delimiter is epilogue');
  const tokens = new Set(tokenize(m));
  for (const t of ['grüße', 'plaintext', 'htmlpart', 'subject:überraschung', 'url:shop.example.net', 'url:path:deal', 'mime:multipart/alternative', 'filename:.pdf', 'encoding:base64', 'encoding:quoted-printable']) {
    assert.ok(tokens.has(t), `missing ${t}`);
  }
  assert.equal([...tokens].some((t) => t.startsWith('meta:')), false, 'no parse problem tokens');
});

test('delimiter lines: only "--boundary" plus white space, or the close delimiter, split parts', () => {
  assert.deepEqual(splitMultipart('pre\n--b \t\nA\n--bb\nstill A\n--b\r\nB\r\n--b--\nepilogue', 'b'), ['A\n--bb\nstill A', 'B']);
  assert.deepEqual(splitMultipart('--b\nonly part, never closed', 'b'), ['only part, never closed']);
  assert.equal(splitMultipart('no delimiter --b here\n--bx\n', 'b'), undefined);
});

test('the broken-boundary fixture is read as text and flagged; the problem becomes a token', () => {
  const m = parseMail(fixture('broken-boundary.eml'));
  assert.deepEqual(m.problems, ['boundary not found']);
  assert.ok(tokenize(m).includes('meta:boundary_not_found'));
});

test('mangled copies of real messages never throw and always give tokens', () => {
  const sources = [fixture('nested-multipart.eml'), Buffer.from(PREFIXED)];
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 300; i++) {
    const src = sources[i % sources.length] as Buffer;
    const buf = Buffer.from(src);
    // flip bytes, cut the message short and drop or duplicate lines at random
    for (let k = 0; k < 1 + rand(20); k++) buf[rand(buf.length)] = rand(256);
    let text = buf.subarray(0, rand(buf.length + 1)).toString('latin1');
    if (i % 3 === 0) text = text.split('\n').filter(() => rand(4) !== 0).join('\n');
    if (i % 5 === 0) text = text.replace(/--/g, () => (rand(2) ? '-' : '---'));
    const raw = Buffer.from(text, 'latin1');
    const tokens = tokenize(parseMail(raw, { maxBytes: 1 << 20, maxParts: 20, maxDepth: 4 }));
    assert.ok(Array.isArray(tokens));
  }
});

test('8-bit text without a charset (or declared US-ASCII): UTF-8 when valid, else windows-1252; declared UTF-8 stays UTF-8', () => {
  const part = (contentType: string, body: Buffer): Buffer =>
    Buffer.concat([Buffer.from(`From: a@example.net\r\nSubject: s\r\nMIME-Version: 1.0\r\n${contentType}Content-Transfer-Encoding: 8bit\r\n\r\n`), body, Buffer.from('\r\n')]);
  const latin1 = Buffer.from('Gr\xfc\xdfe und ein Gewinnspiel f\xfcr Sie \x80100', 'latin1');
  const utf8 = Buffer.from('Grüße und ein Gewinnspiel für Sie €100', 'utf8');
  for (const ct of ['', 'Content-Type: text/plain\r\n', 'Content-Type: text/plain; charset=us-ascii\r\n']) {
    assert.match(parseMail(part(ct, latin1)).text, /Grüße und ein Gewinnspiel für Sie €100/, `latin-1 bytes with ${JSON.stringify(ct)}`);
    assert.match(parseMail(part(ct, utf8)).text, /Grüße und ein Gewinnspiel für Sie €100/, `UTF-8 bytes with ${JSON.stringify(ct)}`);
  }
  for (const cs of ['iso-8859-1', 'iso88591', 'csisolatin1', 'windows-1252', 'x-unknown-charset']) {
    assert.match(parseMail(part(`Content-Type: text/plain; charset=${cs}\r\n`, latin1)).text, /für Sie €100/, `charset=${cs}: 0x80 is the euro sign`);
  }
  const declared = parseMail(part('Content-Type: text/plain; charset=utf-8\r\n', latin1)).text;
  assert.ok(declared.includes('\ufffd'), 'a declared charset is believed');
  assert.ok(tokenize(parseMail(part('', latin1))).includes('gewinnspiel'));
  assert.ok(tokenize(parseMail(part('', latin1))).some((t) => t.includes('grüße')), 'the accented word is one token');
});
