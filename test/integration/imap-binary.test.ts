// BINARY (RFC 3516) over real sockets: decoded parts (quoted-printable, base64), literal8 for data with NUL,
// partial ranges, BINARY.SIZE, a multipart part, UNKNOWN-CTE, bad sections, \Seen, APPEND with literal8;
// python3 imaplib as a real client.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { runPython } from '../helpers/python.ts';
import { startImap } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';

const GUARD = { timeout: 60_000 };
const BIN = Buffer.from([0x00, 0x01, 0xff, 0x41]);
const INNER = 'Content-Type: multipart/alternative; boundary="in"\r\n\r\n--in\r\nContent-Type: text/plain\r\n\r\nalt one\r\n--in--\r\n';
const MESSAGE = [
  'From: a@example.net',
  'To: alice@example.org',
  'Subject: binary',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="b"',
  '',
  '--b',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Caf=C3=A9 =',
  'soft  ',
  '--b',
  'Content-Type: application/octet-stream',
  'Content-Transfer-Encoding: base64',
  '',
  BIN.toString('base64'),
  '--b',
  'Content-Type: application/x-thing',
  'Content-Transfer-Encoding: x-uuencode',
  '',
  'begin 644 x',
  '--b',
  INNER + '--b--',
  '',
].join('\r\n');
/** Bytes as the raw connection reads them (latin1). */
const wire = (b: Buffer): string => b.toString('latin1');

async function withMessage(t: TestContext): Promise<{ c: Awaited<ReturnType<typeof loggedIn>>; port: number }> {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const msg = Buffer.from(MESSAGE);
  assert.match(await c.send('A', Buffer.concat([Buffer.from(`A APPEND INBOX {${msg.length}+}\r\n`), msg, Buffer.from('\r\n')])), /^A OK/m);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  return { c, port: h.port };
}

test('BINARY is offered; parts come decoded, NUL data as literal8', GUARD, async (t) => {
  const { c } = await withMessage(t);
  assert.match(await c.cmd('C', 'CAPABILITY'), /^\* CAPABILITY .* BINARY( |\r)/m);
  // quoted-printable: =XX decoded, the soft line break and the trailing white space gone
  const qp = Buffer.from('Café soft', 'utf8');
  assert.ok((await c.cmd('F1', 'FETCH 1 BINARY.PEEK[1]')).includes(`BINARY[1] {${qp.length}}\r\n${wire(qp)})`));
  // base64 with a NUL: literal8 (RFC 3516 §4.2)
  assert.ok((await c.cmd('F2', 'FETCH 1 BINARY.PEEK[2]')).includes(`BINARY[2] ~{4}\r\n${wire(BIN)})`));
  assert.match(await c.cmd('F3', 'FETCH 1 (BINARY.SIZE[2] BINARY.SIZE[1])'), /BINARY\.SIZE\[2\] 4 BINARY\.SIZE\[1\] 10\)/);
  // partial ranges of the decoded data: with the NUL literal8, without it a plain literal, past the end empty
  assert.ok((await c.cmd('F4', 'FETCH 1 BINARY.PEEK[2]<0.2>')).includes(`BINARY[2]<0> ~{2}\r\n${wire(BIN.subarray(0, 2))})`));
  assert.ok((await c.cmd('F5', 'FETCH 1 BINARY.PEEK[2]<1.100>')).includes(`BINARY[2]<1> {3}\r\n${wire(BIN.subarray(1))})`));
  assert.ok((await c.cmd('F6', 'FETCH 1 BINARY.PEEK[2]<9.1>')).includes('BINARY[2]<9> {0}\r\n)'));
  // a multipart part is sent as BODY[n] sends it; BINARY[] is the whole message
  const body4 = await c.cmd('F7', 'FETCH 1 BODY.PEEK[4]');
  const bin4 = await c.cmd('F8', 'FETCH 1 BINARY.PEEK[4]');
  assert.equal(bin4.replace('BINARY[4]', 'BODY[4]').replace('F8 OK', 'F7 OK'), body4);
  assert.ok((await c.cmd('F9', 'FETCH 1 BINARY.PEEK[]')).includes(`BINARY[] {${Buffer.byteLength(MESSAGE)}}\r\n${MESSAGE})`));
  assert.ok((await c.cmd('F10', 'FETCH 1 BINARY.PEEK[4.1]')).includes('BINARY[4.1] {7}\r\nalt one)'));
  // a part that does not exist is empty, as BODY[n]
  assert.ok((await c.cmd('F11', 'FETCH 1 BINARY.PEEK[9]')).includes('BINARY[9] {0}\r\n)'));
  assert.match(await c.cmd('F12', 'FETCH 1 FLAGS'), /FLAGS \((\\Recent)?\)/, 'PEEK and SIZE leave \\Seen alone');
  assert.match(await c.cmd('F13', 'FETCH 1 BINARY[2]'), /FLAGS \(\\Seen( \\Recent)?\)/, 'BINARY sets \\Seen');
});

