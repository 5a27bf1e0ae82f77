// POP3 protocol edges over a raw socket: CAPA, AUTH PLAIN, malformed and overlong lines, throttling, plaintext policy, idle timeout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { message, startPop3 } from './pop3-fixture.ts';
import { RawPop3 } from './pop3-client.ts';

const plain = (user: string, pass: string, authz = ''): string => Buffer.from(`${authz}\0${user}\0${pass}`).toString('base64');

async function open(port: number, t: { after(fn: () => void): void }): Promise<RawPop3> {
  const c = await RawPop3.connect(port);
  t.after(() => c.destroy());
  assert.match((await c.line()) ?? '', /^\+OK /);
  return c;
}

test('CAPA lists TOP, UIDL, RESP-CODES, PIPELINING, USER and SASL PLAIN on loopback', async (t) => {
  const f = await startPop3(t);
  const c = await open(f.port, t);
  c.send('CAPA');
  assert.equal(await c.line(), '+OK capability list follows');
  const caps = (await c.multiline())?.toString().split('\r\n') ?? [];
  for (const cap of ['TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'USER', 'SASL PLAIN']) assert.ok(caps.includes(cap), cap);
  assert.ok(!caps.includes('STLS'), 'no STLS without a certificate');
});

test('AUTH PLAIN: initial response, continuation, cancel, foreign authzid', async (t) => {
  const f = await startPop3(t);
  await f.deliver('alice@example.com', message('p', 'q\r\n'));
  const c = await open(f.port, t);
  assert.equal(await c.cmd('AUTH PLAIN'), '+ ');
  assert.match((await c.cmd('*')) ?? '', /^-ERR/, 'RFC 5034: "*" cancels');
  assert.match((await c.cmd(`AUTH PLAIN ${plain('alice@example.com', 'secret-alice', 'bob@example.com')}`)) ?? '', /^-ERR \[AUTH\]/);
  assert.equal(await c.cmd('AUTH PLAIN'), '+ ');
  assert.match((await c.cmd(plain('alice@example.com', 'secret-alice'))) ?? '', /^\+OK alice@example\.com has 1 messages/);
  assert.match((await c.cmd('QUIT')) ?? '', /^\+OK/);
  const d = await open(f.port, t);
  assert.match((await d.cmd(`AUTH PLAIN ${plain('alice@example.com', 'secret-alice')}`)) ?? '', /^\+OK/);
});

test('malformed, unknown, out-of-state and overlong commands get -ERR and the session goes on', async (t) => {
  const f = await startPop3(t, { limits: { maxLineLength: 300 } });
  await f.deliver('alice@example.com', message('m', 'n\r\n'));
  const c = await open(f.port, t);
  assert.match((await c.cmd('STAT')) ?? '', /^-ERR/, 'STAT before login');
  assert.match((await c.cmd('PASS x')) ?? '', /^-ERR/, 'PASS without USER');
  assert.match((await c.cmd('XYZZY 1 2')) ?? '', /^-ERR/);
  assert.match((await c.cmd('\u0001\u0002')) ?? '', /^-ERR/);
  assert.match((await c.cmd('NOOP ' + 'x'.repeat(1000))) ?? '', /^-ERR line too long/);
  await c.cmd('USER alice@example.com');
  assert.match((await c.cmd('PASS secret-alice')) ?? '', /^\+OK/);
  assert.match((await c.cmd('RETR 0')) ?? '', /^-ERR/);
  assert.match((await c.cmd('RETR 2')) ?? '', /^-ERR/);
  assert.match((await c.cmd('RETR abc')) ?? '', /^-ERR/);
  assert.match((await c.cmd('TOP 1')) ?? '', /^-ERR/);
  assert.match((await c.cmd('RETR 1 x')) ?? '', /^-ERR usage: RETR msg/, 'an extra argument is an error, not ignored');
  assert.match((await c.cmd('DELE 1 1')) ?? '', /^-ERR usage: DELE msg/);
  assert.match((await c.cmd('LIST 1')) ?? '', /^\+OK 1 \d+$/);
  assert.match((await c.cmd('USER bob@example.com')) ?? '', /^-ERR/, 'USER in TRANSACTION');
  assert.equal(await c.cmd('NOOP'), '+OK');
});

test('pipelined commands are answered in order', async (t) => {
  const f = await startPop3(t);
  await f.deliver('alice@example.com', message('pipe', 'body\r\n'));
  const c = await open(f.port, t);
  c.sock.write('USER alice@example.com\r\nPASS secret-alice\r\nSTAT\r\nUIDL 1\r\nNOOP\r\n');
  assert.match((await c.line()) ?? '', /^\+OK send PASS/);
  assert.match((await c.line()) ?? '', /^\+OK alice/);
  assert.match((await c.line()) ?? '', /^\+OK 1 \d+$/);
  assert.match((await c.line()) ?? '', /^\+OK 1 \d+\.\d+$/);
  assert.equal(await c.line(), '+OK');
});

test('failed logins are throttled per user and per address; the window passes with the clock', async (t) => {
  const f = await startPop3(t, { limits: { authFailures: { perIp: { limit: 4, window: 60_000 }, perUser: { limit: 3, window: 60_000 } } } });
  const c = await open(f.port, t);
  for (let i = 0; i < 3; i++) {
    await c.cmd('USER alice@example.com');
    assert.match((await c.cmd('PASS wrong')) ?? '', /^-ERR \[AUTH\]/);
  }
  await c.cmd('USER alice@example.com');
  assert.match((await c.cmd('PASS secret-alice')) ?? '', /^-ERR \[SYS\/TEMP\] too many/, 'even the right password is refused while blocked');
  await c.cmd('USER bob@example.com');
  assert.match((await c.cmd('PASS wrong')) ?? '', /^-ERR \[AUTH\]/, 'bob is not blocked yet');
  await c.cmd('USER bob@example.com');
  assert.match((await c.cmd('PASS secret-bob')) ?? '', /^-ERR \[SYS\/TEMP\]/, 'the address is blocked after 4 failures');
  f.clock.advance(60_001);
  await c.cmd('USER alice@example.com');
  assert.match((await c.cmd('PASS secret-alice')) ?? '', /^\+OK/);
  const m = await f.registry.getSingleMetricAsString('spamgate_pop3_logins_total');
  assert.match(m, /result="failure"} 4/);
  assert.match(m, /result="throttled"} 2/);
});

