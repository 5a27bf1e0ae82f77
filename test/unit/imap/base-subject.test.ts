// Base subject extraction (RFC 5256 §2.1) and the per-message SORT/THREAD keys (sent date, first mailbox, message IDs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asciiFold, baseSubject, compareText, unicodeFold } from '../../../src/imap/base-subject.ts';
import { firstMailbox, headerKeys, headerKeysSize, messageIds, messageKeys, parseSentDate, type HeaderKeys } from '../../../src/imap/message-keys.ts';
import type { MessageMeta } from '../../../src/store/mailbox-store.ts';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const base = (s: string): string => baseSubject(s).text;

test('base subject: Re/Fw/Fwd leaders, blobs, (fwd) trailers and [fwd: ] wrappers, in a loop', () => {
  const cases: [string, string][] = [
    ['hello', 'hello'],
    ['Re: hello', 'hello'],
    ['RE: re: Re:hello', 'hello'],
    ['Fwd: hello', 'hello'],
    ['FW: hello', 'hello'],
    ['fwd : hello', 'hello'],
    ['Re[2]: hello', 'hello'],
    ['Re [2]: hello', 'hello'],
    ['[list] hello', 'hello'],
    ['[list] Re: [list] Re: hello', 'hello'],
    ['[a][b] Re: hello', 'hello'],
    ['hello (fwd)', 'hello'],
    ['hello (FWD) (fwd)  ', 'hello'],
    ['[Fwd: hello]', 'hello'],
    ['[fwd: Re: [list] hello (fwd)]', 'hello'],
    ['Re: [Fwd: Re: hello]', 'hello'],
    ['  \t hello \t  world  ', 'hello world'],
    ['Re: ', ''],
    ['', ''],
    // step 4: a blob is only removed when something is left
    ['[only a blob]', '[only a blob]'],
    ['Re: [only a blob]', '[only a blob]'],
    ['[a] [b]', '[b]'],
    // not leaders: no colon, or a word that only begins with "re"
    ['Re hello', 'Re hello'],
    ['Report: x', 'Report: x'],
    ['Regarding', 'Regarding'],
    ['[unclosed Re: x', '[unclosed Re: x'],
    // a trailing "(fwd)" inside a wrapper, and a wrapper without its bracket
    ['[fwd: x', '[fwd: x'],
  ];
  for (const [subject, want] of cases) assert.equal(base(subject), want, JSON.stringify(subject));
});

test('base subject: encoded words and 8-bit UTF-8 are decoded before stripping (RFC 5256 §2.1 step 1)', () => {
  assert.equal(base('=?utf-8?q?Re=3A_caf=C3=A9?='), 'café');
  assert.equal(base('Re: =?iso-8859-1?q?caf=E9?= =?utf-8?b?w6k=?='), 'caféé');
  assert.equal(base(Buffer.from('Re: Grüße', 'utf8').toString('latin1')), 'Grüße');
  assert.equal(base('=?bogus?x?garbage?='), '=?bogus?x?garbage?=');
});

test('base subject: reply or forward is told (RFC 5256 §3 REFERENCES step 5)', () => {
  assert.equal(baseSubject('hello').replyOrForward, false);
  assert.equal(baseSubject('[list] hello').replyOrForward, false);
  assert.equal(baseSubject('  hello').replyOrForward, false);
  assert.equal(baseSubject('Re: hello').replyOrForward, true);
  assert.equal(baseSubject('hello (fwd)').replyOrForward, true);
  assert.equal(baseSubject('[Fwd: hello]').replyOrForward, true);
});

// The speed of these on hostile subjects is measured by `BENCH=hostile npm run bench` (test/bench/hostile-input.ts).
test('base subject: a hostile subject is reduced right', () => {
  const long = 'Re: '.repeat(50_000) + '[fwd: '.repeat(20_000) + 'x' + ']'.repeat(20_000) + ' (fwd)'.repeat(20_000);
  assert.equal(base(long), 'x');
  assert.equal(baseSubject(long).replyOrForward, true);
  assert.equal(base('['.repeat(100_000)), '['.repeat(100_000));
  assert.equal(base('[a'.repeat(50_000)), '[a'.repeat(50_000));
});

