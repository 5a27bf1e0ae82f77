// POP3 under hostile clients over raw sockets: parallel password guessing, pipelining past the
// bad-command limit or without reading, out-of-range arguments, NUL/8-bit bytes, bad SASL base64,
// and a client that hangs up while its QUIT is still removing messages.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { test, type TestContext } from 'node:test';
import { createRegistry } from '../../src/metrics/registry.ts';
import { createPop3Server } from '../../src/pop3/server.ts';
import type { MailboxStore } from '../../src/store/mailbox-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { RawPop3 } from './pop3-client.ts';
import { message, startPop3 } from './pop3-fixture.ts';

const plain = (user: string, pass: string): string => Buffer.from(`\0${user}\0${pass}`).toString('base64');

async function open(port: number, t: TestContext): Promise<RawPop3> {
  const c = await RawPop3.connect(port);
  t.after(() => c.destroy());
  assert.match((await c.line()) ?? '', /^\+OK /);
  return c;
}

async function login(c: RawPop3, user = 'alice@example.com', pass = 'secret-alice'): Promise<void> {
  assert.match((await c.cmd(`USER ${user}`)) ?? '', /^\+OK/);
  assert.match((await c.cmd(`PASS ${pass}`)) ?? '', /^\+OK/);
}

test('parallel wrong passwords cannot get past the per-user limit while they are being checked', async (t) => {
  const limit = 3;
  const f = await startPop3(t, { limits: { maxConnectionsPerIp: 100, authFailures: { perIp: { limit: 1000, window: 60_000 }, perUser: { limit, window: 60_000 } } } });
  const clients = await Promise.all(Array.from({ length: 30 }, () => open(f.port, t)));
  // Every guess is on the wire before any is answered.
  for (const [i, c] of clients.entries()) c.sock.write(`USER alice@example.com\r\nPASS wrong-${i}\r\n`);
  const replies = await Promise.all(
    clients.map(async (c) => {
      await c.line();
      return (await c.line()) ?? '';
    }),
  );
  const checked = replies.filter((r) => r.startsWith('-ERR [AUTH]')).length;
  const throttled = replies.filter((r) => r.startsWith('-ERR [SYS/TEMP]')).length;
  assert.equal(checked + throttled, clients.length, replies.join('|'));
  assert.ok(checked <= limit, `${checked} passwords were checked, limit ${limit}`);
  // The right password is refused too while the user is blocked; a success settles nothing wrongly.
  const c = await open(f.port, t);
  await c.cmd('USER alice@example.com');
  assert.match((await c.cmd('PASS secret-alice')) ?? '', /^-ERR \[SYS\/TEMP\]/);
  f.clock.advance(60_001);
  await login(c);
  assert.match((await c.cmd('QUIT')) ?? '', /^\+OK/);
  // Right passwords in parallel, more than the limit: they wait for each other, none is throttled.
  const right = await Promise.all(Array.from({ length: 8 }, () => open(f.port, t)));
  for (const r of right) r.sock.write('USER alice@example.com\r\nPASS secret-alice\r\n');
  const answers = await Promise.all(right.map(async (r) => (await r.line(), (await r.line()) ?? '')));
  assert.equal(answers.filter((a) => a.startsWith('+OK')).length, 1, answers.join('|'));
  assert.equal(answers.filter((a) => a.startsWith('-ERR [IN-USE]')).length, 7, answers.join('|'));
});

test('commands pipelined after the bad-command limit are not run (no login, no UPDATE)', async (t) => {
  const f = await startPop3(t, { limits: { maxBadCommands: 3 } });
  await f.deliver('alice@example.com', message('keep', 'body\r\n'));
  const c = await open(f.port, t);
  c.sock.write('BOGUS\r\nBOGUS\r\nBOGUS\r\nUSER alice@example.com\r\nPASS secret-alice\r\nDELE 1\r\nQUIT\r\n');
  for (let i = 0; i < 3; i++) assert.match((await c.line()) ?? '', /^-ERR /);
  assert.match((await c.line()) ?? '', /^-ERR \[SYS\/PERM\] too many bad commands/);
  assert.equal(await c.line(), undefined, 'closed with nothing more said');
  assert.deepEqual(f.logins, [], 'the pipelined login never ran');
  assert.equal((await f.store.list('alice@example.com', 'INBOX')).length, 1);
  const d = await open(f.port, t);
  await login(d);
});

