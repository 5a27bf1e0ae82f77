// SEARCH over folded header fields (RFC 5322 §2.2.3): unfolding removes only the CRLF, so the TAB or spaces that
// folded the line stay; runs of white space match one space in the needle, both on cached and on read fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImap } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';

const GUARD = { timeout: 30_000 };

test('SEARCH SUBJECT, FROM, HEADER and TEXT find words across a folded line', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const msg =
    'From: "Ann\r\n\tExample" <ann@example.net>\r\nTo: alice@example.org\r\nSubject: folded\r\n\tacross\r\n' +
    'X-Note: two  spaces and\r\n   a fold\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nbody\r\n';
  assert.match(await c.cmd('A', `APPEND INBOX {${msg.length}+}\r\n${msg}`), /^A OK/m);
  assert.match(await c.cmd('B', `APPEND INBOX {3+}\r\nabc`), /^B OK/m);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const one = /^\* SEARCH 1\r\n/m;
  assert.match(await c.cmd('C', 'SEARCH SUBJECT "folded across"'), one, 'cached field, TAB from the fold');
  assert.match(await c.cmd('D', 'SEARCH SUBJECT "FOLDED  ACROSS"'), one, 'a run of spaces in the needle is one space');
  assert.match(await c.cmd('E', 'SEARCH FROM "ann example"'), one);
  assert.match(await c.cmd('F', 'SEARCH HEADER X-Note "two spaces and a fold"'), one, 'a field read from the message');
  assert.match(await c.cmd('G', 'SEARCH TEXT "folded across"'), one);
  assert.match(await c.cmd('H', 'SEARCH OR SUBJECT "folded across" SEEN'), one, 'without the store narrowing by the needle');
  assert.match(await c.cmd('I', 'SEARCH SUBJECT "folded  x"'), /^\* SEARCH\r\n/m);
});
