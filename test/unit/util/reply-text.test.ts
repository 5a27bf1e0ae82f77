// The bounds put on a next hop's reply text before it is logged, kept or quoted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boundedText, loggedReply, storedReply, STORED_REPLY_MAX } from '../../../src/util/reply-text.ts';

test('boundedText: control characters as one space each run, cut marked with an ellipsis', () => {
  assert.equal(boundedText('a\r\nb\x0bc', 10), 'a b c');
  assert.equal(boundedText('x'.repeat(11), 10), `${'x'.repeat(10)}…`);
  // mostly control characters: what is left is short, but the cut is still marked
  assert.equal(boundedText(`ab${'\r\n'.repeat(50)}`, 10), 'ab …');
});

test('loggedReply and storedReply keep code and enhanced code; a short clean reply is kept as it is', () => {
  assert.equal(loggedReply({ code: 451, enhanced: '4.7.1', text: 'try\r\nlater' }), '451 4.7.1 try later');
  assert.equal(loggedReply({ code: 250, text: 'ok' }), '250 ok');
  const short = { code: 250, enhanced: '2.0.0', text: 'queued as 1' };
  assert.equal(storedReply(short), short);
  const long = storedReply({ code: 550, enhanced: '5.7.1', text: 'y'.repeat(10 * STORED_REPLY_MAX), local: true as const });
  assert.equal(long.text.length, STORED_REPLY_MAX + 1);
  assert.deepEqual({ ...long, text: '' }, { code: 550, enhanced: '5.7.1', text: '', local: true });
});
