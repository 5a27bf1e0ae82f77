// Which mailboxes LIST answers with (RFC 5258 §3, RFC 6154 §3): patterns, SUBSCRIBED, SPECIAL-USE, RECURSIVEMATCH.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MailboxInfo } from '../../../src/store/mailbox-store.ts';
import { listLines } from '../../../src/imap/list-select.ts';

const box = (name: string, extra: Partial<MailboxInfo> = {}): MailboxInfo => ({ name, uidValidity: 1, uidNext: 1, subscribed: false, hasChildren: false, ...extra });
const BOXES = [box('INBOX', { subscribed: true }), box('a', { hasChildren: true }), box('a/b', { hasChildren: true }), box('a/b/c', { subscribed: true }), box('Junk', { specialUse: '\\Junk' })];
const SUBS = ['INBOX', 'a/b/c', 'x/y'];
const plain = { subscribed: false, specialUse: false, recursiveMatch: false };
const show = (lines: ReturnType<typeof listLines>): string[] => lines.map((l) => `${l.name} (${l.attrs.join(' ')})${l.childInfo ? ` ${l.childInfo.join(' ')}` : ''}${l.status ? '' : ' -'}`);

test('no selection option: every pattern, each mailbox once, "%" levels above as \\Noselect', () => {
  assert.deepEqual(show(listLines(BOXES, [], ['a/%', 'a/*', 'INBOX'], plain)), ['a/b (\\HasChildren)', 'a/b/c (\\HasNoChildren \\Subscribed)', 'INBOX (\\HasNoChildren \\Subscribed)']);
  assert.deepEqual(show(listLines(BOXES.filter((b) => b.name !== 'a'), [], ['%'], plain)).slice(-1), ['a (\\Noselect \\HasChildren) -']);
});

test('SUBSCRIBED: subscribed names only, \\NonExistent for those that are no mailbox', () => {
  assert.deepEqual(show(listLines(BOXES, SUBS, ['*'], { ...plain, subscribed: true })), ['INBOX (\\HasNoChildren \\Subscribed)', 'a/b/c (\\HasNoChildren \\Subscribed)', 'x/y (\\NonExistent \\Subscribed) -']);
  assert.deepEqual(show(listLines(BOXES, SUBS, ['%'], { ...plain, subscribed: true })), ['INBOX (\\HasNoChildren \\Subscribed)']);
});

test('RECURSIVEMATCH: levels with a subscribed descendant, with CHILDINFO, existing or not', () => {
  const sel = { ...plain, subscribed: true, recursiveMatch: true };
  assert.deepEqual(show(listLines(BOXES, SUBS, ['%'], sel)), ['INBOX (\\HasNoChildren \\Subscribed)', 'a (\\HasChildren) SUBSCRIBED -', 'x (\\NonExistent) SUBSCRIBED -']);
  assert.deepEqual(show(listLines(BOXES, SUBS, ['a/*'], sel)), ['a/b (\\HasChildren) SUBSCRIBED -', 'a/b/c (\\HasNoChildren \\Subscribed)']);
});

test('SPECIAL-USE: only mailboxes with a special-use attribute; with SUBSCRIBED both must hold', () => {
  assert.deepEqual(show(listLines(BOXES, SUBS, ['*'], { ...plain, specialUse: true })), ['Junk (\\HasNoChildren \\Junk)']);
  assert.deepEqual(show(listLines(BOXES, SUBS, ['*'], { ...plain, specialUse: true, subscribed: true })), []);
});
