// 8-bit header text in ENVELOPE and BODYSTRUCTURE (RFC 3501 §7.4.2): read as the UTF-8 it is (RFC 6532), never
// re-encoded a byte at a time; bytes that are not UTF-8 go out as U+FFFD. ENVELOPE text reaches a client without
// UTF8=ACCEPT as encoded words (RFC 6855 §3), BODYSTRUCTURE parameters in RFC 2231 form and descriptions as
// encoded words; a client that enabled it gets the UTF-8.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImap } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';

const GUARD = { timeout: 30_000 };
/** UTF-8 bytes as the latin1 text the raw connection reads them as. */
const wire = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

test('UTF-8 names, subjects and MIME parameters reach the client as UTF-8', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const msg = Buffer.from(
    wire('From: "Jörg" <a@b.example>\r\nSubject: café\r\nContent-Type: text/plain; charset=utf-8; name="résumé.txt"\r\n') +
      'Content-Description: caf\xff\r\n\r\nbody\r\n',
    'latin1',
  );
  const append = Buffer.concat([Buffer.from(`A APPEND INBOX {${msg.length}+}\r\n`), msg, Buffer.from('\r\n')]);
  assert.match(await c.send('A', append), /^A OK/m);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const reply = await c.cmd('F', 'FETCH 1 (ENVELOPE BODYSTRUCTURE)');
  assert.ok(reply.includes(`ENVELOPE (NIL "=?utf-8?b?${b64('café')}?=" (("=?utf-8?b?${b64('Jörg')}?=" NIL "a" "b.example"))`), reply);
  assert.ok(reply.includes(`"CHARSET" "utf-8" "NAME*" "utf-8''r%C3%A9sum%C3%A9.txt")`), reply);
  assert.ok(reply.includes(`NIL "=?utf-8?b?${b64('caf\ufffd')}?=" "7bit"`), `not UTF-8: U+FFFD, as in the Subject\n${reply}`);
  assert.ok(!/[\x80-\xff]/.test(reply), 'a legacy client gets 7-bit only');

  const u = await loggedIn(h, t);
  assert.match(await u.cmd('E', 'ENABLE UTF8=ACCEPT'), /^E OK/m);
  assert.match(await u.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const utf8 = await u.cmd('F', 'FETCH 1 BODYSTRUCTURE');
  assert.ok(utf8.includes(`"CHARSET" "utf-8" "NAME" "${wire('résumé.txt')}")`), utf8);
  assert.ok(utf8.includes(`NIL "${wire('caf\ufffd')}" "7bit"`), utf8);
});
