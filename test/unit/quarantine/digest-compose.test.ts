// Composition of a quarantine digest: RFC 3834 marking, both parts, encoded subjects decoded, control and bidi
// characters taken out, long subjects cut, HTML escaped, "and K more".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import PostalMime from 'postal-mime';
import { composeDigest, displayText, escapeHtml, SUBJECT_CHARS, type DigestInput } from '../../../src/quarantine/digest-compose.ts';

const NOW = Date.UTC(2026, 11, 7, 7, 0, 0);

function input(over: Partial<DigestInput> = {}): DigestInput {
  return {
    from: 'postmaster@mx.example',
    to: 'alice@corp.example',
    hostname: 'mx.example',
    now: NOW,
    maxAgeMs: 30 * 86_400_000,
    more: 0,
    items: [
      { id: 'mh3k2a1b0-00a1b-0f0e0d', receivedAt: NOW - 3_600_000, sender: 'x@spam.example', subject: '=?UTF-8?B?R3LDvMOfZSA8Yj5mcmV1bmQ8L2I+?=', score: 12.34, symbols: ['CT_TEST', 'BAYES_SPAM'], links: { release: 'https://gw.example:9465/quarantine/release?t=abc.def', delete: 'https://gw.example:9465/quarantine/delete?t=abc.def' } },
      { id: 'mh3k2a1a0-00a1a-0f0e0c', receivedAt: NOW - 7_200_000, sender: '', subject: `evil\u202Egnp.exe\r\nBcc: x@y ${'long '.repeat(60)}`, score: 10, symbols: [] },
    ],
    ...over,
  };
}

test('subjects: encoded words decoded, controls and bidi overrides out, cut with an ellipsis', () => {
  assert.equal(displayText('=?UTF-8?B?R3LDvMOfZSA8Yj5mcmV1bmQ8L2I+?=', 80), 'Grüße <b>freund</b>');
  assert.equal(displayText('a\u202Eb\u200Bc\r\nd\te', 80), 'abc d e');
  const cut = displayText('x'.repeat(500), SUBJECT_CHARS);
  assert.equal([...cut].length, SUBJECT_CHARS);
  assert.ok(cut.endsWith('…'));
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('a digest: headers, text and HTML parts, escaped, with the links and "and K more"', async () => {
  const raw = composeDigest(input({ more: 3 }));
  const head = raw.toString('utf8').split('\r\n\r\n')[0] ?? '';
  assert.match(head, /^Auto-Submitted: auto-generated$/m, 'RFC 3834 §5');
  assert.match(head, /^From: <postmaster@mx\.example>$/m);
  assert.match(head, /^To: <alice@corp\.example>$/m);
  assert.match(head, /^Subject: Quarantine digest: 5 messages held for you$/m);
  assert.doesNotMatch(raw.toString('latin1'), /[^\r\n\x20-\x7e]/, '7-bit on the wire');
  for (const line of raw.toString('latin1').split('\r\n')) assert.ok(line.length <= 998);
  const mail = await PostalMime.parse(raw);
  const text = mail.text ?? '';
  const html = mail.html ?? '';
  assert.match(text, /Subject: Grüße <b>freund<\/b>/);
  assert.match(text, /Score 12\.3 \(CT_TEST, BAYES_SPAM\)/);
  assert.match(text, /Release: https:\/\/gw\.example:9465\/quarantine\/release\?t=abc\.def/);
  assert.match(text, /from <>/);
  assert.match(text, /\.\.\. and 3 more/);
  assert.doesNotMatch(text, /\u202E|Bcc: x@y\r?\n/, 'no bidi override, no line break from the subject');
  assert.match(html, /Grüße &lt;b&gt;freund&lt;\/b&gt;/);
  assert.doesNotMatch(html, /<b>freund/);
  assert.match(html, /href="https:\/\/gw\.example:9465\/quarantine\/delete\?t=abc\.def"/);
  assert.match(html, /and 3 more/);
  const long = /Subject: (evil.*)/.exec(text)?.[1] ?? '';
  assert.ok([...long].length <= SUBJECT_CHARS && long.endsWith('…'), long);
});

test('without links, none are shown', async () => {
  const mail = await PostalMime.parse(composeDigest(input({ items: [{ id: 'mh3k2a1b0-00a1b-0f0e0d', receivedAt: NOW, sender: 'a@b.example', subject: 'hi', score: 11, symbols: ['X'] }] })));
  assert.doesNotMatch(mail.text ?? '', /Release:|quarantine\//);
  assert.match(mail.headers.find((h) => h.key === 'subject')?.value ?? '', /1 message held/);
});
