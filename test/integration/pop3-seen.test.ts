// POP3 and the \Seen flag IMAP shows: RETR marks a message read at UPDATE (RFC 1939 §6), TOP (a header preview) does not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { message, startPop3 } from './pop3-fixture.ts';
import { RawPop3 } from './pop3-client.ts';

const USER = 'alice@example.com';

test('TOP leaves a message unread, RETR marks it \\Seen when the session ends with QUIT', async (t) => {
  const f = await startPop3(t);
  await f.deliver(USER, message('previewed', 'first line\r\nsecond line\r\n'));
  await f.deliver(USER, message('read', 'body\r\n'));
  const c = await RawPop3.connect(f.port);
  t.after(() => c.destroy());
  assert.match((await c.line()) ?? '', /^\+OK /);
  assert.match((await c.cmd('USER alice@example.com')) ?? '', /^\+OK/);
  assert.match((await c.cmd('PASS secret-alice')) ?? '', /^\+OK/);
  for (const cmd of ['TOP 1 0', 'TOP 1 100', 'RETR 2']) {
    assert.match((await c.cmd(cmd)) ?? '', /^\+OK/, cmd);
    assert.ok(await c.multiline(), cmd);
  }
  assert.match((await c.cmd('QUIT')) ?? '', /^\+OK/);
  const flags = (await f.store.list(USER, 'INBOX')).map((m) => m.flags.includes('\\Seen'));
  assert.deepEqual(flags, [false, true], 'only the RETR-ieved message is \\Seen');
});