test('BINARY errors: unknown transfer encoding is NO [UNKNOWN-CTE], bad sections are BAD', GUARD, async (t) => {
  const { c } = await withMessage(t);
  assert.match(await c.cmd('E1', 'FETCH 1 BINARY.PEEK[3]'), /^E1 NO \[UNKNOWN-CTE\]/m);
  assert.match(await c.cmd('E2', 'FETCH 1 BINARY.SIZE[3]'), /^E2 NO \[UNKNOWN-CTE\]/m);
  for (const [tag, att] of [['B1', 'BINARY[1.TEXT]'], ['B2', 'BINARY[0]'], ['B3', 'BINARY[HEADER]'], ['B4', 'BINARY.SIZE[1]<0.5>'], ['B5', 'BINARY[1]<0.0>'], ['B6', 'BINARY[1.]'], ['B7', 'BINARY.PEEK']]) {
    assert.match(await c.cmd(tag as string, `FETCH 1 ${att}`), new RegExp(`^${tag} BAD`, 'm'), att);
  }
  assert.match(await c.cmd('N', 'NOOP'), /^N OK/m, 'the session goes on');
});

test('APPEND with literal8 keeps binary content byte for byte, or refuses it', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const head = 'Subject: nul\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n';
  // a bare LF would come back as CRLF: RFC 3516 §4.4 NO [UNKNOWN-CTE], nothing stored
  const lf = Buffer.concat([Buffer.from(head), Buffer.from([0, 10, 0])]);
  assert.match(await c.send('A0', Buffer.concat([Buffer.from(`A0 APPEND INBOX ~{${lf.length}+}\r\n`), lf, Buffer.from('\r\n')])), /^A0 NO \[UNKNOWN-CTE\]/m);
  const msg = Buffer.concat([Buffer.from(head), Buffer.from([0, 1, 2, 0, 13, 10, 13, 0xfe])]);
  assert.match(await c.send('A1', Buffer.concat([Buffer.from(`A1 APPEND INBOX ~{${msg.length}+}\r\n`), msg, Buffer.from('\r\n')])), /^A1 OK \[APPENDUID \d+ 1\]/m);
  // synchronising literal8: the server asks for the data with "+"
  c.write(`A2 APPEND INBOX (\\Seen) ~{${msg.length}}\r\n`);
  await c.until((s) => s.includes('+ '));
  assert.match(await c.send('A2', Buffer.concat([msg, Buffer.from('\r\n')])), /^A2 OK \[APPENDUID \d+ 2\]/m);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^\* 2 EXISTS/m);
  const f = await c.cmd('F', 'FETCH 1:2 BINARY.PEEK[]');
  assert.equal(f.split(`BINARY[] ~{${msg.length}}\r\n${wire(msg)})`).length, 3, f);
  assert.match(await c.cmd('F2', 'FETCH 1 BINARY.SIZE[1]'), /BINARY\.SIZE\[1\] 8\)/);
  assert.match(await c.send('A3', `A3 APPEND INBOX ~{0+}\r\n\r\n`), /^A3 NO/m, 'an empty literal8 is NO, as an empty literal');
  assert.match(await c.cmd('A4', 'APPEND INBOX ~"x"'), /^A4 BAD/m);
});

test('imaplib fetches BINARY parts, literal8 included', GUARD, async (t) => {
  const { port } = await withMessage(t);
  const out = await runPython<{ bin: string; size: string; qp: string }>(
    `
import imaplib, json, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
m.login('alice@example.org', 'wonderland')
assert 'BINARY' in m.capabilities
m.select('INBOX')
typ, d = m.fetch('1', '(BINARY.PEEK[2])')
assert typ == 'OK', d
typ, s = m.fetch('1', '(BINARY.SIZE[2])')
typ, q = m.fetch('1', '(BINARY.PEEK[1])')
print(json.dumps({'bin': d[0][1].hex(), 'size': s[0].decode(), 'qp': q[0][1].decode('utf-8')}))
m.logout()
`,
    [String(port)],
  );
  assert.equal(out.bin, BIN.toString('hex'));
  assert.match(out.size, /BINARY\.SIZE\[2\] 4/);
  assert.equal(out.qp, 'Café soft');
});

test('imapflow downloads parts decoded through BINARY and reads EMAILID', GUARD, async (t) => {
  const { port } = await withMessage(t);
  const client = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user: 'alice@example.org', pass: 'wonderland' }, logger: false });
  await client.connect();
  t.after(() => client.close());
  assert.ok(client.capabilities.has('BINARY'));
  const lock = await client.getMailboxLock('INBOX');
  try {
    const read = async (part: string): Promise<Buffer> => {
      const { content } = await client.download('1', part);
      assert.ok(content);
      const chunks: Buffer[] = [];
      for await (const chunk of content) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    assert.deepEqual(await read('2'), BIN);
    assert.equal((await read('1')).toString('utf8'), 'Café soft');
    // imapflow asks for EMAILID by itself once OBJECTID is offered
    const msg = await client.fetchOne('1', { uid: true });
    assert.ok(msg);
    assert.match(msg.emailId ?? '', /^[A-Za-z0-9_-]{1,255}$/);
  } finally {
    lock.release();
  }
  await client.logout();
});