test('plaintext USER/PASS and AUTH PLAIN are refused off the trusted networks without TLS', async (t) => {
  const f = await startPop3(t, { limits: { plaintextNetworks: [] } });
  const c = await open(f.port, t);
  assert.match((await c.cmd('USER alice@example.com')) ?? '', /^-ERR \[SYS\/PERM\]/);
  assert.match((await c.cmd(`AUTH PLAIN ${plain('alice@example.com', 'secret-alice')}`)) ?? '', /^-ERR \[SYS\/PERM\]/);
  c.send('CAPA');
  await c.line();
  const caps = (await c.multiline())?.toString() ?? '';
  assert.doesNotMatch(caps, /USER|SASL/);
});

test('an idle session is closed without a response and without UPDATE', async (t) => {
  const f = await startPop3(t, { limits: { idleTimeoutMs: 200 } });
  await f.deliver('alice@example.com', message('idle', 'x\r\n'));
  const c = await open(f.port, t);
  await c.cmd('USER alice@example.com');
  await c.cmd('PASS secret-alice');
  assert.match((await c.cmd('DELE 1')) ?? '', /^\+OK/);
  assert.equal(await c.line(), undefined, 'closed with nothing more said');
  assert.equal((await f.store.list('alice@example.com', 'INBOX')).length, 1);
});
