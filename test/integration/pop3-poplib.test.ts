// POP3 with Python's poplib as the real client: USER/PASS, APOP, STAT/LIST/TOP/UIDL/RETR, DELE+QUIT, drop, IN-USE.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { message, python, startPop3 } from './pop3-fixture.ts';
import { RawPop3 } from './pop3-client.ts';

const PY_SESSION = `
import json, poplib, sys
port, user, pw, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
p = poplib.POP3('127.0.0.1', port, timeout=10)
out = {'welcome': p.getwelcome().decode()}
if mode == 'apop':
    out['login'] = p.apop(user, pw).decode()
else:
    p.user(user); out['login'] = p.pass_(pw).decode()
out['stat'] = list(p.stat())
out['list'] = [l.decode() for l in p.list()[1]]
out['uidl'] = [l.decode() for l in p.uidl()[1]]
out['top'] = [l.decode() for l in p.top(1, 1)[1]]
out['retr'] = [[l.decode() for l in p.retr(i + 1)[1]] for i in range(out['stat'][0])]
if mode == 'dele':
    for i in range(out['stat'][0]): p.dele(i + 1)
out['quit'] = p.quit().decode()
print(json.dumps(out))
`;

interface SessionOut {
  welcome: string;
  login: string;
  stat: [number, number];
  list: string[];
  uidl: string[];
  top: string[];
  retr: string[][];
  quit: string;
}

test('poplib USER/PASS: STAT, LIST, UIDL, TOP, RETR with byte-stuffing and bare LF; keep mode leaves mail', async (t) => {
  const f = await startPop3(t);
  await f.deliver('alice@example.com', message('one', 'line one\r\n.starts with a dot\r\n..two dots\r\nlast\r\n'));
  await f.deliver('alice@example.com', Buffer.from('Subject: bare\n\nbare LF body\n.dot\n'));
  const out = await python<SessionOut>(PY_SESSION, [String(f.port), 'Alice@Example.com', 'secret-alice', 'keep']);
  assert.match(out.welcome, /^\+OK .*<\d+\.\d+\.\d+@pop\.example\.com>$/);
  assert.match(out.login, /^\+OK alice@example\.com has 2 messages/);
  const metas = await f.store.list('alice@example.com', 'INBOX');
  assert.deepEqual(out.stat, [2, metas.reduce((s, m) => s + m.size, 0)]);
  assert.deepEqual(out.list, metas.map((m, i) => `${i + 1} ${m.size}`));
  assert.equal(out.uidl.length, 2);
  assert.notEqual(out.uidl[0]?.split(' ')[1], out.uidl[1]?.split(' ')[1]);
  assert.deepEqual(out.top.slice(-2), ['', 'line one'], 'TOP 1 1: headers, blank line, one body line');
  assert.deepEqual(out.retr[0]?.slice(-4), ['line one', '.starts with a dot', '..two dots', 'last'], 'poplib un-stuffs what we stuffed');
  assert.deepEqual(out.retr[1], ['Subject: bare', '', 'bare LF body', '.dot']);
  assert.match(out.quit, /^\+OK/);
  const kept = await f.store.list('alice@example.com', 'INBOX');
  assert.equal(kept.length, 2, 'download-and-keep deletes nothing');
  assert.ok(kept.every((m) => m.flags.includes('\\Seen')), 'retrieved messages are \\Seen after QUIT');
  assert.deepEqual(f.logins, [{ user: 'alice@example.com', ip: '127.0.0.1' }]);
  // A second session sees the same unique ids (UIDL is stable across sessions).
  const again = await python<SessionOut>(PY_SESSION, [String(f.port), 'alice@example.com', 'secret-alice', 'keep']);
  assert.deepEqual(again.uidl, out.uidl);
});

test('poplib DELE then QUIT removes the messages', async (t) => {
  const f = await startPop3(t);
  await f.deliver('alice@example.com', message('a', 'x\r\n'));
  await f.deliver('alice@example.com', message('b', 'y\r\n'));
  const out = await python<SessionOut>(PY_SESSION, [String(f.port), 'alice@example.com', 'secret-alice', 'dele']);
  assert.match(out.quit, /\(0 messages left\)/);
  assert.equal((await f.store.list('alice@example.com', 'INBOX')).length, 0);
});

