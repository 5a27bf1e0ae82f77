// OBJECTID (RFC 8474) and SAVEDATE (RFC 8514) for message files that another program named: names with no time or
// a time far off, the same base name in two folders, a ",E=" field the store did not write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sample, startImap } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';

const GUARD = { timeout: 60_000 };
const USER = 'alice@example.org';
/** RFC 3501 date-time, as SAVEDATE gives it (RFC 8514 §3), or NIL. */
const DATE_TIME = /^"[ \d]\d-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{4} \d\d:\d\d:\d\d [+-]\d{4}"$/;

test('SAVEDATE: a file name with no plausible time gives NIL, never a bad date-time or 1970', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  const md = h.store.maildirOf(USER);
  // what mbox converters and other tools write: a counter, a far-off time, an ordinary Maildir name
  const names = ['1:2,S', '999999999999.M1P1.host:2,S', '4102444800.M1P1.host:2,S', '1700000000.M1P1.host:2,S'];
  for (const [i, n] of names.entries()) await writeFile(join(md, 'cur', n), sample(`m${i}`));
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const f = await c.cmd('F', 'FETCH 1:4 (UID SAVEDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])');
  const dates = new Map<string, string>();
  for (const m of f.matchAll(/SAVEDATE (NIL|"[^"]*") BODY\[HEADER\.FIELDS \(SUBJECT\)\] \{\d+\}\r\nSubject: (m\d)/g)) dates.set(m[2] as string, m[1] as string);
  assert.equal(dates.size, 4, f);
  for (const [subject, d] of dates) assert.ok(d === 'NIL' || DATE_TIME.test(d), `${subject}: ${d} is no date-time`);
  assert.equal(dates.get('m0'), 'NIL', 'a counter is no time');
  assert.equal(dates.get('m1'), 'NIL', 'a 12-digit time is no time of this world');
  assert.equal(dates.get('m2'), 'NIL', 'a time in the future is not when the message was saved');
  assert.equal(dates.get('m3'), '"14-Nov-2023 22:13:20 +0000"');
  assert.match(await c.cmd('Q', 'SEARCH SAVEDBEFORE 1-Jan-1990'), /^\* SEARCH\r\n/m);
});
