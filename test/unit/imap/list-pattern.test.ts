// LIST pattern matching (RFC 3501 §6.3.8) and the canonical form of mailbox names (§5.1.3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileListPattern } from '../../../src/imap/list-pattern.ts';
import { decodeMailboxName } from '../../../src/imap/mailbox-name.ts';

const matches = (pattern: string, name: string): boolean => compileListPattern(pattern).test(name);

test("'*' crosses the delimiter, '%' does not; other characters are literal", () => {
  assert.equal(matches('*', 'a/b/c'), true);
  assert.equal(matches('%', 'a/b'), false);
  assert.equal(matches('a/%', 'a/b'), true);
  assert.equal(matches('a/%', 'a/b/c'), false);
  assert.equal(matches('%/%/%', 'a/b/c'), true);
  assert.equal(matches('a.b', 'axb'), false, '. is no regular-expression wildcard');
  assert.equal(matches('[a-z]', 'q'), false);
  assert.equal(matches('a+', 'aa'), false);
  assert.equal(matches('*b%', 'a/b/c'), false);
  assert.equal(matches('*b%', 'a/bc'), true);
  assert.equal(matches('', ''), true);
  assert.equal(matches('x', ''), false);
});

test('INBOX matches without case, other names with case', () => {
  assert.equal(matches('inbox', 'INBOX'), true);
  assert.equal(matches('inB%', 'INBOX'), true);
  assert.equal(matches('inbox/%', 'INBOX/Sent'), true);
  assert.equal(matches('inbox/sent', 'INBOX/Sent'), false);
  assert.equal(matches('sent', 'Sent'), false);
  assert.equal(matches('inbox', 'INBOXES'), false);
});

test('wildcard-heavy patterns are decided without backtracking', () => {
  const name = 'a'.repeat(200);
  assert.equal(matches('%'.repeat(5000) + 'b', name), false);
  assert.equal(matches('*a'.repeat(150) + '*b', name), false);
  assert.equal(matches('*a'.repeat(150), name), true);
  assert.equal(matches('x'.repeat(10_000), name), false);
});

test('a mailbox name has one modified UTF-7 spelling', () => {
  assert.equal(decodeMailboxName('&AOkA6Q-'), 'éé');
  assert.equal(decodeMailboxName('&-'), '&');
  assert.equal(decodeMailboxName('&2D3eAA-'), '\u{1F600}');
  assert.equal(decodeMailboxName('&AGE-'), undefined, 'printable ASCII must not be shifted');
  assert.equal(decodeMailboxName('&AOk-&AOk-'), undefined, 'two adjacent shifts are one');
  assert.equal(decodeMailboxName('&2D0-'), undefined, 'lone surrogate');
  assert.equal(decodeMailboxName('&2D3-'), undefined, 'non-zero padding bits');
  assert.equal(decodeMailboxName('caf\u00e9'), undefined, 'raw 8-bit');
});
