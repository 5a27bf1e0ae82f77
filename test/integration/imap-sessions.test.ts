// Several IMAP sessions on one mailbox over real sockets: what one session, local delivery or another program changes
// reaches the others at the points RFC 3501 §5.2, §7.4.1 and RFC 2177 allow, with sequence numbers and UIDs intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sample, startImap } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';

const USER = 'alice@example.org';
const GUARD = { timeout: 30_000 };

test('IDLE: a change made while the session is reporting an earlier one is reported too, without waiting for another', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.append(USER, 'INBOX', Buffer.from(sample('old')));
  const a = await loggedIn(h, t);
  assert.match(await a.cmd('S', 'SELECT INBOX'), /^S OK/m);
  // Heard after the idling session (which watches from its SELECT): the flag change is made while that session is
  // in the middle of reporting the new message (its list taken, its \Recent claim waiting for the folder).
  let fired = false;
  const unwatch = h.store.watch(USER, 'INBOX', (change) => {
    if (change.kind !== 'append' || fired) return;
    fired = true;
    void h.store.updateFlags(USER, 'INBOX', 1, { add: ['\\Flagged'] });
  });
  t.after(unwatch);
  a.write('I IDLE\r\n');
  await a.until((s) => s.includes('+ idling\r\n'));
  await h.store.append(USER, 'INBOX', Buffer.from(sample('new')));
  const told = await a.until((s) => /\* 1 FETCH \([^)]*FLAGS \([^)]*\\Flagged/.test(s));
  assert.match(told, /^\* 2 EXISTS\r\n/m);
  assert.match(await a.send('I', 'DONE\r\n'), /^I OK/m);
});
