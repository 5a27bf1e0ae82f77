// COMPRESS=DEFLATE (RFC 4978) with real clients: imapflow (plain, STARTTLS, implicit TLS), mbsync, and python3 on a raw
// zlib socket (every command after COMPRESS, a second COMPRESS, a decompression bomb), and the imap.compress switch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import type { Registry } from '../../src/metrics/registry.ts';
import { capturingLogger } from '../helpers/capture-logs.ts';
import { compressedAlice, DEFLATE_PY } from '../helpers/imap-deflate-py.ts';
import { selfSignedCert } from '../helpers/self-signed.ts';
import { expectPythonOk, mbsyncSetup, run, sample, startImap } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';

async function compressedSessions(registry: Registry): Promise<number> {
  const m = registry.getSingleMetric('spamgate_imap_compressed_sessions_total');
  return (await m?.get())?.values[0]?.value ?? 0;
}

function flow(port: number, extra: Partial<ConstructorParameters<typeof ImapFlow>[0]> = {}): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user: 'alice@example.org', pass: 'wonderland' }, logger: false, disableAutoIdle: true, ...extra });
}

test('python3 on a raw zlib socket: SELECT, APPEND, FETCH and IDLE after COMPRESS; a second COMPRESS is NO [COMPRESSIONACTIVE], an unknown mechanism BAD', async (t) => {
  const h = await startImap(t);
  await expectPythonOk(
    h.port,
    DEFLATE_PY +
      String.raw`
import imaplib
port = int(sys.argv[1])
z = Z(port)
expect(b'BAD' in z.cmd(b'p', b'COMPRESS DEFLATE'), 'COMPRESS before login is BAD')
expect(b'COMPRESS' not in z.cmd(b'c0', b'CAPABILITY').split(b'\r\n')[0], 'not offered before login')
expect(b' OK' in z.cmd(b'a', b'LOGIN alice@example.org wonderland'), 'login')
caps = z.cmd(b'c1', b'CAPABILITY')
expect(b'COMPRESS=DEFLATE' in caps, caps)
expect(re.search(rb'\r\nb BAD', b'\r\n' + z.cmd(b'b', b'COMPRESS LZW')), 'unknown mechanism is BAD')
z.compress_on()
caps = z.cmd(b'c2', b'CAPABILITY')
expect(b'c2 OK' in caps and b'COMPRESS=DEFLATE' not in caps, caps)
expect(b'd NO [COMPRESSIONACTIVE]' in z.cmd(b'd', b'COMPRESS DEFLATE'), 'second COMPRESS')
expect(b'e OK' in z.cmd(b'e', b'SELECT INBOX'), 'select')
msg = b'Subject: zipped\r\n\r\n' + b'compressible line\r\n' * 2000
r = z.send(b'f', b'f APPEND INBOX (\\Seen) {%d+}\r\n' % len(msg) + msg + b'\r\n')
expect(re.search(rb'f OK \[APPENDUID \d+ 1\]', r), r)
r = z.cmd(b'g', b'FETCH 1 (FLAGS BODY.PEEK[])')
expect(msg in r and b'\\Seen' in r and b'g OK' in r, r[-200:])
z.write(b'i IDLE\r\n')
z.until(lambda b: b'+ idling' in b)
other = imaplib.IMAP4('127.0.0.1', port)
other.login('alice@example.org', 'wonderland')
other.append('INBOX', None, None, b'Subject: while idling\r\n\r\nhi\r\n')
other.logout()
z.until(lambda b: b'* 2 EXISTS' in b)
expect(b'i OK' in z.send(b'i', b'DONE\r\n'), 'idle done')
expect(b'* BYE' in z.cmd(b'l', b'LOGOUT'), 'logout')
print('ok')
`,
  );
  assert.equal(await compressedSessions(h.registry), 1);
});