test('a client that pipelines without reading still gets every reply, in order', async (t) => {
  const f = await startPop3(t);
  for (let i = 0; i < 50; i++) await f.deliver('alice@example.com', message(`m${i}`, `${'x'.repeat(2000)}\r\n`));
  const c = await open(f.port, t);
  await login(c);
  const n = 300;
  // Far more reply bytes than socket buffers hold: the server has to wait for us to read.
  c.sock.write(Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 'RETR 1' : i % 3 === 1 ? 'UIDL' : 'LIST')).join('\r\n') + '\r\nNOOP\r\n');
  for (let i = 0; i < n; i++) {
    assert.match((await c.line()) ?? '', /^\+OK/, `reply ${i}`);
    const body = (await c.multiline())?.toString('latin1') ?? '';
    if (i % 3 === 0) assert.match(body, /Subject: m0\r\n/);
    else assert.equal(body.split('\r\n').length, 52, `listing ${i} has 50 lines`);
  }
  assert.equal(await c.line(), '+OK');
});

test('out-of-range and malformed message arguments get -ERR; the session goes on', async (t) => {
  const f = await startPop3(t);
  await f.deliver('alice@example.com', message('one', 'l1\r\nl2\r\nl3\r\n'));
  await f.deliver('alice@example.com', message('two', 'x\r\n'));
  const c = await open(f.port, t);
  await login(c);
  for (const cmd of ['RETR 0', 'RETR 3', 'RETR 99999999999999999999', 'RETR -1', 'RETR 1.0', 'RETR', 'DELE 0', 'LIST 9', 'UIDL 0', 'TOP 1 -1', 'TOP 1', 'TOP x 1', 'TOP 0 1']) {
    assert.match((await c.cmd(cmd)) ?? '', /^-ERR/, cmd);
  }
  // RFC 1939 §7: more lines than the body has returns the whole body, however big the number.
  assert.match((await c.cmd('TOP 1 99999999999999999999')) ?? '', /^\+OK/);
  const top = (await c.multiline())?.toString() ?? '';
  assert.match(top, /\r\nl1\r\nl2\r\nl3\r\n\.\r\n$/);
  assert.match((await c.cmd('TOP 1 0')) ?? '', /^\+OK/);
  assert.match((await c.multiline())?.toString() ?? '', /Subject: one\r\nMessage-ID: <one@example\.org>\r\n\r\n\.\r\n$/);
  assert.match((await c.cmd('DELE 2')) ?? '', /^\+OK/);
  assert.match((await c.cmd('DELE 2')) ?? '', /^-ERR/, 'DELE twice');
  assert.match((await c.cmd('RETR 2')) ?? '', /^-ERR/, 'RETR of a deleted message');
  assert.match((await c.cmd('STAT')) ?? '', /^\+OK 1 \d+$/);
  assert.match((await c.cmd('RSET')) ?? '', /^\+OK maildrop has 2 messages/);
  assert.match((await c.cmd('QUIT')) ?? '', /^\+OK/);
  assert.equal((await f.store.list('alice@example.com', 'INBOX')).length, 2, 'RSET then QUIT deletes nothing');
});

test('NUL, 8-bit and control bytes in commands get -ERR and the session goes on', async (t) => {
  const f = await startPop3(t);
  await f.deliver('alice@example.com', message('n', 'b\r\n'));
  const c = await open(f.port, t);
  for (const bytes of [Buffer.from('NO\0OP\r\n'), Buffer.from([0xff, 0xfe, 0x0d, 0x0a]), Buffer.from('CAPA\x1b\r\n'), Buffer.from('\r\n'), Buffer.from('US\u00e9R x\r\n', 'latin1')]) {
    c.sock.write(bytes);
    assert.match((await c.line()) ?? '', /^-ERR/, JSON.stringify(bytes.toString('latin1')));
  }
  assert.match((await c.cmd('USER alice@example.com\0')) ?? '', /^\+OK/);
  assert.match((await c.cmd('PASS secret-alice')) ?? '', /^-ERR \[AUTH\]/, 'a NUL in the name is not alice');
  await login(c);
  assert.match((await c.cmd('STAT\0')) ?? '', /^-ERR/);
  assert.match((await c.cmd('STAT')) ?? '', /^\+OK 1 /);
});

