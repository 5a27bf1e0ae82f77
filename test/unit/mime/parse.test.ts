// MIME decoding for the filter: encodings, charsets, encoded words, HTML, nesting, broken input, bounds.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { tokenize } from '../../../src/bayes/tokenizer.ts';
import { htmlToText } from '../../../src/mime/html.ts';
import { parseStructured } from '../../../src/mime/headers.ts';
import { parseMail } from '../../../src/mime/parse.ts';
import { decodeQuotedPrintable } from '../../../src/mime/transfer.ts';

const fixture = (name: string): Buffer => readFileSync(new URL(`../../fixtures/mail/${name}`, import.meta.url));

test('nested multipart: QP latin-1 text, base64 HTML, encoded headers, attachment recorded not decoded', () => {
  const m = parseMail(fixture('nested-multipart.eml'));
  assert.equal(m.subject, 'Grüße aus Köln');
  assert.match(m.text, /Schöne Grüße, see the café menu and a soft break\./);
  assert.equal(m.htmlText.includes('evil'), false, 'script content is dropped');
  assert.match(m.htmlText, /Hello https:\/\/menu\.example\.net\/cafe\?d=1 menu/);
  assert.deepEqual(m.links, ['https://menu.example.net/cafe?d=1']);
  assert.deepEqual(m.parts.map((p) => p.type), ['multipart/mixed', 'multipart/alternative', 'text/plain', 'text/html', 'application/octet-stream']);
  assert.equal(m.parts[4]?.filename, 'tool.exe');
  assert.equal(m.text.includes('preamble'), false);
  assert.deepEqual(m.problems, []);
  const from = m.headers.find((h) => h.name === 'From');
  assert.equal(from?.value, '"Jürgen" <juergen@example.org>');
});

test('tokens: body words, header-prefixed words, URL host and path, sender details, MIME types', () => {
  const tokens = new Set(tokenize(parseMail(fixture('nested-multipart.eml'))));
  for (const t of ['schöne', 'café', 'subject:köln', 'url:example.net', 'url:menu.example.net', 'url:path:cafe', 'url:query', 'from:domain:example.org', 'from:name:jürgen', 'mime:text/html', 'filename:.exe', 'charset:iso-8859-1', 'hdr:message-id']) {
    assert.ok(tokens.has(t), `missing token ${t}`);
  }
  const pairs = new Set(tokenize(parseMail(fixture('nested-multipart.eml')), { wordPairs: true, maxTokens: 5000 }));
  assert.ok(pairs.has('see the'), 'word pairs when enabled');
  assert.equal(tokens.has('see the'), false);
});

test('a multipart whose boundary never occurs is read as text and noted', () => {
  const m = parseMail(fixture('broken-boundary.eml'));
  assert.match(m.text, /cheap pills/);
  assert.deepEqual(m.problems, ['boundary not found']);
});

test('garbage and hostile input never throws; limits bound the work', () => {
  const inputs = [Buffer.alloc(0), Buffer.from('\r\n\r\n'), Buffer.from('Content-Type: multipart/mixed; boundary=\n\n--\n--'), Buffer.from([0xff, 0xfe, 0x00, 0x41]), Buffer.from(`Content-Type: text/html\n\n${'<a '.repeat(20000)}`)];
  for (const raw of inputs) assert.doesNotThrow(() => tokenize(parseMail(raw)));
  let nested = 'Content-Type: multipart/mixed; boundary=b0\n\n';
  for (let i = 1; i < 30; i++) nested += `--b${i - 1}\nContent-Type: multipart/mixed; boundary=b${i}\n\n`;
  const deep = parseMail(Buffer.from(nested), { maxBytes: 1 << 20, maxParts: 100, maxDepth: 5 });
  assert.ok(deep.problems.includes('nesting too deep'));
  const many = 'Content-Type: multipart/mixed; boundary=x\n\n' + '--x\nContent-Type: text/plain\n\nhi\n'.repeat(500) + '--x--\n';
  const limited = parseMail(Buffer.from(many), { maxBytes: 1 << 20, maxParts: 10, maxDepth: 5 });
  assert.equal(limited.parts.length, 10);
  const big = parseMail(Buffer.from('Subject: x\n\n' + 'word '.repeat(10000)), { maxBytes: 1000, maxParts: 10, maxDepth: 5 });
  assert.equal(big.truncated, true);
  assert.ok(big.text.length < 1000);
});

