// UTF8=ACCEPT pieces (RFC 6855): mailbox names in either wire form, UTF-8 quoted strings, and the 7-bit downgrade
// of ENVELOPE for clients that have not enabled it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodedWords, legacyAddress } from '../../../src/mime/downgrade.ts';
import { ustr } from '../../../src/imap/encode.ts';
import { envelopeOf } from '../../../src/imap/envelope.ts';
import { mailboxFromWire, mailboxToWire } from '../../../src/imap/mailbox-name.ts';

const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
const decodeWords = (s: string): string =>
  s
    .split(' ')
    .map((w) => {
      const m = /^=\?utf-8\?b\?([A-Za-z0-9+/=]+)\?=$/.exec(w);
      assert.ok(m?.[1], `not an encoded word: ${w}`);
      return Buffer.from(m[1], 'base64').toString('utf8');
    })
    .join('');

test('mailbox names: modified UTF-7 before ENABLE, UTF-8 after, the same folder either way', () => {
  const name = 'Überweisungen/日本';
  assert.equal(mailboxToWire(name, false), '&ANw-berweisungen/&ZeVnLA-');
  assert.equal(mailboxFromWire('&ANw-berweisungen/&ZeVnLA-', false), name);
  assert.equal(mailboxToWire(name, true), `"${name}"`);
  assert.equal(mailboxFromWire(name, true), name);
  assert.equal(mailboxFromWire(name, false), undefined, 'UTF-8 is not modified UTF-7');
  // after ENABLE "&" is itself: "A&B" is the folder legacy clients call "A&-B"; "&ANw-" is no longer "Ü"
  assert.equal(mailboxFromWire('A&B', true), 'A&B');
  assert.equal(mailboxToWire('A&B', false), 'A&-B');
  assert.equal(mailboxFromWire('&ANw-', true), '&ANw-');
  for (const bad of ['a\u0001b', 'a\u0085b', 'a\u2028b', 'a\ufffdb']) assert.equal(mailboxFromWire(bad, true), undefined, JSON.stringify(bad));
  assert.equal(mailboxToWire('INBOX', true), 'INBOX');
});

test('UTF-8 quoted strings once enabled; literals for controls and long text', () => {
  assert.equal(ustr('café "x"'), '"café \\"x\\""');
  assert.equal(ustr('a\r\nb'), '{4}\r\na\r\nb');
  assert.match(ustr('é'.repeat(600)), /^\{1200\}\r\n/);
});

test('encoded words: within 75 characters, split between characters, decoding to the text', () => {
  assert.equal(encodedWords('plain'), 'plain');
  const text = '日本語のテキスト'.repeat(8);
  const words = encodedWords(text);
  for (const w of words.split(' ')) assert.ok(w.length <= 75, w);
  assert.equal(decodeWords(words), text);
});

test('legacy addresses: UTF-8 domains as A-labels, UTF-8 local parts as an empty group naming the address', () => {
  assert.deepEqual(legacyAddress('', 'user', 'bücher.example'), { kind: 'address', mailbox: 'user', host: 'xn--bcher-kva.example' });
  const g = legacyAddress('Jörg', 'jörg', 'example.org');
  assert.equal(g.kind, 'group');
  assert.equal(g.kind === 'group' ? decodeWords(g.name) : '', 'Jörg <jörg@example.org>');
  const env = envelopeOf([['from', latin1('Jörg <jörg@bücher.example>')], ['to', 'a@b.example']]);
  assert.ok(/^[\x20-\x7e]*$/.test(env), `7-bit only: ${env}`);
  assert.match(env, /^\(NIL NIL \(\(NIL NIL "=\?utf-8\?b\?[^"]+\?=" NIL\)\(NIL NIL NIL NIL\)\)/);
  const utf8 = envelopeOf([['from', latin1('Jörg <jörg@bücher.example>')]], undefined, true);
  assert.match(utf8, /\(\("Jörg" NIL "jörg" "bücher\.example"\)\)/);
});

test('legacy ENVELOPE: a group member with a UTF-8 local part does not nest a group (RFC 5322 §3.4)', () => {
  const env = envelopeOf([['to', latin1('Team: jörg@example.org, bob@example.org;, <@ü.example:x@y.example>')]]);
  assert.ok(/^[\x20-\x7e]*$/.test(env), `7-bit only: ${env}`);
  const to = /^\(NIL NIL NIL NIL NIL (\(.*\)) NIL NIL NIL NIL\)$/.exec(env)?.[1] ?? '';
  const items = [...to.matchAll(/\((NIL|"[^"]*") (NIL|"[^"]*") (NIL|"[^"]*") (NIL|"[^"]*")\)/g)].map((m) => m.slice(1));
  // one group start, its two members, one group end, then the address outside the group (its UTF-8 route dropped)
  assert.deepEqual(items.map(([, , mb, host]) => (host === 'NIL' ? (mb === 'NIL' ? 'end' : 'start') : 'address')), ['start', 'address', 'address', 'end', 'address']);
  assert.equal(decodeWords(items[1]?.[0]?.slice(1, -1) ?? ''), 'jörg@example.org');
  assert.deepEqual(items[2], ['NIL', 'NIL', '"bob"', '"example.org"']);
  assert.deepEqual(items[4], ['NIL', 'NIL', '"x"', '"y.example"']);
});

test('the address memo keeps the two forms apart for every header value, one starting with NUL too', () => {
  const memo = new Map<string, string>();
  const value = latin1('Jörg <a@bücher.example>');
  // a legacy session fetches a message whose From starts with NUL; a UTF-8 session then one whose From is the rest
  envelopeOf([['from', '\u0000' + value]], memo, false);
  const utf8 = envelopeOf([['from', value]], memo, true);
  assert.match(utf8, /\(\("Jörg" NIL "a" "bücher\.example"\)\)/, utf8);
  envelopeOf([['from', value]], memo, true);
  const legacy = envelopeOf([['from', '\u0000' + value]], memo, false);
  assert.ok(/^[\x20-\x7e]*$/.test(legacy), `7-bit only: ${legacy}`);
});