test('imapflow negotiates COMPRESS=DEFLATE and works through it: APPEND, FETCH, IDLE seeing another session', async (t) => {
  const h = await startImap(t);
  const a = flow(h.port);
  const b = flow(h.port);
  await a.connect();
  await b.connect();
  t.after(async () => {
    await a.logout().catch(() => undefined);
    await b.logout().catch(() => undefined);
  });
  assert.equal(await compressedSessions(h.registry), 2, 'both imapflow sessions compressed');
  await a.mailboxOpen('INBOX');
  await a.append('INBOX', sample('one', 'x'.repeat(100_000)), ['\\Seen']);
  const exists = once(a, 'exists');
  const idle = a.idle();
  await b.append('INBOX', sample('two'), []);
  const [ev] = (await exists) as [{ count: number }];
  assert.equal(ev.count, 2);
  await a.noop();
  await idle.catch(() => undefined);
  const got = await a.fetchOne('1', { source: true, flags: true });
  assert.ok(got && got.source?.toString('utf8').includes('x'.repeat(100_000)));
  assert.ok(got && got.flags?.has('\\Seen'));
});

test('COMPRESS over TLS: imapflow after STARTTLS and over implicit TLS', async (t) => {
  const files = selfSignedCert(t);
  const tls = { cert: await readFile(files.cert), key: await readFile(files.key) };
  const plain = await startImap(t, { tls });
  const c1 = flow(plain.port, { tls: { rejectUnauthorized: false } });
  await c1.connect();
  t.after(() => c1.logout().catch(() => undefined));
  assert.equal(c1.secureConnection, true, 'STARTTLS was used');
  const implicit = await startImap(t, { tls, implicitTls: true });
  const c2 = flow(implicit.port, { secure: true, tls: { rejectUnauthorized: false } });
  await c2.connect();
  t.after(() => c2.logout().catch(() => undefined));
  for (const [h, c] of [[plain, c1], [implicit, c2]] as const) {
    assert.equal(await compressedSessions(h.registry), 1);
    await c.mailboxOpen('INBOX');
    await c.append('INBOX', sample('over tls'), []);
    const got = await c.fetchOne('1', { envelope: true });
    assert.equal(got && got.envelope?.subject, 'over tls');
  }
});

test('a decompression bomb is cut off at the command limits, never inflated whole', async (t) => {
  const { log, logs } = capturingLogger('warn');
  const h = await startImap(t, { log, limits: { maxLineBytes: 64 * 1024, maxLiteralBytes: 1024 * 1024 } });
  await expectPythonOk(
    h.port,
    compressedAlice(
      String.raw`
import json, select
# 4 GB of one byte, no line end: about 4 MB on the wire
block = b'A' * (1 << 20)
sent = 0
offered = 0
# the server's "* BAD Command line too long" may come first: keep writing until the BYE itself is read
for i in range(4096):
    sent += z.write(block)
    offered += len(block)
    if select.select([z.s], [], [], 0)[0]:
        z.feed(z.s.recv(65536))
    if b'* BYE' in z.buf:
        break
z.until(lambda b: b'* BYE' in b)
expect(offered < 64 * (1 << 20), 'cut off early; offered %d' % offered)
sys.stderr.write(json.dumps({'sent': sent, 'offered': offered}) + '\n')
print('ok')
`),
  );
  const warn = logs.find((l) => l.msg === 'imap compressed input over the limits');
  assert.ok(warn, 'the cut-off was logged');
  t.diagnostic(`bomb: ${String(warn.bytesIn)} compressed bytes read, ${String(warn.inflated)} inflated before the cut-off`);
  assert.ok(typeof warn.inflated === 'number' && warn.inflated <= 2 * (1024 * 1024 + 64 * 1024), `inflated ${String(warn.inflated)}`);
});

