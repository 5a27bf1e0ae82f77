// The header fields spamgate writes and rewrites: a forged Authentication-Results in our name is removed,
// the subject tag reaches every Subject field, the result header keeps its lines under 998 octets, and the
// Received field names the protocol the client used.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatReceivedSpf } from '../../../src/dns/spf.ts';
import { formatResultHeader, foldHeader } from '../../../src/scoring/explain.ts';
import type { Verdict } from '../../../src/scoring/scorer.ts';
import { claimsAuthServId, receivedHeader, rewriteSubject, stripHeaders } from '../../../src/smtp/trace-headers.ts';

const headEnd = (raw: Buffer): number => raw.indexOf('\r\n\r\n') + 2;

test('an Authentication-Results field in our name is removed whatever its case, comments or folding; others stay', () => {
  const raw = Buffer.from(
    'Authentication-Results: MX.TEST.EXAMPLE; dkim=pass header.d=paypal.com\r\n' +
      'Authentication-Results: (forged) mx.test.example;\r\n\tspf=pass\r\n' +
      'Authentication-Results:\r\n mx.test.example; dmarc=pass\r\n' +
      'Authentication-Results: mx.upstream.example; spf=fail\r\n' +
      'Authentication-Results: mx.test.example.evil; spf=pass\r\n' +
      'Authentication-Results: "mx.test.example"; spf=pass\r\n' +
      'Authentication-Results: (c (nested) c) mx.test.example.; dkim=pass\r\n' +
      'Subject: hi\r\n\r\nbody\r\n',
  );
  const out = stripHeaders(raw, new Set(), headEnd(raw), (name, value) => claimsAuthServId(name, value, 'mx.test.example')).toString();
  assert.equal(out, 'Authentication-Results: mx.upstream.example; spf=fail\r\nAuthentication-Results: mx.test.example.evil; spf=pass\r\nSubject: hi\r\n\r\nbody\r\n');
});

test('the subject tag goes on every Subject field, after "Subject: " also when the value is folded, and only once', () => {
  const raw = Buffer.from('Subject:\r\n\tfolded value\r\nsubject: second\r\n\r\nbody\r\n');
  const once = rewriteSubject(raw, '***SPAM***', headEnd(raw));
  assert.equal(once.toString(), 'Subject: ***SPAM*** \r\n\tfolded value\r\nsubject: ***SPAM*** second\r\n\r\nbody\r\n');
  const twice = rewriteSubject(Buffer.from('Subject: ***SPAM*** x\r\n\r\nb\r\n'), '***SPAM***', 23);
  assert.equal(twice.toString(), 'Subject: ***SPAM*** x\r\n\r\nb\r\n');
  assert.equal(rewriteSubject(Buffer.from('From: a@b\r\n\r\nb\r\n'), '[SPAM]', 11).toString(), 'Subject: [SPAM]\r\nFrom: a@b\r\n\r\nb\r\n');
});

test('the result header shows five options per symbol (the rest counted), so no line passes 998 octets', () => {
  const options = Array.from({ length: 40 }, (_, i) => `s${i}-${'x'.repeat(60)}`);
  const verdict: Verdict = { action: 'accept', score: 2, decidedBy: 'none', hard: false, symbols: [{ symbol: 'DKIM_FAIL', weight: 2, score: 2, options, description: '' }] } as unknown as Verdict;
  const header = foldHeader('X-Spamgate-Result', formatResultHeader(verdict, 'sid'));
  assert.match(header, /DKIM_FAIL\(2\)\[s0-x+,s1-x+,s2-x+,s3-x+,s4-x+,\+35\]/);
  assert.ok(header.split('\r\n').every((l) => l.length <= 998), `longest line ${Math.max(...header.split('\r\n').map((l) => l.length))}`);
});

test('Received says SMTP after HELO, ESMTP after EHLO, UTF8SMTP with SMTPUTF8 (RFC 3848, RFC 6531 §4.3)', () => {
  const base = { helo: 'client.example', clientIp: '192.0.2.1', hostname: 'mx.test.example', id: 'abc', date: new Date(0), secure: false, authenticated: false };
  assert.match(receivedHeader({ ...base, esmtp: false }), / with SMTP id abc/);
  assert.match(receivedHeader({ ...base, esmtp: true, secure: true, authenticated: true }), / with ESMTPSA id abc/);
  assert.match(receivedHeader({ ...base, esmtp: true, smtputf8: true, secure: true }), / with UTF8SMTPS id abc/);
});

test('Received-SPF stays ASCII: a Unicode HELO and sender domain as A-labels, other non-ASCII as "?"', () => {
  const field = formatReceivedSpf('pass', 'domain of jörg@bücher.example designates 192.0.2.1', { ip: '192.0.2.1', sender: 'jörg@bücher.example', helo: 'héllo.example', receiver: 'mx.test.example', identity: 'mailfrom' });
  // eslint-disable-next-line no-control-regex
  assert.match(field, /^[\x00-\x7f]*$/, field);
  assert.match(field, /envelope-from=j\?rg@xn--bcher-kva\.example;/);
  assert.match(field, /helo=xn--hllo-bpa\.example;/);
});
