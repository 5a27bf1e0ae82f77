// POP3 with more real clients: poplib over STLS and implicit TLS, curl pop3:// and pop3s://, fetchmail keep and delete,
// fetchmail with SMTPUTF8 mail (downgraded for it), and STLS refused after UTF8 (RFC 6856).
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { decodeHeaderValue } from '../../src/mime/headers.ts';
import { RawPop3 } from './pop3-client.ts';
import { message, python, run, startPop3 } from './pop3-fixture.ts';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-pop3c-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function selfSigned(t: TestContext): Promise<{ cert: string; key: string }> {
  const dir = tempDir(t);
  const r = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
    '-days', '1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')]);
  assert.equal(r.code, 0, r.stderr);
  return { cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8'), key: readFileSync(path.join(dir, 'key.pem'), 'utf8') };
}

test('poplib STLS: STLS offered, plaintext login allowed only after it; implicit TLS with POP3_SSL', async (t) => {
  const tls = await selfSigned(t);
  const f = await startPop3(t, { tls, limits: { plaintextNetworks: [] } });
  await f.server.listenTls(0, '127.0.0.1');
  await f.deliver('alice@example.com', message('tls', 'secret body\r\n'));
  const out = await python<{ before: string; caps: string[]; after: string[]; login: string; stat: number[]; ssl: string }>(
    `import json, poplib, ssl, sys
ctx = ssl._create_unverified_context()
p = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=10)
p.user_ok = True
try:
    p.user('alice@example.com'); before = ''
except poplib.error_proto as e:
    before = e.args[0].decode()
caps = list(p.capa().keys())
p.stls(context=ctx)
after = list(p.capa().keys())
p.user('alice@example.com'); login = p.pass_('secret-alice').decode(); stat = list(p.stat()); p.quit()
s = poplib.POP3_SSL('127.0.0.1', int(sys.argv[2]), context=ctx, timeout=10)
s.user('alice@example.com'); s.pass_('secret-alice'); msg = b'\\n'.join(s.retr(1)[1]).decode(); s.quit()
print(json.dumps({'before': before, 'caps': caps, 'after': after, 'login': login, 'stat': stat, 'ssl': msg}))`,
    [String(f.port), String(f.server.tlsAddress()?.port)],
  );
  assert.match(out.before, /^-ERR \[AUTH\] .*STLS/);
  assert.ok(out.caps.includes('STLS') && !out.caps.includes('USER'));
  assert.ok(out.after.includes('USER') && !out.after.includes('STLS'));
  assert.match(out.login, /^\+OK/);
  assert.equal(out.stat[0], 1);
  assert.match(out.ssl, /secret body/);
});

test('curl pop3:// lists and retrieves; pop3s:// over implicit TLS', async (t) => {
  const tls = await selfSigned(t);
  const f = await startPop3(t, { tls });
  await f.server.listenTls(0, '127.0.0.1');
  await f.deliver('alice@example.com', message('first', 'one\r\n'));
  await f.deliver('alice@example.com', message('second', 'two\r\n.dotted\r\n'));
  const sizes = (await f.store.list('alice@example.com', 'INBOX')).map((m) => m.size);
  const list = await run('curl', ['-sS', '--max-time', '10', '-u', 'alice@example.com:secret-alice', `pop3://127.0.0.1:${f.port}/`]);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(list.stdout.trim().split(/\r?\n/), sizes.map((s, i) => `${i + 1} ${s}`));
  const retr = await run('curl', ['-sS', '--max-time', '10', '-u', 'alice@example.com:secret-alice', `pop3://127.0.0.1:${f.port}/2`]);
  assert.equal(retr.code, 0, retr.stderr);
  assert.match(retr.stdout, /Subject: second\r\nMessage-ID: <second@example.org>\r\n\r\ntwo\r\n\.dotted\r\n$/, 'curl un-stuffs the dotted line');
  const secure = await run('curl', ['-sS', '-k', '--max-time', '10', '-u', 'alice@example.com:secret-alice', `pop3s://127.0.0.1:${f.server.tlsAddress()?.port}/1`]);
  assert.equal(secure.code, 0, secure.stderr);
  assert.match(secure.stdout, /Subject: first/);
  const bad = await run('curl', ['-sS', '--max-time', '10', '-u', 'alice@example.com:nope', `pop3://127.0.0.1:${f.port}/`]);
  assert.notEqual(bad.code, 0);
});

async function fetchmail(t: TestContext, port: number, keep: boolean, work: string): Promise<{ code: number | null; files: string[]; log: string }> {
  const out = path.join(work, keep ? 'keep' : 'delete');
  await run('mkdir', ['-p', out]);
  const rc = path.join(work, 'fetchmailrc');
  writeFileSync(
    rc,
    `set no syslog\nset idfile "${path.join(work, 'fetchids')}"\n` +
      `poll 127.0.0.1 with proto POP3 port ${port} uidl\n` +
      `  user "alice@example.com" there with password "secret-alice" is "alice" here\n` +
      `  options ${keep ? 'keep' : 'nokeep'} sslproto "" mda "cat > ${out}/msg.$$"\n`,
  );
  chmodSync(rc, 0o600);
  const r = await run('fetchmail', ['-f', rc, '-v', '--nosyslog'], undefined, { ...process.env, HOME: work, FETCHMAILHOME: work });
  void t;
  return { code: r.code, files: readdirSync(out).map((n) => readFileSync(path.join(out, n), 'utf8')), log: r.stdout + r.stderr };
}