test('AUTH PLAIN with malformed base64 or credentials is refused; the session goes on', async (t) => {
  const f = await startPop3(t);
  const c = await open(f.port, t);
  for (const arg of ['abc', 'a===', '====', 'YWJj ZGVm', '!!!!', Buffer.from('no nuls here').toString('base64'), Buffer.from('\0\0').toString('base64')]) {
    assert.match((await c.cmd(`AUTH PLAIN ${arg}`)) ?? '', /^-ERR/, arg);
  }
  assert.equal(await c.cmd('AUTH PLAIN'), '+ ');
  assert.match((await c.cmd('not base64!')) ?? '', /^-ERR/);
  assert.equal(await c.cmd('AUTH PLAIN'), '+ ');
  assert.match((await c.cmd('A'.repeat(5000))) ?? '', /^-ERR line too long/);
  assert.match((await c.cmd('CAPA')) ?? '', /^\+OK/, 'the exchange ended: the next line is a command again');
  await c.multiline();
  assert.match((await c.cmd(`AUTH PLAIN ${plain('alice@example.com', 'secret-alice')}`)) ?? '', /^\+OK/);
  assert.match((await c.cmd('AUTH PLAIN')) ?? '', /^-ERR/, 'AUTH after login');
  assert.equal(await c.cmd('NOOP'), '+OK');
});

