// BODY and BODYSTRUCTURE of a message with 8-bit MIME headers and an attached message/rfc822 with 8-bit From and
// Subject, as a legacy client and an ENABLE UTF8=ACCEPT client see them (RFC 6855 §3): the legacy one gets 7-bit
// only (parameters in RFC 2231 form, text and the embedded ENVELOPE as encoded words, a UTF-8 local part as a group
// name), the other the UTF-8; BODY[HEADER.FIELDS] stays the literal bytes for both. python3 imaplib as a real client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPython } from '../helpers/python.ts';
import { startImap, USERS } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';

const GUARD = { timeout: 60_000 };
const wire = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const pct = (s: string): string => [...Buffer.from(s, 'utf8')].map((b) => (b < 0x80 && /[A-Za-z0-9.]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : '%' + b.toString(16).toUpperCase())).join('');

const FILE = 'Übersicht 日本.pdf';
const INNER_SUBJECT = 'Grüße';
const MESSAGE = [
  'From: alice@example.org',
  'Subject: fwd',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="b1"',
  '',
  '--b1',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  'see attached',
  '--b1',
  `Content-Type: application/pdf; name="${FILE}"`,
  `Content-Disposition: attachment; filename="${FILE}"`,
  'Content-Description: Bericht für Jörg',
  'Content-Transfer-Encoding: base64',
  '',
  'JVBERi0=',
  '--b1',
  'Content-Type: message/rfc822',
  '',
  'From: Jörg <jörg@bücher.example>',
  'To: Bob <bob@bücher.example>',
  `Subject: ${INNER_SUBJECT}`,
  '',
  'Hallo',
  '--b1--',
  '',
].join('\r\n');

test('BODYSTRUCTURE: 7-bit for a legacy client, UTF-8 after ENABLE UTF8=ACCEPT, the embedded ENVELOPE too', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const msg = Buffer.from(MESSAGE, 'utf8');
  assert.match(await c.send('A', Buffer.concat([Buffer.from(`A APPEND INBOX {${msg.length}+}\r\n`), msg, Buffer.from('\r\n')])), /^A OK/m);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);

  const legacy = await c.cmd('F', 'FETCH 1 (BODYSTRUCTURE BODY)');
  assert.ok(!/[\x80-\xff]/.test(legacy), `a legacy client gets 7-bit only (RFC 6855 §3)\n${legacy}`);
  assert.ok(legacy.includes(`("NAME*" "utf-8''${pct(FILE)}")`), legacy);
  assert.ok(legacy.includes(`("attachment" ("FILENAME*" "utf-8''${pct(FILE)}"))`), legacy);
  assert.ok(legacy.includes(`"=?utf-8?b?${b64('Bericht für Jörg')}?="`), legacy);
  // the embedded message's ENVELOPE: subject as encoded words, a UTF-8 local part as an empty group's name
  assert.ok(legacy.includes(`("message" "rfc822" NIL NIL NIL "7bit" `), legacy);
  assert.ok(legacy.includes(`"=?utf-8?b?${b64(INNER_SUBJECT)}?="`), legacy);
  assert.ok(legacy.includes(`((NIL NIL "=?utf-8?b?${b64('Jörg <jörg@bücher.example>')}?=" NIL)(NIL NIL NIL NIL))`), legacy);
  assert.ok(legacy.includes(`(("Bob" NIL "bob" "xn--bcher-kva.example"))`), 'a UTF-8 domain as its A-label');
  // header fields are literals of the message's own bytes, whatever the session
  const fields = await c.cmd('H', 'FETCH 1 BODY.PEEK[3.HEADER.FIELDS (SUBJECT)]');
  assert.ok(fields.includes(wire(`Subject: ${INNER_SUBJECT}\r\n`)), fields);

  const u = await loggedIn(h, t);
  assert.match(await u.cmd('E', 'ENABLE UTF8=ACCEPT'), /^\* ENABLED UTF8=ACCEPT/m);
  assert.match(await u.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const utf8 = await u.cmd('F', 'FETCH 1 (BODYSTRUCTURE BODY)');
  assert.ok(utf8.includes(`("NAME" "${wire(FILE)}")`), utf8);
  assert.ok(utf8.includes(`("attachment" ("FILENAME" "${wire(FILE)}"))`), utf8);
  assert.ok(utf8.includes(`"${wire('Bericht für Jörg')}"`), utf8);
  assert.ok(utf8.includes(`"${wire(INNER_SUBJECT)}" (("${wire('Jörg')}" NIL "${wire('jörg')}" "${wire('bücher.example')}"))`), utf8);
  assert.ok(!utf8.includes('=?utf-8?'), 'no encoded words once enabled');
  const fieldsU = await u.cmd('H', 'FETCH 1 BODY.PEEK[3.HEADER.FIELDS (SUBJECT)]');
  assert.ok(fieldsU.includes(wire(`Subject: ${INNER_SUBJECT}\r\n`)), fieldsU);

  // python3 imaplib, a legacy client: its parser takes the response, and the filename decodes back (RFC 2231)
  const script = `
import imaplib, email.utils
c = imaplib.IMAP4('127.0.0.1', ${h.port})
c.login('alice@example.org', '${USERS['alice@example.org']}')
c.select('INBOX')
typ, data = c.fetch('1', '(BODYSTRUCTURE)')
assert typ == 'OK', typ
raw = data[0] if isinstance(data[0], bytes) else b''.join(x if isinstance(x, bytes) else b''.join(x) for x in data)
assert all(b < 0x80 for b in raw), raw
import re
m = re.search(rb'"FILENAME\\*" "([^"]+)"', raw)
assert m, raw
import json, urllib.parse
cs, lang, v = email.utils.decode_rfc2231(m.group(1).decode())
print(json.dumps(urllib.parse.unquote(v, encoding=cs)))
c.logout()
`;
  assert.equal(await runPython<string>(script), FILE);
});
