// IMAP answers a real client builds on, checked byte for byte over a socket: section numbers of BODY[...]
// (RFC 3501 §6.4.5), ENVELOPE address structures (§7.4.2), BODYSTRUCTURE fields and BODY/TEXT search reach.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImap } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';

const USER = 'alice@example.org';

const crlf = (s: string): string => s.replace(/\r?\n/g, '\r\n');

test('part 1 of a message whose body is message/rfc822 is the whole message it holds, as BODYSTRUCTURE sizes it', async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  const outer = crlf('From: a@example.net\nSubject: outer\nMIME-Version: 1.0\nContent-Type: message/rfc822\n\n');
  const innerHead = crlf('From: x@example.com\nSubject: inner\n\n');
  const innerBody = crlf('inner body\n');
  await h.store.append(USER, 'INBOX', Buffer.from(outer + innerHead + innerBody));
  const c = await loggedIn(h, t);
  await c.cmd('S', 'EXAMINE INBOX');
  const held = innerHead + innerBody;
  assert.match(await c.cmd('B', 'FETCH 1 BODYSTRUCTURE'), new RegExp(`\\("message" "rfc822" NIL NIL NIL "7bit" ${held.length} `));
  const r = await c.cmd('F', 'FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[1.HEADER] BODY.PEEK[1.TEXT] BODY.PEEK[1.1])');
  const want =
    `* 1 FETCH (BODY[1] {${held.length}}\r\n${held} BODY[1.MIME] {${outer.length}}\r\n${outer}` +
    ` BODY[1.HEADER] {${innerHead.length}}\r\n${innerHead} BODY[1.TEXT] {${innerBody.length}}\r\n${innerBody}` +
    ` BODY[1.1] {${innerBody.length}}\r\n${innerBody})\r\n`;
  assert.equal(r.slice(0, r.indexOf('F OK')), want);
  // inside a multipart, a message/rfc822 part keeps its numbers: 2 is the held message, 2.1 its body
  const mixed = crlf(
    'From: a@example.net\nSubject: fwd\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nsee\n--B\nContent-Type: message/rfc822\n\n' +
      'From: x@example.com\nSubject: inner\n\ninner body\n--B--\n',
  );
  await h.store.append(USER, 'INBOX', Buffer.from(mixed));
  await c.cmd('N', 'NOOP');
  const m = await c.cmd('G', 'FETCH 2 (BODY.PEEK[2] BODY.PEEK[2.1] BODY.PEEK[2.HEADER])');
  const part = `${innerHead}inner body`; // the CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1)
  assert.ok(m.includes(`BODY[2] {${part.length}}\r\n${part} BODY[2.1] {10}\r\ninner body BODY[2.HEADER] {${innerHead.length}}\r\n${innerHead})`), m);
});

test('ENVELOPE: an address without a mailbox or domain never takes the NIL host name that marks a group', async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  const head = 'From: root\r\nTo: a@example.com, <>, c@example.com\r\nCc: weird@, Team:;\r\nBcc: "Name" <>, <@relay.example:u@example.com>\r\nSubject: s\r\n';
  await h.store.append(USER, 'INBOX', Buffer.from(`${head}\r\nbody\r\n`));
  const c = await loggedIn(h, t);
  await c.cmd('S', 'EXAMINE INBOX');
  const r = await c.cmd('F', 'FETCH 1 ENVELOPE');
  const from = '((NIL NIL "root" "MISSING_DOMAIN"))';
  const to = '((NIL NIL "a" "example.com")(NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN")(NIL NIL "c" "example.com"))';
  const cc = '((NIL NIL "weird" "MISSING_DOMAIN")(NIL NIL "Team" NIL)(NIL NIL NIL NIL))';
  const bcc = '(("Name" NIL "MISSING_MAILBOX" "MISSING_DOMAIN")(NIL "@relay.example" "u" "example.com"))';
  assert.ok(r.includes(`* 1 FETCH (ENVELOPE (NIL "s" ${from} ${from} ${from} ${to} ${cc} ${bcc} NIL NIL))\r\n`), r);
});

test('BODYSTRUCTURE: several Content-Language tags are a list; a multipart with no parts found keeps its extension fields', async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  const langs = crlf('Subject: l\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Language: en, de\n\nhi\n');
  const noParts = crlf('Subject: n\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="X"\n\nno boundary here\n');
  await h.store.append(USER, 'INBOX', Buffer.from(langs));
  await h.store.append(USER, 'INBOX', Buffer.from(noParts));
  const c = await loggedIn(h, t);
  await c.cmd('S', 'EXAMINE INBOX');
  const r = await c.cmd('F', 'FETCH 1:2 BODYSTRUCTURE');
  // RFC 3501 §9: body-fld-lang = nstring / "(" string *(SP string) ")"
  assert.ok(r.includes('* 1 FETCH (BODYSTRUCTURE ("text" "plain" ("CHARSET" "utf-8") NIL NIL "7bit" 4 1 NIL NIL ("en" "de") NIL))\r\n'), r);
  assert.ok(r.includes('* 2 FETCH (BODYSTRUCTURE (("text" "plain" ("CHARSET" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" ("BOUNDARY" "X") NIL NIL NIL))\r\n'), r);
});

test('SEARCH BODY and TEXT find words in text attachments and in a forwarded message attached as message/rfc822', async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  const fwd = crlf(
    'From: a@example.net\nSubject: fwd\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="O"\n\n--O\nContent-Type: text/plain\n\nSee attached.\n' +
      '--O\nContent-Type: text/plain; name="notes.txt"\nContent-Disposition: attachment; filename="notes.txt"\nContent-Transfer-Encoding: base64\n\n' +
      Buffer.from('quarterly walrus figures\n').toString('base64') +
      '\n--O\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n' +
      'From: x@example.com\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= pelican\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nthe fla=\nmingo report\n--O--\n',
  );
  await h.store.append(USER, 'INBOX', Buffer.from(crlf('Subject: other\n\nnothing here\n')));
  await h.store.append(USER, 'INBOX', Buffer.from(fwd));
  const c = await loggedIn(h, t);
  await c.cmd('S', 'EXAMINE INBOX');
  assert.match(await c.cmd('A', 'SEARCH BODY walrus'), /^\* SEARCH 2\r\n/m, 'a text attachment');
  assert.match(await c.cmd('B', 'SEARCH BODY flamingo'), /^\* SEARCH 2\r\n/m, 'the forwarded message, decoded');
  assert.match(await c.cmd('C', 'SEARCH TEXT pelican'), /^\* SEARCH 2\r\n/m, "the forwarded message's header");
  assert.match(await c.cmd('D', 'SEARCH CHARSET UTF-8 TEXT {7+}\r\ngrüße'), /^\* SEARCH 2\r\n/m);
  assert.match(await c.cmd('E', 'SEARCH BODY "see attached"'), /^\* SEARCH 2\r\n/m);
  assert.match(await c.cmd('F', 'SEARCH BODY okapi'), /^\* SEARCH\r\n/m);
});