test('base subject: a run of blobs without a Re: after it is removed (each blob once, not rescanned)', () => {
  assert.equal(base('[a] '.repeat(50_000) + 'x'), 'x');
  assert.equal(base('[a] '.repeat(50_000) + '[b]'), '[b]');
  assert.equal(base('[a] [b] Re: [c] x'), 'x');
  assert.equal(base('[a] [b] [c]'), '[c]');
  assert.equal(base('[a] [b] re [x] x'), 're [x] x');
});

test('collation: i;ascii-casemap folds ASCII only; strings compare by code point', () => {
  assert.equal(asciiFold('HeLLo école'), 'HELLO éCOLE');
  assert.equal(asciiFold('ABC'), 'ABC');
  assert.ok(compareText(asciiFold('apple'), asciiFold('_x')) < 0, 'letters fold to upper case (RFC 4790 §9.2), below "_"');
  assert.ok(compareText('a', 'b') < 0);
  assert.ok(compareText('ab', 'a') > 0);
  assert.ok(compareText('\u{1F600}', '\uFFFD') > 0, 'an astral character sorts above U+FFFD, as in UTF-8');
});

test('collation: subjects of megabytes differing only at the end compare right (SORT SUBJECT of a spam folder)', () => {
  const a = 'A'.repeat(10_000_000) + 'b';
  const b = 'A'.repeat(10_000_000) + 'c';
  assert.ok(compareText(a, b) < 0);
  assert.ok(compareText(b, a) > 0);
  assert.equal(compareText(a, 'A'.repeat(10_000_000) + 'b'), 0);
  assert.ok(compareText(a + '\u{1F600}', a + '\uFFFD') > 0, 'code point order after a long common prefix too');
});

test('sent date: RFC 5322 dates, obsolete zones and years, garbage is NaN', () => {
  assert.equal(parseSentDate('Mon, 7 Feb 1994 21:52:25 -0800'), Date.UTC(1994, 1, 8, 5, 52, 25));
  assert.equal(parseSentDate('7 Feb 1994 21:52 GMT'), Date.UTC(1994, 1, 7, 21, 52));
  assert.equal(parseSentDate('Tue, 8 Feb 94 01:00:00 EST'), Date.UTC(1994, 1, 8, 6, 0));
  assert.equal(parseSentDate('8 Feb 04 01:00:00'), Date.UTC(2004, 1, 8, 1, 0), 'no zone: UTC (RFC 5256 §2.2)');
  for (const bad of ['', 'yesterday', '1', '32 Feb 2020 10:00:00', '7 Foo 1994 10:00:00', '7 Feb 1994 25:00:00', '\u0000\u00ff']) assert.ok(Number.isNaN(parseSentDate(bad)), bad);
});

test('sent date: a four-digit year below 100 is that year, not 1900 plus it (Date.UTC reads 0-99 as 19xx)', () => {
  const year = (y: number): number => {
    const d = new Date(0);
    d.setUTCFullYear(y, 0, 1);
    return d.getTime();
  };
  assert.equal(parseSentDate('Mon, 1 Jan 0050 00:00:00 +0000'), year(50));
  assert.equal(parseSentDate('1 Jan 0001 00:00 +0000'), year(1));
  assert.ok(parseSentDate('1 Jan 0030 00:00 +0000') < parseSentDate('1 Jan 1920 00:00 +0000'), 'year 30 before 1920');
  assert.equal(parseSentDate('1 Jan 50 00:00 +0000'), Date.UTC(1950, 0, 1), 'two digits: RFC 5322 §4.3');
});