test('fetchmail downloads a mailbox: keep mode twice (UIDL: nothing new), then delete mode empties it', async (t) => {
  const f = await startPop3(t);
  for (let i = 1; i <= 3; i++) await f.deliver('alice@example.com', message(`fm${i}`, `body ${i}\r\n.line\r\n`));
  const work = tempDir(t);
  const first = await fetchmail(t, f.port, true, work);
  assert.equal(first.code, 0, first.log);
  assert.equal(first.files.length, 3, first.log);
  assert.ok(first.files.some((m) => /Subject: fm2/.test(m) && /\n\.line/.test(m)));
  assert.equal((await f.store.list('alice@example.com', 'INBOX')).length, 3, 'keep: still on the server');
  const second = await fetchmail(t, f.port, true, path.join(work));
  assert.equal(second.code, 1, 'fetchmail exit 1: no new mail (UIDL remembered)');
  const third = await fetchmail(t, f.port, false, work);
  assert.equal(third.code, 1, 'nokeep with uidl: the seen ones are not fetched again');
  // A fresh idfile: delete mode fetches everything and flushes it.
  const work2 = tempDir(t);
  const del = await fetchmail(t, f.port, false, work2);
  assert.equal(del.code, 0, del.log);
  assert.equal(del.files.length, 3);
  assert.equal((await f.store.list('alice@example.com', 'INBOX')).length, 0, 'delete mode: DELE + QUIT removed them');
});

test('fetchmail (no UTF8) gets SMTPUTF8 mail with 7-bit header fields, the body as stored, and the sizes it was told', async (t) => {
  const f = await startPop3(t);
  await f.deliver('alice@example.com', 'From: Jörg <jörg@bücher.example>\r\nTo: alice@example.com\r\nSubject: Grüße\r\n\r\nHallo ü\r\n.punkt\r\n');
  await f.deliver('alice@example.com', message('plain', 'ascii\r\n'));
  const work = tempDir(t);
  const r = await fetchmail(t, f.port, true, work);
  assert.equal(r.code, 0, r.log);
  assert.equal(r.files.length, 2, r.log);
  const got = r.files.find((m) => m.includes('Hallo ü'));
  assert.ok(got, r.log);
  const head = got.slice(0, got.indexOf('\n\n'));
  assert.match(head, /^[\x00-\x7f]*$/, 'every header byte 7-bit');
  assert.equal(decodeHeaderValue(/^Subject: (.*)$/m.exec(head)?.[1] ?? ''), 'Grüße');
  assert.match(got, /\n\n[\s\S]*Hallo ü\r?\n\.punkt/);
  // fetchmail warns of no size mismatch (it does not check one): the octets it was told are compared with what RETR sends
  assert.doesNotMatch(r.log, /expected length|mismatch|wrong size/i, r.log);
  const told = [...r.log.matchAll(/reading message \S+:(\d+) of 2 \((\d+) octets\)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(told.length, 2, r.log);
  const c = await RawPop3.connect(f.port);
  t.after(() => c.destroy());
  await c.line();
  await c.cmd('USER alice@example.com');
  assert.match((await c.cmd('PASS secret-alice')) ?? '', /^\+OK/);
  for (const [n, octets] of told) {
    assert.match((await c.cmd(`RETR ${n}`)) ?? '', /^\+OK/);
    const sent = ((await c.multiline()) ?? Buffer.alloc(0)).toString('latin1').replace(/\r\n\.\r\n$/, '\r\n').replace(/^\.\./gm, '.');
    assert.equal(octets, sent.length, `message ${n}: fetchmail was told ${octets} octets, RETR sent ${sent.length}`);
  }
});

test('STLS after UTF8 is refused (RFC 6856 §2) and no longer offered in CAPA', async (t) => {
  const tls = await selfSigned(t);
  const f = await startPop3(t, { tls });
  const c = await RawPop3.connect(f.port);
  t.after(() => c.destroy());
  await c.line();
  assert.match((await c.cmd('UTF8')) ?? '', /^\+OK/);
  assert.match((await c.cmd('CAPA')) ?? '', /^\+OK/);
  const caps = (await c.multiline())?.toString() ?? '';
  assert.match(caps, /^UTF8\r\n/m);
  assert.doesNotMatch(caps, /^STLS\r\n/m);
  assert.match((await c.cmd('STLS')) ?? '', /^-ERR STLS not allowed after UTF8/);
  assert.match((await c.cmd('NOOP')) ?? '', /^-ERR/, 'still a plain connection, in AUTHORIZATION');
});

test('after UTF8 a plaintext login refused for want of TLS is [SYS/PERM], not "[AUTH] use STLS first" (STLS is refused now)', async (t) => {
  const tls = await selfSigned(t);
  const f = await startPop3(t, { tls, limits: { plaintextNetworks: [] } });
  const c = await RawPop3.connect(f.port);
  t.after(() => c.destroy());
  await c.line();
  assert.match((await c.cmd('USER alice@example.com')) ?? '', /^-ERR \[AUTH\] .*STLS/, 'before UTF8: STLS would help');
  assert.match((await c.cmd('UTF8')) ?? '', /^\+OK/);
  for (const cmd of ['USER alice@example.com', 'AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldC1hbGljZQ==']) {
    const reply = (await c.cmd(cmd)) ?? '';
    assert.match(reply, /^-ERR \[SYS\/PERM\]/, cmd);
    assert.doesNotMatch(reply, /STLS/, cmd);
  }
});