test('hanging up during the UPDATE after QUIT: the maildrop stays locked until it is done, counted once', async (t) => {
  const f = await startPop3(t);
  await f.deliver('alice@example.com', message('gone', 'x\r\n'));
  // The same store, with expunge held until the test lets it go.
  let release: () => void = () => undefined;
  let expungeStarted: () => void = () => undefined;
  const started = new Promise<void>((r) => (expungeStarted = r));
  const gate = new Promise<void>((r) => (release = r));
  const store = new Proxy(f.store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (prop === 'expunge') {
        return async (...args: Parameters<MailboxStore['expunge']>): Promise<void> => {
          expungeStarted();
          await gate;
          return target.expunge(...args);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const registry = createRegistry(false);
  const server = createPop3Server({ store, users: f.users, hostname: 'pop.example.com', registry, log: silentLogger, clock: f.clock });
  await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  const port = server.address()?.port ?? 0;
  const active = async (): Promise<string> => (await registry.getSingleMetricAsString('spamgate_pop3_sessions_active')).split('\n').at(-1) ?? '';
  const c = await open(port, t);
  await login(c);
  c.sock.write('DELE 1\r\nQUIT\r\n');
  assert.match((await c.line()) ?? '', /^\+OK/);
  await started;
  c.destroy();
  // Bounded wait until the server has seen the hang-up (the gauge is its only outward sign).
  for (let i = 0; i < 200 && !(await active()).endsWith(' 0'); i++) await new Promise((r) => setImmediate(r));
  assert.match(await active(), / 0$/);
  const d = await open(port, t);
  await d.cmd('USER alice@example.com');
  assert.match((await d.cmd('PASS secret-alice')) ?? '', /^-ERR \[IN-USE\]/, 'no login while the UPDATE runs');
  release();
  for (let i = 0; i < 200 && (await f.store.list('alice@example.com', 'INBOX')).length > 0; i++) await new Promise((r) => setImmediate(r));
  await d.cmd('USER alice@example.com');
  assert.match((await d.cmd('PASS secret-alice')) ?? '', /^\+OK alice@example\.com has 0 messages/);
  assert.match((await d.cmd('QUIT')) ?? '', /^\+OK/);
  await d.closedPromise();
  for (let i = 0; i < 200 && !(await active()).endsWith(' 0'); i++) await new Promise((r) => setImmediate(r));
  assert.match(await active(), / 0$/, 'each session counted down exactly once');
});

/** A throw-away self-signed certificate for the TLS tests. */
function selfSigned(t: TestContext): { cert: string; key: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-pop3-hostile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  return { cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8'), key: readFileSync(path.join(dir, 'key.pem'), 'utf8') };
}

test('STLS: commands pipelined behind it in plaintext are discarded; STLS twice is refused', async (t) => {
  const tls = selfSigned(t);
  const f = await startPop3(t, { tls, limits: { plaintextNetworks: [] } });
  const c = await open(f.port, t);
  c.sock.write('STLS\r\nUSER alice@example.com\r\n');
  assert.equal(await c.line(), '+OK begin TLS negotiation');
  c.sock.removeAllListeners('data');
  const secure = tlsConnect({ socket: c.sock, rejectUnauthorized: false });
  t.after(() => secure.destroy());
  await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  let buf = '';
  let wake: () => void = () => undefined;
  secure.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    wake();
  });
  const line = async (): Promise<string> => {
    for (let i = 0; i < 1000 && !buf.includes('\r\n'); i++) await new Promise<void>((resolve) => (wake = resolve));
    const at = buf.indexOf('\r\n');
    const out = buf.slice(0, at);
    buf = buf.slice(at + 2);
    return out;
  };
  secure.write('PASS secret-alice\r\n');
  assert.match(await line(), /^-ERR USER first/, 'the plaintext USER did not survive the handshake');
  secure.write('STLS\r\n');
  assert.match(await line(), /^-ERR already using TLS/);
  secure.write('USER alice@example.com\r\nPASS secret-alice\r\n');
  assert.match(await line(), /^\+OK/);
  assert.match(await line(), /^\+OK alice@example\.com has 0 messages/);
});

test('one address cannot hold more sessions than its share; a freed slot can be used again', async (t) => {
  const f = await startPop3(t, { limits: { maxConnectionsPerIp: 2 } });
  const a = await open(f.port, t);
  await open(f.port, t);
  const third = await RawPop3.connect(f.port);
  t.after(() => third.destroy());
  assert.match((await third.line()) ?? '', /^-ERR \[SYS\/TEMP\] too many connections/);
  await third.closedPromise();
  assert.match((await a.cmd('QUIT')) ?? '', /^\+OK/);
  await a.closedPromise();
  // The server counts the slot free once it has seen the close; try a bounded number of times.
  let greeting = '';
  for (let i = 0; i < 50 && !greeting.startsWith('+OK'); i++) {
    const c = await RawPop3.connect(f.port);
    t.after(() => c.destroy());
    greeting = (await c.line()) ?? '';
    if (!greeting.startsWith('+OK')) await c.closedPromise();
  }
  assert.match(greeting, /^\+OK /);
});

test('implicit TLS: connections that never start a handshake count against their address at once', async (t) => {
  const tls = selfSigned(t);
  const f = await startPop3(t, { tls, limits: { maxConnectionsPerIp: 3 } });
  await f.server.listenTls(0, '127.0.0.1');
  const port = f.server.tlsAddress()?.port ?? 0;
  // three silent TCP connections from one address (no ClientHello)
  const silent = await Promise.all([0, 1, 2].map(() => new Promise<Socket>((resolve, reject) => {
    const s = netConnect({ port, host: '127.0.0.1', localAddress: '127.0.0.60' }, () => resolve(s));
    s.on('error', reject);
  })));
  t.after(() => silent.forEach((s) => s.destroy()));
  const greet = (from: string): Promise<string> => new Promise((resolve) => {
    const raw = netConnect({ port, host: '127.0.0.1', localAddress: from });
    raw.on('error', () => resolve('refused'));
    const s = tlsConnect({ socket: raw, rejectUnauthorized: false });
    s.on('data', (d: Buffer) => {
      resolve(d.toString('latin1').split('\r\n')[0] ?? '');
      s.destroy();
    });
    s.on('error', () => resolve('refused'));
    s.on('close', () => resolve('refused'));
  });
  assert.equal(await greet('127.0.0.60'), 'refused', 'the fourth from that address is dropped');
  assert.match(await greet('127.0.0.61'), /^\+OK /, 'another address is served');
});
