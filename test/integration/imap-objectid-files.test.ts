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

test('EMAILID: two different messages under one base name in two folders get different ids', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.createMailbox(USER, 'Imported');
  const md = h.store.maildirOf(USER);
  // an mbox converter numbering each folder's messages from 1
  await writeFile(join(md, 'cur', '1:2,S'), sample('inbox one'));
  await writeFile(join(md, '.Imported', 'cur', '1:2,S'), sample('imported one', 'Other text.'));
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('S1', 'EXAMINE INBOX'), /^S1 OK/m);
  const a = /EMAILID \(([^)]+)\)/.exec(await c.cmd('F1', 'FETCH 1 EMAILID'))?.[1];
  assert.match(await c.cmd('S2', 'EXAMINE Imported'), /^S2 OK/m);
  const b = /EMAILID \(([^)]+)\)/.exec(await c.cmd('F2', 'FETCH 1 EMAILID'))?.[1];
  assert.ok(a !== undefined && b !== undefined);
  assert.notEqual(a, b, 'RFC 8474 §5.1: one EMAILID, one immutable message');
});

test('EMAILID: a ",E=" field the store did not write is no id to carry; such a message can still be copied', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  const md = h.store.maildirOf(USER);
  // a 220-character id in another program's name: carried over, the copy's name would pass NAME_MAX
  await writeFile(join(md, 'cur', `1700000000.M1P1.host,E=${'A'.repeat(220)}:2,S`), sample('long'));
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('C', 'CREATE Keep'), /^C OK/m);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const id = /EMAILID \(([^)]+)\)/.exec(await c.cmd('F1', 'FETCH 1 EMAILID'))?.[1];
  assert.ok(id !== undefined);
  assert.notEqual(id, 'A'.repeat(220));
  assert.match(await c.cmd('Cp', 'COPY 1 Keep'), /^Cp OK/m);
  assert.match(await c.cmd('S2', 'SELECT Keep'), /^S2 OK/m);
  assert.match(await c.cmd('F2', 'FETCH 1 EMAILID'), new RegExp(`EMAILID \\(${id}\\)`), 'the copy keeps the id');
});
