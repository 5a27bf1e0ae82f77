// SEARCH/SORT result options (RFC 4731, RFC 5267, RFC 5182): RETURN parsing, the ESEARCH line, what SAVE keeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cursor } from '../../../src/imap/parser.ts';
import { asksSave, esearchLine, parseReturn, savedPart, sendsEsearch } from '../../../src/imap/search-return.ts';

const opts = (text: string): Set<string> => new Set(parseReturn(new Cursor([`${text} ALL`])) ?? ['none']);

test('RETURN options: empty means ALL, case-insensitive, unknown or unlisted ones throw, none when absent', () => {
  assert.deepEqual(opts('RETURN ()'), new Set(['ALL']));
  assert.deepEqual(opts('return (min Max SAVE)'), new Set(['MIN', 'MAX', 'SAVE']));
  assert.deepEqual(opts(''), new Set(['none']));
  for (const bad of ['RETURN (PARTIAL 1:5)', 'RETURN MIN', 'RETURN (MIN', 'RETURN ("MIN")']) assert.throws(() => opts(bad), bad);
  assert.equal(asksSave('RETURN (MIN SAVE) ALL'), true);
  assert.equal(asksSave('RETURN (MIN) SUBJECT SAVE'), false);
});

test('SAVE keeps MIN and/or MAX alone, else everything; SAVE alone sends no ESEARCH', () => {
  const hits = [4, 9, 2, 7];
  const kept = (text: string): number[] => savedPart(parseReturn(new Cursor([`${text} ALL`])) ?? new Set(), hits);
  assert.deepEqual(kept('RETURN (SAVE MIN)'), [4]);
  assert.deepEqual(kept('RETURN (SAVE MAX)'), [7]);
  assert.deepEqual(kept('RETURN (SAVE MAX MIN)'), [4, 7]);
  assert.deepEqual(kept('RETURN (SAVE MIN COUNT)'), hits);
  assert.deepEqual(kept('RETURN (SAVE)'), hits);
  assert.deepEqual(savedPart(new Set(['MIN', 'MAX'] as const), [5]), [5], 'one message is MIN and MAX at once');
  assert.deepEqual(savedPart(new Set(['SAVE', 'MAX'] as const), [5]), [5], 'one message is the MAX');
  assert.deepEqual(savedPart(new Set(['SAVE', 'MIN', 'MAX'] as const), []), []);
  assert.equal(sendsEsearch(new Set(['SAVE'] as const)), false);
  assert.equal(sendsEsearch(new Set(['SAVE', 'COUNT'] as const)), true);
});

test('ESEARCH line: quoted tag, UID marker, compact ALL in result order, COUNT always, MODSEQ when given', () => {
  const all = new Set(['MIN', 'MAX', 'ALL', 'COUNT'] as const);
  assert.equal(esearchLine('A1', false, all, [1, 2, 3, 5, 8, 9], 0), '* ESEARCH (TAG "A1") MIN 1 MAX 9 ALL 1:3,5,8:9 COUNT 6\r\n');
  assert.equal(esearchLine('a"b', true, all, [], 7), '* ESEARCH (TAG "a\\"b") UID COUNT 0 MODSEQ 7\r\n');
  assert.equal(esearchLine('s', false, new Set(['ALL'] as const), [6, 7, 3, 1, 2], 0), '* ESEARCH (TAG "s") ALL 6:7,3,1:2\r\n');
  assert.equal(esearchLine('t', false, new Set(['MAX'] as const), [], 0), '* ESEARCH (TAG "t")\r\n');
});
