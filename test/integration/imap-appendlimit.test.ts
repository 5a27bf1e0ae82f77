// APPENDLIMIT (RFC 7889): the literal bound APPEND is held to, advertised and told by STATUS / LIST-STATUS; an APPEND
// over it gets NO [TOOBIG] before any of its bytes are taken (synchronising literal) or while they are dropped (LITERAL+).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compressedAlice } from '../helpers/imap-deflate-py.ts';
import { expectPythonOk, sample, startImap } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';

const LIMIT = 1024 * 1024;
const limits = { maxLineBytes: 64 * 1024, maxLiteralBytes: LIMIT };

test('python3 imaplib: APPENDLIMIT advertised, in STATUS and LIST-STATUS, and an APPEND over it is NO [TOOBIG]', async (t) => {
  const h = await startImap(t, { limits });
  await expectPythonOk(
    h.port,
    String.raw`
import imaplib, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
m.login('alice@example.org', 'wonderland')
assert 'APPENDLIMIT=${LIMIT}' in m.capabilities, m.capabilities
assert not any(c.startswith('CATENATE') for c in m.capabilities)
typ, data = m.status('INBOX', '(APPENDLIMIT MESSAGES)')
assert typ == 'OK' and b'APPENDLIMIT ${LIMIT}' in data[0], data
typ, data = m._simple_command('LIST', '""', 'INBOX', 'RETURN', '(STATUS (APPENDLIMIT))')
_, status = m._untagged_response(typ, data, 'STATUS')
assert b'APPENDLIMIT ${LIMIT}' in status[0], status
typ, data = m.append('INBOX', None, None, b'Subject: big\r\n\r\n' + b'x' * ${LIMIT + 10})
assert typ == 'NO' and b'[TOOBIG]' in data[0], (typ, data)
m.select('INBOX')
typ, _ = m.append('INBOX', None, None, b'Subject: small\r\n\r\nfits\r\n')
assert typ == 'OK'
print('ok')
`,
  );
  assert.equal((await h.store.list('alice@example.org', 'INBOX')).length, 1);
});

test('a synchronising literal over APPENDLIMIT is refused before "+": none of its bytes are asked for', async (t) => {
  const h = await startImap(t, { limits });
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('C', 'CAPABILITY'), new RegExp(` APPENDLIMIT=${LIMIT}[ \r]`));
  // no literal bytes follow: the answer must come without them
  const reply = await c.send('A', `A APPEND INBOX (\\Seen) {${LIMIT + 1}}\r\n`);
  assert.match(reply, /^A NO \[TOOBIG\]/m);
  assert.doesNotMatch(reply, /^\+/m, 'no go-ahead for the literal');
  assert.match(await c.cmd('N', 'NOOP'), /^N OK/m);
});

test('a LITERAL+ over APPENDLIMIT: NO [TOOBIG], its bytes dropped as they come, the session goes on; compressed, only up to the command limits', async (t) => {
  const h = await startImap(t, { limits });
  const c = await loggedIn(h, t);
  const big = Buffer.alloc(3 * LIMIT, 'y');
  const reply = await c.send('A', Buffer.concat([Buffer.from(`A APPEND INBOX {${big.length}+}\r\n`), big, Buffer.from('\r\n')]));
  assert.match(reply, /^A NO \[TOOBIG\]/m);
  assert.match(await c.send('B', `B APPEND INBOX {${Buffer.byteLength(sample('after'))}+}\r\n${sample('after')}\r\n`), /^B OK \[APPENDUID/m);
  assert.equal((await h.store.list('alice@example.org', 'INBOX')).length, 1);
  await expectPythonOk(
    h.port,
    compressedAlice(
      String.raw`
# just over the limit: refused, dropped, and the session goes on
r = z.send(b'b', b'b APPEND INBOX {${LIMIT + 100}+}\r\n' + b'y' * ${LIMIT + 100} + b'\r\n')
expect(b'b NO [TOOBIG]' in r, r)
expect(b'c OK' in z.cmd(b'c', b'NOOP'), 'session goes on')
# far over it: refused, then cut off once more arrives than any command may carry
z.write(b'd APPEND INBOX {${20 * LIMIT}+}\r\n')
for i in range(20):
    z.write(b'y' * ${LIMIT})
    if b'* BYE' in z.buf:
        break
    import select
    if select.select([z.s], [], [], 0)[0]:
        z.feed(z.s.recv(65536))
z.until(lambda b: b'* BYE' in b)
expect(b'd NO [TOOBIG]' in z.buf, z.buf)
print('ok')
`),
  );
});

test('MULTIAPPEND of messages each within APPENDLIMIT but together over the command bound: NO [LIMIT], not [TOOBIG] (no message is too big)', async (t) => {
  const h = await startImap(t, { limits });
  const c = await loggedIn(h, t);
  const msg = `Subject: part\r\n\r\n${'z'.repeat(LIMIT / 2)}\r\n`;
  const lit = `{${Buffer.byteLength(msg)}+}\r\n${msg}`;
  const plus = await c.send('A', `A APPEND INBOX ${lit} ${lit}\r\n`);
  assert.match(plus, /^A NO \[LIMIT\]/m);
  // synchronising literals: refused before "+" for the second
  c.write(`B APPEND INBOX {${Buffer.byteLength(msg)}}\r\n`);
  await c.until((s) => s.includes('+ '));
  const sync = await c.send('B', `${msg} {${Buffer.byteLength(msg)}}\r\n`);
  assert.match(sync, /^B NO \[LIMIT\]/m);
  assert.equal((sync.match(/^\+ /gm) ?? []).length, 1, 'no go-ahead for the second literal');
  assert.match(await c.cmd('N', 'NOOP'), /^N OK/m);
  assert.equal((await h.store.list('alice@example.org', 'INBOX')).length, 0);
  // each alone fits
  assert.match(await c.send('C', `C APPEND INBOX ${lit}\r\n`), /^C OK \[APPENDUID/m);
});