test('first mailbox and message IDs: lenient, never throwing', () => {
  assert.equal(firstMailbox('Bob <Bob.Smith@Example.org>, carol@x.y'), 'BOB.SMITH');
  assert.equal(firstMailbox('team: Dave <dave@x.y>;'), 'DAVE');
  assert.equal(firstMailbox('root'), 'ROOT');
  assert.equal(firstMailbox(''), '');
  assert.equal(firstMailbox(undefined), '');
  assert.equal(firstMailbox('<<<@@>>>,,;:"'), firstMailbox('<<<@@>>>,,;:"'));
  assert.deepEqual(messageIds(' <a@b> junk <c@d>\t<bad> <@x> <y@> <e@f>'), ['a@b', 'c@d', 'e@f']);
  const meta: MessageMeta = { uid: 9, size: 100, internalDate: 1000, flags: [], recent: false };
  const k = messageKeys(3, meta, headerKeys([['date', 'not a date'], ['subject', 'Re: Hi'], ['in-reply-to', '<p@x> <q@x>'], ['message-id', 'garbage']]));
  assert.equal(k.sent, 1000, 'an unparsable Date falls back to INTERNALDATE (RFC 5256 §2.2)');
  assert.equal(k.subject, 'HI');
  assert.equal(k.replyOrForward, true);
  assert.deepEqual(k.references, ['p@x'], 'the first In-Reply-To ID when there is no References');
  assert.equal(k.messageId, undefined);
  assert.equal(k.from, '');
  const r = messageKeys(1, meta, headerKeys([['references', '<a@x> <b@x>'], ['in-reply-to', '<c@x>']]));
  assert.deepEqual(r.references, ['a@x', 'b@x']);
});

test('subjects collate by i;unicode-casemap (RFC 5051; RFC 5256 §1 requires I18NLEVEL=1), which is i;ascii-casemap on ASCII', () => {
  assert.equal(unicodeFold('Hello_[x]'), asciiFold('Hello_[x]'));
  assert.equal(unicodeFold('école'), unicodeFold('ÉCOLE'));
  assert.ok(compareText(unicodeFold('Ecoles'), unicodeFold('école')) < 0 && compareText(unicodeFold('école'), unicodeFold('fa')) < 0, 'é among the e words (after them, as its accent decomposes), not after z');
  assert.equal(unicodeFold('ǆ'), unicodeFold('Ǆ'), 'digraphs fold to their titlecase');
  assert.equal(unicodeFold('ﬁle'), 'fiLE', 'a ligature has no simple titlecase: it only decomposes');
  assert.equal(unicodeFold('straße'), 'STRAßE', 'ß has no simple upper case');
  assert.equal(unicodeFold('Σίσυφος'), unicodeFold('ΣΊΣΥΦΟΣ'));
  assert.equal(unicodeFold('𐐨𐐯'), unicodeFold('𐐀𐐇'), 'astral letters (Deseret) fold too');
});

test('keys cut from huge header fields do not hold the fields in memory (the key cache counts only the keys)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept: HeaderKeys[] = [];
  let counted = 0;
  for (let i = 0; i < 100; i++) {
    const big = 'A'.repeat(1_000_000) + i;
    const k = headerKeys([
      ['subject', `[${big}] HELLO WORLD 12345 ${i}`],
      ['message-id', `<abcdefghijklmnop${i}@x> ${big}`],
      ['references', `<qrstuvwxyzabcdef${i}@x> ${big}`],
      ['from', `${big} <ABCDEFGHIJKLMNOPQ${i}@x>`],
    ]);
    counted += headerKeysSize(k);
    kept.push(k);
  }
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  assert.equal(kept[7]?.subject, 'HELLO WORLD 12345 7');
  assert.equal(kept[7]?.messageId, 'abcdefghijklmnop7@x');
  assert.ok(grown < 20_000_000, `100 keys counted as ${counted} bytes hold ${grown} bytes`);
});
