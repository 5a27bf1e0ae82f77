// MULTIAPPEND (RFC 3502): several messages in one APPEND, all of them or none, APPENDUID with a UID set (RFC 4315 §3),
// and a bounded number of messages per command; CATENATE is not offered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sample, startImap } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';

const USER = 'alice@example.org';

/** One append-message with a LITERAL+ literal. */
const part = (msg: string, prefix = ''): string => `${prefix}{${Buffer.byteLength(msg)}+}\r\n${msg}`;

test('MULTIAPPEND: two messages with their own flags and dates in one APPEND, APPENDUID with both UIDs', async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const caps = await c.cmd('C', 'CAPABILITY');
  assert.match(caps, / MULTIAPPEND[ \r]/);
  assert.doesNotMatch(caps, /CATENATE/, 'CATENATE is not implemented, so not offered');
  const reply = await c.send('A', `A APPEND INBOX ${part(sample('one'), '(\\Seen) ')} ${part(sample('two'), '(\\Flagged $Work) "07-Feb-1994 21:52:25 -0800" ')}\r\n`);
  const m = /A OK \[APPENDUID (\d+) 1:2\]/.exec(reply);
  assert.ok(m, reply);
  const list = await h.store.list(USER, 'INBOX');
  assert.deepEqual(list.map((x) => [...x.flags].sort()), [['\\Seen'], ['$Work', '\\Flagged']]);
  // synchronising literals: a "+" before each
  c.write(`B APPEND INBOX {${Buffer.byteLength(sample('three'))}}\r\n`);
  await c.until((s) => s.includes('+ '));
  const rest = await c.send('B', `${sample('three')} {${Buffer.byteLength(sample('four'))}+}\r\n${sample('four')}\r\n`);
  assert.match(rest, /B OK \[APPENDUID \d+ 3:4\]/);
  assert.equal((await h.store.list(USER, 'INBOX')).length, 4);
});

test('MULTIAPPEND is all or none: a bad date-time in the second message stores neither', async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const reply = await c.send('A', `A APPEND INBOX ${part(sample('good'))} ${part(sample('bad'), '"31-Feb-2024 10:00:00 +0000" ')}\r\n`);
  assert.match(reply, /^A BAD/m);
  assert.equal((await h.store.list(USER, 'INBOX')).length, 0);
  // the same two with a real date go in together
  const good = await c.send('B', `B APPEND INBOX ${part(sample('good'))} ${part(sample('bad'), '"29-Feb-2024 10:00:00 +0000" ')}\r\n`);
  assert.match(good, /B OK \[APPENDUID \d+ 1:2\]/);
});

test('MULTIAPPEND is all or none: a message the store refuses takes back the ones stored before it, unseen by others', async (t) => {
  const h = await startImap(t);
  const watcher = await loggedIn(h, t);
  assert.match(await watcher.cmd('S', 'SELECT INBOX'), /\* 0 EXISTS/);
  watcher.write('I IDLE\r\n');
  await watcher.until((s) => s.includes('+ idling'));
  const c = await loggedIn(h, t);
  // the Maildir keeps at most 26 keywords per folder: the third message cannot be stored
  const keywords = Array.from({ length: 27 }, (_, i) => `$k${i}`).join(' ');
  const reply = await c.send('A', `A APPEND INBOX ${part(sample('first'))} ${part(sample('second'))} ${part(sample('third'), `(${keywords}) `)}\r\n`);
  assert.match(reply, /^A NO /m);
  assert.equal((await h.store.list(USER, 'INBOX')).length, 0, 'the first two were taken back');
  assert.deepEqual(await readdir(join(h.root, 'example.org', 'alice', 'Maildir', 'tmp')), [], 'nothing left staged');
  // and the session goes on: the same messages without the keywords go in together
  assert.match(await c.send('B', `B APPEND INBOX ${part(sample('first'))} ${part(sample('second'))}\r\n`), /B OK \[APPENDUID \d+ 3:4\]/, 'UIDs are not used again');
  assert.equal((await h.store.list(USER, 'INBOX')).length, 2);
  // the idling session heard of those two only, never of the ones taken back
  const told = await watcher.until((s) => /\* \d+ EXISTS/.test(s));
  assert.match(told, /^\* 2 EXISTS/m);
  assert.doesNotMatch(told, /EXPUNGE|\* [13] EXISTS/);
});

test('MULTIAPPEND takes at most 1000 messages in one command', async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const many = Array.from({ length: 1001 }, () => part('x\r\n')).join(' ');
  // an implementation limit, not a syntax error: NO [LIMIT] (RFC 5530 §3), as for literals over the bound
  assert.match(await c.send('A', `A APPEND INBOX ${many}\r\n`), /^A NO \[LIMIT\] .*1000/m);
  assert.equal((await h.store.list(USER, 'INBOX')).length, 0);
  const ok = Array.from({ length: 1000 }, () => part('x\r\n')).join(' ');
  assert.match(await c.send('B', `B APPEND INBOX ${ok}\r\n`), /B OK \[APPENDUID \d+ 1:1000\]/);
});

test('a zero-length message is NO and cancels the whole APPEND (RFC 3502 §6.3.11), with LITERAL+ and synchronising literals', async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  assert.match(await c.send('A', `A APPEND INBOX ${part(sample('one'))} {0+}\r\n\r\n`), /^A NO /m);
  assert.match(await c.send('B', 'B APPEND INBOX {0+}\r\n\r\n'), /^B NO /m);
  // a client cancelling midway: the first message sent, then "{0}" in place of the next
  c.write(`C APPEND INBOX {${Buffer.byteLength(sample('two'))}}\r\n`);
  await c.until((s) => s.includes('+ '));
  c.write(`${sample('two')} {0}\r\n`);
  await c.until((s) => (s.match(/^\+ /gm) ?? []).length === 2);
  assert.match(await c.send('C', '\r\n'), /^C NO /m);
  assert.equal((await h.store.list(USER, 'INBOX')).length, 0, 'nothing was stored');
  assert.match(await c.send('D', `D APPEND INBOX ${part(sample('three'))}\r\n`), /^D OK \[APPENDUID \d+ 1\]/m);
});
