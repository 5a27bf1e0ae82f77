// The 7-bit form of a message with raw UTF-8 header fields, as a POP3 client that has not issued UTF8 receives it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { downgradeMessage, headerHasEightBit } from '../../../src/mime/downgrade-header.ts';
import { decodeHeaderValue } from '../../../src/mime/headers.ts';

const BODY = 'Grüße aus Zürich\r\n.a dotted line stays\r\n';
const UTF8_MESSAGE = Buffer.from(
  'Return-Path: <jörg@bücher.example>\r\n' +
    'Received: from mx.example by gate for <jörg@bücher.example>; Mon, 7 Dec 2026 10:00:00 +0000\r\n' +
    'From: "Jörg Müller" <jörg@bücher.example>\r\n' +
    'To: Ann <ann@bücher.example>, bob@example.com,\r\n  Team: 张伟@例子.广告, carol@example.com;\r\n' +
    'Subject: Grüße — ' + 'ä'.repeat(60) + '\r\n' +
    'X-Note: plain ascii stays\r\n' +
    'Content-Type: text/plain; charset=utf-8; name="Bericht für Jörg.txt"\r\n' +
    '\r\n' +
    BODY,
);

function header(buf: Buffer): string {
  const s = buf.toString('latin1');
  return s.slice(0, s.indexOf('\r\n\r\n') + 2);
}

/** Unfolded fields of a header: name → values. */
function fields(head: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of head.replace(/\r\n(?=[ \t])/g, '').split('\r\n').filter(Boolean)) {
    const i = f.indexOf(':');
    const name = f.slice(0, i).toLowerCase();
    out.set(name, [...(out.get(name) ?? []), f.slice(i + 1).trim()]);
  }
  return out;
}

test('a header with raw UTF-8 becomes 7-bit, folded, and decodes back to the text', () => {
  assert.equal(headerHasEightBit(UTF8_MESSAGE), true);
  const out = downgradeMessage(UTF8_MESSAGE);
  const head = header(out);
  assert.equal(headerHasEightBit(out), false, 'no 8-bit octet left in the header');
  assert.ok(head.split('\r\n').every((l) => l.length <= 78), 'lines folded within 78 characters');
  assert.ok(out.toString('utf8').endsWith('\r\n\r\n' + BODY), 'the body is sent as stored');
  const f = fields(head);
  assert.equal(decodeHeaderValue(f.get('subject')?.[0] ?? ''), 'Grüße — ' + 'ä'.repeat(60));
  // UTF-8 local part: no ASCII form, an empty group naming the sender (RFC 6857)
  const from = f.get('from')?.[0] ?? '';
  assert.match(from, /^=\?utf-8\?b\?[^ ]+\?=( =\?utf-8\?b\?[^ ]+\?=)*:;$/);
  assert.equal(decodeHeaderValue(from.slice(0, -2)).replace(/ (?==)/g, ''), 'Jörg Müller <jörg@bücher.example>');
  // UTF-8 domain only: the A-label form, usable by any client
  const to = f.get('to')?.[0] ?? '';
  assert.match(to, /^Ann <ann@xn--bcher-kva\.example>, bob@example\.com, Team: carol@example\.com;, =\?utf-8\?b\?/);
  assert.equal(f.get('x-note')?.[0], 'plain ascii stays');
  // structured fields with no 7-bit form keep their text under Downgraded- names
  assert.equal(f.has('return-path'), false);
  assert.equal(decodeHeaderValue(f.get('downgraded-return-path')?.[0] ?? ''), '<jörg@bücher.example>');
  assert.ok(f.has('downgraded-received'));
  assert.equal(f.get('content-type')?.[0], "text/plain; charset=utf-8; name*=utf-8''Bericht%20f%C3%BCr%20J%C3%B6rg.txt");
});

test('a 7-bit header is sent as it is (the same buffer); the result is the same every time', () => {
  const plain = Buffer.from('From: a@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nbody ü\r\n');
  assert.equal(headerHasEightBit(plain), false, '8-bit in the body does not count');
  assert.equal(downgradeMessage(plain), plain);
  assert.deepEqual(downgradeMessage(UTF8_MESSAGE), downgradeMessage(UTF8_MESSAGE));
});

test('hostile headers: a field without a colon, no body, bare LF, thousands of addresses; never a throw, 7-bit out', () => {
  const bad = Buffer.from('Subject: ü\nnot a field ü\nTo: "unterminated <x@ü.example\nFrom: ' + 'ü@x.example, '.repeat(3000) + '\n');
  const out = downgradeMessage(bad);
  assert.equal(headerHasEightBit(out), false);
  assert.match(out.toString('latin1'), /^Subject: =\?utf-8\?b\?w7w=\?=\r\nDowngraded-Field: /);
});

test('a field in a legacy 8-bit charset (not UTF-8) is left as it was always sent; UTF-8 ones around it downgraded', () => {
  const latin1 = Buffer.concat([Buffer.from('Subject: Gr'), Buffer.from([0xfc, 0xdf]), Buffer.from('e\r\nTo: Jörg <j@x.example>\r\n\r\nbody\r\n')]);
  const out = downgradeMessage(latin1);
  assert.deepEqual(out.subarray(0, 15), latin1.subarray(0, 15));
  assert.match(out.toString('latin1'), /\r\nTo: =\?utf-8\?b\?SsO2cmc=\?= <j@x\.example>\r\n\r\nbody\r\n$/);
});

test('a long UTF-8 MIME parameter becomes RFC 2231 continuations: no line over 78 octets, the value decodes back', () => {
  const filename = '季度报告'.repeat(60) + ' Jörg.pdf';
  const raw = Buffer.from(`Content-Type: application/pdf; name="${filename}"\r\nContent-Disposition: attachment; filename="${filename}"; size=5\r\n\r\nbody\r\n`);
  const head = header(downgradeMessage(raw));
  assert.ok(head.split('\r\n').every((l) => l.length <= 78), head.split('\r\n').map((l) => l.length).join(' '));
  const f = fields(head);
  for (const [field, param] of [['content-type', 'name'], ['content-disposition', 'filename']] as const) {
    const value = f.get(field)?.[0] ?? '';
    const segs = [...value.matchAll(new RegExp(`(?:^|;\\s*)${param}\\*(\\d+)\\*=([^;\\s]+)`, 'g'))];
    assert.ok(segs.length > 1, value);
    assert.deepEqual(segs.map((s) => Number(s[1])), segs.map((_, i) => i), 'numbered from 0');
    const joined = segs.map((s) => s[2]).join('');
    assert.ok(joined.startsWith("utf-8''"), 'the charset in the first segment only');
    assert.equal(decodeURIComponent(joined.slice(7)), filename);
  }
  assert.match(f.get('content-disposition')?.[0] ?? '', /; size=5$/);
});

test('hostile: a UTF-8 Content-Type of 100,000 semicolons is downgraded in linear time (it blocked the event loop for minutes)', () => {
  const raw = Buffer.from(`Content-Type: text/plain; name="ü"${'; x="a;b"'.repeat(2000)}${';'.repeat(100_000)}\r\n\r\nbody\r\n`);
  // quadratic, this took minutes (the run's test timeout catches it); no timed assertion: speed is a benchmark's
  const out = downgradeMessage(raw);
  assert.equal(headerHasEightBit(out), false);
  assert.match(header(out), /^Content-Type: text\/plain; name\*=utf-8''%C3%BC; x="a;b";/);
});
