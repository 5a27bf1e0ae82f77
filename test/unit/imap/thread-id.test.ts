// thread-id.ts: the root a message names (References, In-Reply-To, Message-ID), its normal form, and the ids made of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ownThreadId, rootThreadId, threadRoot } from '../../../src/imap/thread-id.ts';

test('root: the first of References, else the first of In-Reply-To, else Message-ID; none without a msg-id', () => {
  assert.equal(threadRoot([['message-id', '<m@x>'], ['in-reply-to', '<p@x> <q@x>'], ['references', '<r@x> <p@x>']]), 'r@x');
  assert.equal(threadRoot([['message-id', '<m@x>'], ['in-reply-to', 'Your mail <p@x>']]), 'p@x');
  assert.equal(threadRoot([['message-id', '<m@x>']]), 'm@x');
  assert.equal(threadRoot([['subject', 'hi']]), undefined);
  assert.equal(threadRoot([['message-id', 'garbage'], ['references', '<>']]), undefined);
  // only the first "<…>" of References counts (the header cache keeps just that one of a long list)
  assert.equal(threadRoot([['references', '<nodomain> <r@x>'], ['in-reply-to', '<p@x>']]), 'p@x');
});

test('root: a "<…>" inside a comment or a quoted string of In-Reply-To or Message-ID names no message (RFC 5322 CFWS, phrase)', () => {
  assert.equal(threadRoot([['in-reply-to', '(see <root@x>) <p@x>']]), 'p@x');
  assert.equal(threadRoot([['in-reply-to', '(a (nested \\) <c@x>) comment) <p@x> (<q@x>)']]), 'p@x');
  assert.equal(threadRoot([['in-reply-to', 'Your message of "Joe <joe@example.com>" <p@x>']]), 'p@x');
  assert.equal(threadRoot([['in-reply-to', '"a \\" <q@x>" <p@x>']]), 'p@x');
  assert.equal(threadRoot([['in-reply-to', '(unclosed <q@x>'], ['message-id', '(old) <m@x>']]), 'm@x');
  assert.equal(threadRoot([['in-reply-to', '<a<p@x>']]), 'p@x');
  // a long hostile value is one pass
  assert.equal(threadRoot([['in-reply-to', '('.repeat(200_000) + ')'.repeat(200_000) + '<p@x>']]), 'p@x');
  assert.equal(threadRoot([['in-reply-to', '<'.repeat(200_000)]]), undefined);
});

test('root normal form: folding white space gone, id-right lower-cased, id-left kept', () => {
  assert.equal(threadRoot([['references', '< Ab.C@Mail.Example.NET\t>']]), 'Ab.C@mail.example.net');
  assert.notEqual(threadRoot([['message-id', '<ab@x>']]), threadRoot([['message-id', '<AB@x>']]));
});

test('ids: objectids, the same for one root and user, different across users and roots; own thread from EMAILID', () => {
  const id = rootThreadId('a@x', 'alice');
  assert.match(id, /^T[A-Za-z0-9_-]{23}$/);
  assert.equal(rootThreadId('a@x', 'alice'), id);
  assert.notEqual(rootThreadId('a@x', 'bob'), id);
  assert.notEqual(rootThreadId('b@x', 'alice'), id);
  assert.equal(rootThreadId(threadRoot([['message-id', '<a@X>']]) ?? '', 'alice'), id);
  assert.equal(ownThreadId('Mzzz'), 'TMzzz');
  assert.equal(ownThreadId('M'.repeat(300)).length, 255);
});
