// Wire encodings: date-time and date parsing (RFC 3501 §9), sequence sets and their membership test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inRanges, parseDateTime, parseSearchDate, parseSequenceSet, str } from '../../../src/imap/encode.ts';

test('dates: impossible days and times are refused, not rolled over', () => {
  assert.equal(parseSearchDate('29-Feb-2020'), Date.UTC(2020, 1, 29));
  assert.equal(parseSearchDate('29-Feb-2021'), undefined);
  assert.equal(parseSearchDate('0-Jan-2021'), undefined);
  assert.equal(parseSearchDate('31-Apr-2021'), undefined);
  assert.equal(parseDateTime('17-Jul-1996 02:44:25 -0700'), Date.UTC(1996, 6, 17, 9, 44, 25));
  assert.equal(parseDateTime(' 1-Jan-2020 00:00:00 +0100'), Date.UTC(2019, 11, 31, 23));
  assert.equal(parseDateTime(' 1-Jan-2020 24:00:00 +0000'), undefined);
  assert.equal(parseDateTime(' 1-Jan-2020 00:00:00 +0060'), undefined);
  assert.equal(parseDateTime('31-Jun-2020 00:00:00 +0000'), undefined);
});

test('sequence sets: reversed ranges, "*", overlaps merged; membership by binary search', () => {
  assert.deepEqual(parseSequenceSet('5:3,1,2,9:*', 10), [[1, 5], [9, 10]]);
  assert.deepEqual(parseSequenceSet('*:4', 2), [[2, 4]], '"*" below the start: the range is reversed (§6.4.8)');
  const odd = parseSequenceSet(Array.from({ length: 5000 }, (_, i) => String(2 * i + 1)).join(','), 1);
  assert.equal(odd.length, 5000);
  assert.equal(inRanges(odd, 4999), true);
  assert.equal(inRanges(odd, 5000), false);
  assert.equal(inRanges(odd, 0), false);
  assert.equal(inRanges(odd, 10_000), false);
  for (const bad of ['0', '1:0', '4294967296', '1,,2', '1:2:3', ':1', '-1', '1 2', ''])
    assert.throws(() => parseSequenceSet(bad, 10), /invalid sequence/, bad);
});

test('str: quoted when plain, a literal otherwise, and never a NUL (RFC 3501 §4.3)', () => {
  assert.equal(str('plain'), '"plain"');
  assert.equal(str('say "hi"'), '"say \\"hi\\""');
  assert.equal(str('a\0b'), '{5}\r\na\ufffdb');
  assert.equal(str(Buffer.from('x\0')), '{4}\r\nx\ufffd');
});