test('poplib APOP with the banner timestamp; wrong digest refused', async (t) => {
  const f = await startPop3(t);
  await f.deliver('bob@example.com', message('apop', 'hello\r\n'));
  const out = await python<SessionOut>(PY_SESSION, [String(f.port), 'bob@example.com', 'secret-bob', 'apop']);
  assert.match(out.login, /^\+OK bob@example\.com has 1 messages/);
  const bad = await python<{ err: string }>(
    `import json, poplib, sys
p = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=10)
try:
    p.apop('bob@example.com', 'wrong'); print(json.dumps({'err': ''}))
except poplib.error_proto as e:
    print(json.dumps({'err': e.args[0].decode()}))`,
    [String(f.port)],
  );
  assert.match(bad.err, /^-ERR \[AUTH\]/);
  // alice has no APOP secret: APOP is refused even with her real password.
  const noApop = await python<{ err: string }>(
    `import json, poplib, sys
p = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=10)
try:
    p.apop('alice@example.com', 'secret-alice'); print(json.dumps({'err': ''}))
except poplib.error_proto as e:
    print(json.dumps({'err': e.args[0].decode()}))`,
    [String(f.port)],
  );
  assert.match(noApop.err, /^-ERR \[AUTH\]/);
});

test('DELE then a dropped connection deletes nothing (no UPDATE state)', async (t) => {
  const f = await startPop3(t);
  await f.deliver('alice@example.com', message('keep', 'me\r\n'));
  const c = await RawPop3.connect(f.port);
  t.after(() => c.destroy());
  assert.match((await c.line()) ?? '', /^\+OK/);
  assert.match((await c.cmd('USER alice@example.com')) ?? '', /^\+OK/);
  assert.match((await c.cmd('PASS secret-alice')) ?? '', /^\+OK/);
  assert.match((await c.cmd('DELE 1')) ?? '', /^\+OK/);
  assert.match((await c.cmd('STAT')) ?? '', /^\+OK 0 0$/);
  assert.match((await c.cmd('RETR 1')) ?? '', /^-ERR/, 'a deleted message cannot be retrieved');
  c.destroy();
  // The lock is released when the server sees the close: a new login succeeds and still finds the message.
  const out = await python<SessionOut>(PY_SESSION, [String(f.port), 'alice@example.com', 'secret-alice', 'keep']);
  assert.deepEqual(out.stat[0], 1);
  assert.equal((await f.store.list('alice@example.com', 'INBOX')).length, 1);
});

test('a second session on the same maildrop gets -ERR [IN-USE]; RSET undeletes', async (t) => {
  const f = await startPop3(t);
  await f.deliver('alice@example.com', message('x', 'y\r\n'));
  const c = await RawPop3.connect(f.port);
  t.after(() => c.destroy());
  await c.line();
  await c.cmd('USER alice@example.com');
  assert.match((await c.cmd('PASS secret-alice')) ?? '', /^\+OK/);
  const second = await python<{ err: string }>(
    `import json, poplib, sys
p = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=10)
p.user('alice@example.com')
try:
    p.pass_('secret-alice'); print(json.dumps({'err': ''}))
except poplib.error_proto as e:
    print(json.dumps({'err': e.args[0].decode()}))`,
    [String(f.port)],
  );
  assert.match(second.err, /^-ERR \[IN-USE\]/);
  assert.match((await c.cmd('DELE 1')) ?? '', /^\+OK/);
  assert.match((await c.cmd('RSET')) ?? '', /^\+OK maildrop has 1 messages/);
  assert.match((await c.cmd('QUIT')) ?? '', /^\+OK .*\(1 messages left\)/);
  assert.equal((await f.store.list('alice@example.com', 'INBOX')).length, 1);
  const metrics = await f.registry.getSingleMetricAsString('spamgate_pop3_logins_total');
  assert.match(metrics, /result="in_use"} 1/);
  assert.match(metrics, /result="success"} 1/);
});

test('poplib APOP is refused without TLS off the trusted networks, as USER/PASS is (the same reply)', async (t) => {
  const f = await startPop3(t, { limits: { plaintextNetworks: [] } });
  const out = await python<{ apop: string; user: string }>(
    `
import json, poplib, sys
def attempt(login):
    p = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=10)
    try:
        return login(p).decode()
    except poplib.error_proto as e:
        return e.args[0].decode()
    finally:
        p.quit()
print(json.dumps({'apop': attempt(lambda p: p.apop('bob@example.com', 'secret-bob')), 'user': attempt(lambda p: p.user('bob@example.com'))}))
`,
    [String(f.port)],
  );
  assert.match(out.apop, /^-ERR \[SYS\/PERM\] plaintext authentication disallowed/);
  assert.equal(out.apop, out.user);
  assert.deepEqual(f.logins, []);
});