test('quoted-printable: hex octets, soft breaks, malformed escapes kept', () => {
  assert.equal(decodeQuotedPrintable('a=3Db=\r\nc=ZZd=').toString('latin1'), 'a=bc=ZZd');
});

test('HTML: entities decoded, links and image alts kept, comments dropped', () => {
  const h = htmlToText('<p>Caf&eacute; &amp; &#x263A;<!-- hidden --><img src="http://i.example/x.png" alt="BUY NOW"></p>');
  assert.match(h.text, /&amp;|& ☺/);
  assert.match(h.text, /BUY NOW/);
  assert.equal(h.text.includes('hidden'), false);
  assert.deepEqual(h.links, ['http://i.example/x.png']);
});

test('RFC 2231 filename sections join in number order, gaps and all, at most 100 of them', () => {
  assert.deepEqual(parseStructured('attachment; filename*1="ice.e"; filename*0="invo"; filename*2="xe"'), { value: 'attachment', params: { filename: 'invoice.exe' } });
  assert.equal(parseStructured("attachment; filename*0*=utf-8''r%C3%A9sum; filename*1*=%C3%A9.pdf").params.filename, 'résumé.pdf');
  // a gap in the numbering does not hide a section (nor walk a sparse array slot by slot, as *999999999 once did)
  assert.equal(parseStructured('attachment; filename*0="invoice"; filename*999999999=".exe"').params.filename, 'invoice.exe');
  // at most 100 sections per parameter are read
  const many = Array.from({ length: 150 }, (_, i) => `name*${i}="${i % 10}"`).join('; ');
  assert.equal(parseStructured(`inline; ${many}`).params.name?.length, 100);
});

test('past maxBytes the parts are still listed from their headers (an attachment after a large one is seen)', () => {
  const image = 'iVBORw0KGgo'.repeat(60_000).replace(/(.{76})/g, '$1\r\n');
  const raw = Buffer.from(
    'From: a@example.org\r\nSubject: invoice\r\nContent-Type: multipart/mixed; boundary="outer"\r\n\r\n' +
      `--outer\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n${image}\r\n` +
      '--not-a-boundary\r\nContent-Type: application/x-fake; name=ignored.exe\r\n\r\nx\r\n' +
      '--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n' +
      '--inner\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="invoice.exe"\r\n\r\nTVqQAAMAAAAEAAAA\r\n--inner--\r\n' +
      '--outer--\r\n',
  );
  const mail = parseMail(raw);
  assert.ok(mail.truncated);
  assert.deepEqual(
    mail.parts.map((p) => [p.type, p.filename ?? '']),
    [['multipart/mixed', ''], ['image/png', ''], ['multipart/alternative', ''], ['application/octet-stream', 'invoice.exe']],
  );
});

test('wherever max_bytes cuts (in a delimiter line, in a part header block, right before a line feed), the next part is listed once, whole', () => {
  const limits = { maxBytes: 2000, maxParts: 100, maxDepth: 10 };
  for (let pad = 1700; pad < 2100; pad++) {
    const raw = Buffer.from(
      'From: a@b\r\nContent-Type: multipart/mixed; boundary="BB"\r\n\r\n' +
        '--BB\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n' + 'A'.repeat(pad) + '\r\n' +
        '--BB\r\nContent-Type: application/octet-stream; name="evil.exe"\r\nContent-Disposition: attachment; filename="evil.exe"\r\n\r\nTVqQ\r\n--BB--\r\n',
    );
    const parts = parseMail(raw, limits).parts;
    assert.deepEqual(parts.map((p) => p.filename ?? p.type), ['multipart/mixed', 'image/png', 'evil.exe'], `cut with pad ${pad}`);
  }
});

test('a backslash before a quote in a parameter list: the boundary after it is still found, inside and outside quotes', () => {
  const msg = (contentType: string): Buffer => Buffer.from(`Subject: t\r\nContent-Type: ${contentType}\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhidden words\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>more</p>\r\n--b--\r\n`);
  // invalid (a backslash is a tspecial) but read by lenient mail readers as a parameter and then the boundary
  const outside = parseMail(msg('multipart/mixed; x=a\\"; boundary="b"'));
  assert.deepEqual(outside.parts.map((p) => p.type), ['multipart/mixed', 'text/plain', 'text/html']);
  // a quoted string ending in an escaped backslash closes there
  const inside = parseMail(msg('multipart/mixed; name="a\\\\"; boundary="b"'));
  assert.deepEqual(inside.parts.map((p) => p.type), ['multipart/mixed', 'text/plain', 'text/html']);
  assert.match(outside.text, /hidden words/);
});