test('UNKNOWN-CTE in a FETCH of several messages: complete responses before it, no half line', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const good = 'Subject: good\r\nContent-Transfer-Encoding: base64\r\n\r\n' + Buffer.from('x'.repeat(70_000)).toString('base64') + '\r\n';
  const bad = 'Subject: bad\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n';
  for (const [tag, m] of [['A1', good], ['A2', bad], ['A3', good]] as const) assert.match(await c.send(tag, `${tag} APPEND INBOX {${m.length}+}\r\n${m}\r\n`), /OK/);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const r = await c.cmd('F', 'FETCH 1:3 BINARY.PEEK[1]');
  assert.ok(r.startsWith(`* 1 FETCH (BINARY[1] {70000}\r\n${'x'.repeat(70_000)})\r\nF NO [UNKNOWN-CTE]`), r.slice(0, 100) + '…' + r.slice(-100));
  assert.match(await c.cmd('N', 'NOOP'), /^N OK/m);
});

test('a message stored with NUL reaches a client that did not ask BINARY without NUL in its literals', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const msg = Buffer.concat([Buffer.from('From: a@example.net\r\nSubject: nul\r\nContent-Transfer-Encoding: binary\r\n\r\nab'), Buffer.from([0]), Buffer.from('cd\r\n')]);
  assert.match(await c.send('A', Buffer.concat([Buffer.from(`A APPEND INBOX ~{${msg.length}+}\r\n`), msg, Buffer.from('\r\n')])), /^A OK/m);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  // RFC 3501 §9: a literal is CHAR8 (%x01-ff); NUL goes only in BINARY's literal8 (RFC 3516 §4.2)
  for (const [tag, item, label] of [['F1', 'BODY.PEEK[]', 'BODY[]'], ['F2', 'BODY.PEEK[TEXT]', 'BODY[TEXT]'], ['F3', 'RFC822.TEXT', 'RFC822.TEXT'], ['F4', 'BODY.PEEK[1]', 'BODY[1]']] as const) {
    const r = await c.cmd(tag, `FETCH 1 ${item}`);
    assert.ok(r.includes(`${label} {`), r);
    assert.ok(!r.includes('\u0000'), `${item}: NUL in a plain literal`);
    assert.ok(r.includes('ab\u0080cd'), `${item}: NUL sent as 0x80, the size unchanged`);
  }
  // BINARY still gives the bytes as stored
  assert.ok((await c.cmd('F5', 'FETCH 1 BINARY.PEEK[1]')).includes('BINARY[1] ~{7}\r\nab\u0000cd\r\n'));
});

test('BINARY keeps white space that quoted-printable encoded before a line end (format=flowed)', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  // RFC 2045 §6.7 rule 3: white space at a line end is encoded (=20, =09) to survive; only literal white space there is transport padding
  const body = 'Caf=C3=A9 is a line that=20\r\nflows on,=09\r\nends  \r\n';
  const msg = Buffer.from(`From: a@example.net\r\nSubject: flowed\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${body}`);
  assert.match(await c.send('A', Buffer.concat([Buffer.from(`A APPEND INBOX {${msg.length}+}\r\n`), msg, Buffer.from('\r\n')])), /^A OK/m);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const want = Buffer.from('Café is a line that \r\nflows on,\t\r\nends\r\n', 'utf8');
  const r = await c.cmd('F', 'FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])');
  assert.ok(r.includes(`BINARY.SIZE[1] ${want.length} BINARY[1] {${want.length}}\r\n${want.toString('latin1')})`), r);
});

test('a BINARY fetch refused with UNKNOWN-CTE does not mark the message \\Seen', GUARD, async (t) => {
  const { c } = await withMessage(t);
  assert.match(await c.cmd('F1', 'FETCH 1 BINARY[3]'), /^F1 NO \[UNKNOWN-CTE\]/m);
  const flags = await c.cmd('F2', 'FETCH 1 FLAGS');
  assert.match(flags, /^\* 1 FETCH \(FLAGS \(/m);
  assert.doesNotMatch(flags, /\\Seen/, 'nothing was read');
  assert.match(await c.cmd('F3', 'FETCH 1 BINARY[2]'), /^F3 OK/m);
  assert.match(await c.cmd('F4', 'FETCH 1 FLAGS'), /FLAGS \([^)]*\\Seen/, 'a part that could be sent marks it');
});