test('mbsync (isync 1.4) compresses and syncs both ways', async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser('alice@example.org');
  await h.store.append('alice@example.org', 'INBOX', Buffer.from(sample('server side')));
  const { rc, local } = await mbsyncSetup(h);
  const first = await run('mbsync', ['-c', rc, 'sync']);
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const pulled = [...(await readdir(join(local, 'INBOX', 'new'))), ...(await readdir(join(local, 'INBOX', 'cur')))];
  assert.equal(pulled.length, 1);
  await writeFile(join(local, 'INBOX', 'new', `${Date.now()}.local.host`), sample('local side'));
  const second = await run('mbsync', ['-c', rc, 'sync']);
  assert.equal(second.code, 0, second.stderr + second.stdout);
  assert.equal((await h.store.list('alice@example.org', 'INBOX')).length, 2);
  assert.equal(await compressedSessions(h.registry), 2, 'each mbsync run compressed');
});

test('imap.compress off: COMPRESS=DEFLATE is not offered and COMPRESS is BAD', async (t) => {
  const h = await startImap(t, { compress: false });
  const c = await loggedIn(h, t);
  assert.doesNotMatch(await c.cmd('C', 'CAPABILITY'), /COMPRESS/);
  assert.match(await c.cmd('Z', 'COMPRESS DEFLATE'), /^Z BAD/m);
  assert.match(await c.cmd('N', 'NOOP'), /^N OK/m);
});

test('a compressed MULTIAPPEND at both command limits (line text and literals) goes in whole: its line ends count too', async (t) => {
  const maxLiteral = 64 * 1024;
  const h = await startImap(t, { limits: { maxLineBytes: 1024, maxLiteralBytes: maxLiteral } });
  await expectPythonOk(
    h.port,
    compressedAlice(
      String.raw`
# 100 messages whose literals fill max_literal exactly, their line text ("{n+}" pieces and flags) just under max_line
n = 100
sizes = [${maxLiteral} // n] * n
sizes[0] += ${maxLiteral} - sum(sizes)
msgs = [b'Subject: m\r\n\r\n'.ljust(s - 2, b'x') + b'\r\n' for s in sizes]
lines = [b'A APPEND INBOX (\\Seen)']
for m in msgs:
    lines[-1] += b' {%d+}' % len(m)
    lines.append(b'')
line_bytes = sum(len(l) + 1 for l in lines)  # each with its CR, as the server counts line text
lines[0] = lines[0].replace(b'(\\Seen)', b'(\\Seen $' + b'p' * (1024 - line_bytes - 2) + b')')
line_bytes = sum(len(l) + 1 for l in lines)
expect(line_bytes == 1024, line_bytes)
data = b''.join(l + b'\r\n' + m for l, m in zip(lines, msgs))
z.write(data)           # all but the command's final line end
r = z.send(b'A', b'\r\n')
expect(b'A OK [APPENDUID' in r, r)
print('ok')
`),
  );
  assert.equal((await h.store.list('alice@example.org', 'INBOX')).length, 100);
});

test('COMPRESS with commands sent after it in clear (RFC 4978 §3 forbids them): they are dropped, and the session goes on compressed, not stalled', async (t) => {
  const h = await startImap(t);
  await expectPythonOk(
    h.port,
    DEFLATE_PY +
      String.raw`
z = Z(int(sys.argv[1]))
z.cmd(b'a', b'LOGIN alice@example.org wonderland')
# enough after COMPRESS to fill the command queue, so the server stops reading before COMPRESS runs
z.write(b'Z COMPRESS DEFLATE\r\n' + b''.join(b'n%d NOOP\r\n' % i for i in range(100)))
z.until(lambda b: b'Z OK' in b)
rest = z.buf.split(b'Z OK', 1)[1].split(b'\r\n', 1)[1]
z.zin = zlib.decompressobj(-15)
z.zout = zlib.compressobj(6, zlib.DEFLATED, -15)
z.buf = b''
z.feed(rest)
z.s.settimeout(5)
r = z.cmd(b'c', b'NOOP')
expect(b'c OK' in r and b'n99 ' not in r, r)
print('ok')
`,
  );
});
