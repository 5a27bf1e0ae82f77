// Compiled SEARCH predicates over metadata and cached header fields agree with RFC 3501 §6.4.4 semantics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSearch, type CachedCandidate } from '../../../src/imap/search-compile.ts';
import { parseSearch } from '../../../src/imap/search.ts';
import { Cursor } from '../../../src/imap/parser.ts';

const key = (text: string): ReturnType<typeof parseSearch> => parseSearch(new Cursor([text]), { maxSeq: 10, maxUid: 100 });
const cand = (over: Partial<CachedCandidate> & { subject?: string; date?: string; flags?: string[] }): CachedCandidate => ({
  seq: over.seq ?? 1,
  recent: over.recent ?? false,
  meta: { uid: 7, size: 500, internalDate: Date.UTC(2022, 1, 8, 5, 52), flags: over.flags ?? [], recent: false },
  fields: [['subject', over.subject ?? 'Hello World'], ['date', over.date ?? 'Mon, 7 Feb 2022 21:52:25 -0800']],
});

test('SUBJECT is a case-insensitive substring test, decoding encoded words and 8-bit UTF-8', () => {
  assert.equal(compileSearch(key('SUBJECT "lo wor"'))(cand({})), true);
  assert.equal(compileSearch(key('SUBJECT nope'))(cand({})), false);
  assert.equal(compileSearch(key('SUBJECT "o.w"'))(cand({})), false, 'the needle is literal text, not a pattern');
  assert.equal(compileSearch(key('SUBJECT "(re)"'))(cand({ subject: 'x (RE) y' })), true);
  assert.equal(compileSearch(key('SUBJECT "grüße"'))(cand({ subject: '=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus Bonn' })), true);
  const latin1OfUtf8 = Buffer.from('Café', 'utf8').toString('latin1');
  assert.equal(compileSearch(key('SUBJECT CAFÉ'))(cand({ subject: latin1OfUtf8 })), true);
});

test('flags, NOT, OR, dates (internal and sent) and UID sets', () => {
  assert.equal(compileSearch(key('UNSEEN NOT DELETED SINCE 1-Jan-2000'))(cand({ flags: ['\\Flagged'] })), true);
  assert.equal(compileSearch(key('UNSEEN'))(cand({ flags: ['\\seen'] })), false);
  assert.equal(compileSearch(key('OR SEEN FLAGGED'))(cand({ flags: ['\\Flagged'] })), true);
  assert.equal(compileSearch(key('ON 8-Feb-2022'))(cand({})), true, 'INTERNALDATE day in UTC');
  assert.equal(compileSearch(key('SENTON 7-Feb-2022'))(cand({})), true, 'the day written in Date:, its own zone');
  assert.equal(compileSearch(key('UID 5:9 RECENT'))(cand({ recent: true })), true);
  assert.equal(compileSearch(key('NEW'))(cand({ recent: true, flags: ['\\Seen'] })), false);
  assert.equal(compileSearch(key('LARGER 499 SMALLER 501'))(cand({})), true);
});
