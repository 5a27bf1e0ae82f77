// ENVELOPE from header fields (RFC 3501 §7.4.2), the per-mailbox envelope cache, and the session's UID bookkeeping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnvelopeCache } from '../../../src/imap/envelope-cache.ts';
import { envelopeOf } from '../../../src/imap/envelope.ts';
import { flagList, str } from '../../../src/imap/encode.ts';
import { ToldFlags, UidSet } from '../../../src/imap/uid-state.ts';
import { requiredText } from '../../../src/imap/search-compile.ts';
import { parseSearch } from '../../../src/imap/search.ts';
import { Cursor } from '../../../src/imap/parser.ts';

test('envelope: first occurrence of each field, sender and reply-to default to from, 8-bit subject read as UTF-8', () => {
  const subject = Buffer.from('Grüße "x"', 'utf8').toString('latin1');
  const env = envelopeOf([
    ['subject', subject],
    ['from', '"Ann Example" <ann@example.net>'],
    ['to', 'Team: bob@example.org, cy@example.org;'],
    ['from', 'second@example.net'],
    ['message-id', '<m1@example.net>'],
  ]);
  const from = '(("Ann Example" NIL "ann" "example.net"))';
  const to = '((NIL NIL "Team" NIL)(NIL NIL "bob" "example.org")(NIL NIL "cy" "example.org")(NIL NIL NIL NIL))';
  // a client without UTF8=ACCEPT gets encoded words (RFC 6855 §3: no UTF-8 in its quoted strings); one that enabled it, UTF-8
  assert.equal(env, `(NIL "=?utf-8?b?${Buffer.from('Grüße "x"').toString('base64')}?=" ${from} ${from} ${from} ${to} NIL NIL NIL "<m1@example.net>")`);
  const utf8 = envelopeOf([['subject', subject], ['from', '"Ann Example" <ann@example.net>']], undefined, true);
  assert.ok(utf8.startsWith('(NIL "Grüße \\"x\\"" (("Ann Example" NIL "ann" "example.net"))'), utf8);
  const memo = new Map<string, string>();
  const plain = envelopeOf([['date', 'Mon, 7 Feb 2022 21:52:25 -0800'], ['subject', 'say "hi" \\ bye'], ['from', 'a@b'], ['sender', 's@b'], ['reply-to', '']], memo);
  assert.equal(plain, '("Mon, 7 Feb 2022 21:52:25 -0800" "say \\"hi\\" \\\\ bye" ((NIL NIL "a" "b")) ((NIL NIL "s" "b")) ((NIL NIL "a" "b")) NIL NIL NIL NIL NIL)');
  assert.equal(memo.get('La@b'), '((NIL NIL "a" "b"))', 'address lists are memoized by form and raw value');
});

test('quoted strings, literals and flag lists', () => {
  assert.equal(str('plain'), '"plain"');
  assert.equal(str('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(str('é'), '{2}\r\né');
  assert.deepEqual([flagList([]), flagList([], true), flagList(['\\Seen']), flagList(['\\Seen', 'Work'], true)], ['()', '(\\Recent)', '(\\Seen)', '(\\Seen Work \\Recent)']);
});

test('the envelope cache keeps one table per mailbox and drops whole mailboxes, least recently used first', () => {
  const cache = new EnvelopeCache(200);
  const a = cache.table('u', 'INBOX', 1);
  a.set(1, 'x'.repeat(60));
  const b = cache.table('u', 'Sent', 1);
  b.set(1, 'y'.repeat(60));
  assert.equal(cache.table('u', 'INBOX', 1), a, 'same mailbox and UIDVALIDITY: same table (and now the most recent)');
  const c = cache.table('u', 'Junk', 1);
  c.set(7, 'z'.repeat(60)); // over budget: Sent (least recently used) goes
  assert.equal(cache.table('u', 'Sent', 1).get(1), undefined);
  assert.equal(a.get(1), 'x'.repeat(60));
  assert.equal(c.get(7), 'z'.repeat(60));
  c.set(8, 'w'.repeat(500)); // larger than the whole budget: not kept, nothing of the table in use dropped
  assert.equal(c.get(8), undefined);
  assert.equal(c.get(7), 'z'.repeat(60));
  assert.notEqual(cache.table('u', 'INBOX', 2), a, 'a new UIDVALIDITY is another table');
});

test('flags told and \\Recent UIDs start from the SELECT list and record later changes only', () => {
  const list = [1, 3, 5].map((uid) => ({ uid, size: 1, internalDate: 0, flags: uid === 3 ? ['\\Seen', 'A'] : [], recent: false }));
  const told = new ToldFlags(list);
  assert.deepEqual([told.get(1), told.get(3), told.get(4)], ['', 'A \\Seen', undefined]);
  told.set(1, '\\Flagged');
  told.delete(3);
  assert.deepEqual([told.get(1), told.get(3)], ['\\Flagged', undefined]);
  const recent = new UidSet([3, 5]);
  assert.deepEqual([recent.has(3), recent.has(4), recent.size], [true, false, 2]);
  recent.add(9);
  recent.add(5);
  recent.delete(3);
  assert.deepEqual([recent.has(3), recent.has(9), recent.size], [false, true, 2]);
  recent.add(3);
  assert.deepEqual([recent.has(3), recent.size], [true, 3]);
});

test('a search names the text every match must hold only when the whole key requires it', () => {
  const key = (text: string): ReturnType<typeof parseSearch> => parseSearch(new Cursor([text]), { maxSeq: 10, maxUid: 100 });
  assert.equal(requiredText(key('SUBJECT "message 9"')), 'message', 'the longest word: white space in a value may differ');
  assert.equal(requiredText(key('UNSEEN FROM ann')), 'ann');
  assert.equal(requiredText(key('NOT SUBJECT x')), undefined);
  assert.equal(requiredText(key('OR SUBJECT x FROM y')), undefined);
  assert.equal(requiredText(key('SUBJECT "say \\"x\\""')), undefined, 'a quote is escaped in the cache lines');
  assert.equal(requiredText(key('CHARSET UTF-8 SUBJECT "grüße"')), undefined);
});
