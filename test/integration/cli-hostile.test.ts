// `spamgate` as a real process under bad usage and hostile input (configs, message files, pid files),
// and the HTTP endpoint of a running gateway under wrong methods, odd targets and malformed requests.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { COMMANDS } from '../../src/commands/index.ts';
import { verifyPassword } from '../../src/mailhost/password.ts';
import { startGateway } from '../helpers/gateway.ts';
import { runPython } from '../helpers/python.ts';
import { runCli } from '../helpers/cli-process.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `spamgate ARGS` to completion; `detached` puts it in its own process group. */
function cli(args: readonly string[], opts: { detached?: boolean } = {}): Promise<Run> {
  return runCli(args, opts);
}

const tempDir = (t: TestContext): string => makeTempDir(t, 'spamgate-cli-hostile-');

/** No stack trace: no "    at fn (file:line)" frames and no Node error banner. */
function assertNoStack(r: Run): void {
  assert.doesNotMatch(r.stderr + r.stdout, /^\s+at .+:\d+:\d+\)?$/m, r.stderr);
  assert.doesNotMatch(r.stderr, /node:internal|Error \[ERR_/, r.stderr);
}

test('usage: no command, unknown command and options exit 2 with one line; every --help and -h exit 0', async () => {
  const none = await cli([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^spamgate: no command given\n/);
  const unknown = await cli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr.trim().split('\n').length, 1);
  for (const args of [['classify', '--bogus'], ['classify', '-x'], ['queue', 'list', '--config'], ['queue', 'flush', '--wait', 'soon'], ['queue', 'list', '--wait', '5'], ['classify', '--json=1', 'f'], ['users', 'list', 'extra'], ['explain', '/dev/null', '--rcpt', 'not an address'], ['queue', 'park', '0mxc1jr2p-00cwm-feba23'], ['queue', 'list', '0mxc1jr2p-00cwm-feba23']]) {
    const r = await cli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^spamgate ${args[0]}: `));
    // a sub-command queue does not have, or an id list does not take, is named as such
    if (args[0] === 'queue' && /^[0-9a-z]{9}-/.test(args[2] ?? '')) assert.match(r.stderr, /unknown queue sub-command "park"|queue list takes no message id/);
  }
  const helps = await Promise.all(COMMANDS.map(async (c) => ({ name: c.name, run: await cli([c.name, '--help', '--config', '/nonexistent.yaml']) })));
  for (const { name, run } of helps) {
    assert.equal(run.code, 0, name);
    assert.match(run.stdout, new RegExp(`^usage: spamgate ${name}`), name);
  }
  const short = await cli(['explain', '-h']);
  assert.equal(short.code, 0);
  assert.match(short.stdout, /^usage: spamgate explain/);
});

test('check-config catches what serve refuses: bad keys, TLS files, data dir, users file', async (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  mkdirSync(data);
  const write = (name: string, text: string): string => {
    writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  const ok = await cli(['check-config', '--config', write('ok.yaml', '{}\n'), '--data-dir', data]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ok: /);

  const cases: [string, string[], RegExp][] = [
    ['bad keys', ['--config', write('bad.yaml', 'http:\n  listen: { host: "no such host!", port: 99999 }\nbogus: 1\n'), '--data-dir', data], /bad\.yaml:2: http\.listen\.host: .*\n.*bad\.yaml:2: http\.listen\.port: .*\n.*bad\.yaml:3: bogus: unknown key/],
    ['bad alias', ['--config', write('alias.yaml', 'aliases:\n  "not an address": postmaster@localhost\n'), '--data-dir', data], /alias\.yaml: aliases\.not an address: expected local@domain/],
    ['missing TLS', ['--config', write('tls.yaml', 'smtp:\n  tls: { cert: gone.pem, key: gone.key }\n'), '--data-dir', data], /tls\.yaml:2: smtp\.tls\.cert: .*gone\.pem does not exist/],
    ['empty', ['--config', write('empty.yaml', ''), '--data-dir', data], /empty\.yaml: the file is empty/],
    ['directory', ['--config', dir, '--data-dir', data], /is a directory/],
    ['data dir a file', ['--data-dir', write('plain-file', 'x')], /data_dir: .*plain-file is not a directory/],
    ['broken users file', ['--data-dir', path.join(dir, 'users-dir')], /users\.yaml:\d+: /],
    ['alias outside local domains', ['--config', write('aliases.yaml', 'aliases:\n  "x@elsewhere.example": someone@localhost\n'), '--data-dir', data], /aliases\.x@elsewhere\.example: .*not in local_domains/],
  ];
  mkdirSync(path.join(dir, 'users-dir'));
  writeFileSync(path.join(dir, 'users-dir', 'users.yaml'), 'alice@localhost: [\n');
  for (const [label, args, expected] of cases) {
    const check = await cli(['check-config', ...args]);
    assert.equal(check.code, 2, `${label}: ${check.stdout}${check.stderr}`);
    assert.match(check.stderr, expected, label);
    assertNoStack(check);
  }
  // serve refuses the same data dir and TLS config before opening anything, exit 2 with the key.
  const serveTls = await cli(['serve', '--config', path.join(dir, 'tls.yaml'), '--data-dir', data]);
  assert.equal(serveTls.code, 2);
  assert.match(serveTls.stderr, /smtp\.tls\.cert/);
  const serveDir = await cli(['serve', '--data-dir', path.join(dir, 'plain-file')]);
  assert.equal(serveDir.code, 2);
  assert.match(serveDir.stderr, /data_dir: .*not a directory/);
});

test('message commands on a directory, a missing path, /dev/null, binary and a 50 MB file', async (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const empty = path.join(dir, 'empty-dir');
  mkdirSync(empty);
  const binary = path.join(dir, 'binary.bin');
  writeFileSync(binary, Buffer.from(Array.from({ length: 65_536 }, (_, i) => (i * 131) % 256)));
  const big = path.join(dir, 'big.eml');
  writeFileSync(big, Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(50 * 1024 * 1024, 'lorem ipsum dolor sit amet\r\n')]));

  const inEmpty = await cli(['classify', empty, '--data-dir', data]);
  assert.equal(inEmpty.code, 0);
  assert.match(inEmpty.stderr, /no messages found under/);
  const missing = await cli(['classify', path.join(dir, 'nope'), '--data-dir', data]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope: no such file or directory/);
  const explainDir = await cli(['explain', empty, '--data-dir', data]);
  assert.equal(explainDir.code, 2);
  assert.match(explainDir.stderr, /is a directory/);
  for (const args of [['classify', '/dev/null', binary, big], ['explain', binary], ['explain', '/dev/null'], ['forget', binary]]) {
    const r = await cli([...args, '--data-dir', data]);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assertNoStack(r);
  }
  const classified = await cli(['classify', '--json', big, '--data-dir', data]);
  assert.match(classified.stdout, /"verdict":"(spam|ham|unsure|silent)"/);
});

test('classify and explain read a device (/dev/zero) only up to the 64 MiB message limit', async (t) => {
  const data = path.join(tempDir(t), 'data');
  const classified = await cli(['classify', '/dev/zero', '--data-dir', data]);
  assert.equal(classified.code, 1, classified.stderr);
  assert.match(classified.stdout, /\/dev\/zero\t-\terror: over the 67108864-byte limit, skipped/);
  const explained = await cli(['explain', '/dev/zero', '--data-dir', data]);
  assert.equal(explained.code, 1);
  assert.match(explained.stderr, /^spamgate explain: \/dev\/zero: over the 67108864-byte limit of one message\n$/);
  assertNoStack(explained);
});

/** A temp directory with a data directory and a config whose Bayes store starts empty (no shipped model). */
function emptyBayesDirs(t: TestContext): { dir: string; data: string; config: string } {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const config = path.join(dir, 'spamgate.yaml');
  writeFileSync(config, 'bayes:\n  use_shipped_model: false\n');
  return { dir, data, config };
}

test('two trains at once on one data directory: the second is refused, nothing learned is lost', async (t) => {
  const { dir, data, config } = emptyBayesDirs(t);
  const corpus = (cls: string, n: number): string => {
    const d = path.join(dir, cls);
    mkdirSync(d);
    for (let i = 0; i < n; i++) writeFileSync(path.join(d, `${i}.eml`), `From: ${cls}${i}@x.example\nSubject: ${cls} ${i}\nMessage-ID: <${cls}${i}@x>\n\n${cls} words number ${i} token${i}\n`);
    return d;
  };
  const spam = corpus('spam', 3000);
  const ham = corpus('ham', 3000);
  // each alone takes well over a second: the two overlap
  const [a, b] = await Promise.all([cli(['train', '--spam', spam, '--config', config, '--data-dir', data]), cli(['train', '--ham', ham, '--config', config, '--data-dir', data])]);
  const learned = { spam: 0, ham: 0 };
  for (const [cls, r] of [['spam', a], ['ham', b]] as const) {
    assertNoStack(r);
    if (r.code === 0) learned[cls] = 3000;
    else {
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^spamgate train: the Bayes store in .* is in use by process \d+ \(another spamgate train or forget/);
    }
  }
  assert.ok(learned.spam + learned.ham > 0);
  // the store holds exactly what the successful runs said they learned
  const again = await cli(['train', '--spam', spam, '--ham', ham, '--config', config, '--data-dir', data]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`^learned ${6000 - learned.spam - learned.ham}, relearned 0, already known ${learned.spam + learned.ham} `));
});

test('forget whose reader has gone (| head) still forgets every message and saves the store', async (t) => {
  const { dir, data, config } = emptyBayesDirs(t);
  const spam = path.join(dir, 'spam');
  mkdirSync(spam);
  for (let i = 0; i < 50; i++) writeFileSync(path.join(spam, `${i}.eml`), `From: s${i}@x.example\nSubject: offer ${i}\n\nwin money ${i}\n`);
  assert.equal((await cli(['train', '--spam', spam, '--config', config, '--data-dir', data])).code, 0);
  // the reading end is closed before the command writes its first line: every write gets EPIPE
  const gone = await new Promise<Run>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'forget', spam, '--config', config, '--data-dir', data], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: '', stderr }));
  });
  assert.equal(gone.code, 0, gone.stderr);
  assertNoStack(gone);
  const after = await cli(['forget', spam, '--config', config, '--data-dir', data]);
  assert.match(after.stdout, /forgotten 0, not learned 50; store now 0 spam \/ 0 ham\n$/);
});

/** Runs `spamgate ARGS` on a pseudo-terminal (python3 pty), answering each prompt the moment it shows. */
const ON_A_TERMINAL = `
import json, os, pty, select, sys, time
answer = sys.argv[1].encode() + b'\\r'
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out, answered, deadline = b'', 0, time.time() + 60
while time.time() < deadline:
    if not select.select([fd], [], [], 0.5)[0]:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if out.count(b': ') > answered:
        os.write(fd, answer)
        answered += 1
print(json.dumps({'out': out.decode('utf-8', 'replace'), 'status': os.waitpid(pid, 0)[1]}))
`;
import { tempDir as makeTempDir } from '../helpers/temp-dir.ts';

test('users add and passwd on a terminal: the password is never echoed, even when typed as the prompt shows', async (t) => {
  const data = path.join(tempDir(t), 'data');
  const password = 'typed-at-once-1234';
  // the echo was turned off only after the prompt was written: an answer that quick was echoed (often, not always)
  for (let i = 0; i < 5; i++) {
    const args = [process.execPath, '--import', 'tsx', CLI, 'users', i === 0 ? 'add' : 'passwd', 'carol@localhost', '--data-dir', data];
    const r = await runPython<{ out: string; status: number }>(ON_A_TERMINAL, [password, ...args], 90_000);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /^Password: .*Again: .*(added|changed password of) carol@localhost/s);
    assert.equal(r.out.includes(password), false, `run ${i}: the password was echoed: ${JSON.stringify(r.out)}`);
  }
});

test('the terminal password prompt edits as a terminal does: Ctrl-U clears the line, control characters are not taken, Ctrl-D on an empty line cancels', async (t) => {
  const data = path.join(tempDir(t), 'data');
  const typed = 'mistyped\u0015right-password-9\u0001';
  const args = [process.execPath, '--import', 'tsx', CLI, 'users', 'add', 'dave@localhost', '--data-dir', data];
  const added = await runPython<{ out: string; status: number }>(ON_A_TERMINAL, [typed, ...args], 90_000);
  assert.equal(added.status, 0, added.out);
  const users = parseYaml(readFileSync(path.join(data, 'users.yaml'), 'utf8')) as { users?: Record<string, { password?: string }> } & Record<string, { password?: string }>;
  const hash = (users.users ?? users)['dave@localhost']?.password;
  assert.equal(await verifyPassword('right-password-9', hash), true, 'the password is what was left after Ctrl-U, without the Ctrl-A');
  const eof = await runPython<{ out: string; status: number }>(ON_A_TERMINAL, ['\u0004', ...args.slice(0, 5), 'passwd', 'dave@localhost', '--data-dir', data], 90_000);
  assert.notEqual(eof.status, 0, eof.out);
  assert.match(eof.out, /cancelled \(end of input\)/);
});

test('output that cannot be written (> /dev/full) is one line naming the output, exit 1, not an internal error', async (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'm.eml'), 'Subject: x\n\nbody\n');
  for (const args of [['classify', path.join(dir, 'm.eml'), '--data-dir', path.join(dir, 'data')], ['queue', 'list', '--data-dir', path.join(dir, 'data')]]) {
    const full = openSync('/dev/full', 'w');
    const r = await new Promise<Run>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', full, 'pipe'], timeout: 120_000 });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout: '', stderr }));
    });
    closeSync(full);
    assert.equal(r.code, 1, args[0]);
    assert.equal(r.stderr, `spamgate ${args[0]}: cannot write the output: ENOSPC: no space left on device, write\n`);
  }
});

test('reload never signals a process group or a process that is not spamgate serve', async (t) => {
  const dir = tempDir(t);
  const pidFile = path.join(dir, 'spamgate.pid');
  for (const text of ['', '0\n', '-1\n', 'garbage\n', '1\n']) {
    writeFileSync(pidFile, text);
    // Own process group: were kill(0) or kill(-1) ever reached, the test runner would not be hit.
    const r = await cli(['reload', '--data-dir', dir], { detached: true });
    assert.equal(r.code, 1, `pid file ${JSON.stringify(text)}: ${r.stdout}`);
    assert.match(r.stderr, /does not hold a process id|is not spamgate serve/);
  }
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.after(() => sleeper.kill());
  writeFileSync(pidFile, `${sleeper.pid}\n`);
  const stale = await cli(['reload', '--data-dir', dir], { detached: true });
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /is not spamgate serve \(stale pid file\?\)/);
  assert.equal(sleeper.exitCode, null, 'the unrelated process was left alone');
});

/** Sends raw bytes to the port and returns the status line of the answer (or '' when closed silently). */
function rawRequest(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) socket.destroy();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
    socket.end(bytes);
  });
}

test('HTTP: 404 for unknown paths, 405 with Allow, absolute-form, malformed and huge requests; metrics stay valid', async (t) => {
  const gw = await startGateway(t, { log_level: 'silent' });
  const port = gw.httpPort ?? 0;
  const base = `http://127.0.0.1:${port}`;
  const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x', signal: AbortSignal.timeout(10_000) });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  assert.equal((await fetch(`${base}/nope`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) })).status, 404, 'an unknown path is 404 whatever the method');
  const head = await fetch(`${base}/healthz`, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');

  assert.match(await rawRequest(port, 'GET http://gw.example/readyz HTTP/1.1\r\nHost: gw.example\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /, 'absolute-form target (RFC 9112 §3.2.2)');
  assert.match(await rawRequest(port, 'GET /metrics?x=1#frag HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
  assert.match(await rawRequest(port, 'GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400 /);
  assert.match(await rawRequest(port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a])), /^(HTTP\/1\.1 400 |$)/);
  assert.match(await rawRequest(port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
  assert.match(await rawRequest(port, `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 431 /);
  assert.match(await rawRequest(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n'), /^HTTP\/1\.1 400 /);

  const metrics = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(metrics.status, 200);
  const body = await metrics.text();
  const promtool = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let report = '';
  promtool.stdout.on('data', (d: Buffer) => (report += d.toString()));
  promtool.stderr.on('data', (d: Buffer) => (report += d.toString()));
  promtool.stdin.end(body);
  const code = await new Promise<number | null>((resolve) => promtool.on('close', resolve));
  assert.equal(code, 0, report);
});

test('train refuses a message given as both spam and ham (the same path, or a file inside the other\'s directory): exit 2, nothing learned', async (t) => {
  const { dir, data, config } = emptyBayesDirs(t);
  const corpus = path.join(dir, 'corpus');
  mkdirSync(path.join(corpus, '.Junk', 'cur'), { recursive: true });
  writeFileSync(path.join(corpus, 'a.eml'), 'From: a@x.example\nSubject: a\n\nwords\n');
  writeFileSync(path.join(corpus, '.Junk', 'cur', 'b.eml'), 'From: b@x.example\nSubject: b\n\nother words\n');
  const same = await cli(['train', '--spam', corpus, '--ham', corpus, '--config', config, '--data-dir', data]);
  assertNoStack(same);
  assert.equal(same.code, 2, same.stderr);
  assert.equal(same.stderr, `spamgate train: ${corpus} is given as both --spam and --ham\n`);
  const inside = await cli(['train', '--spam', path.join(corpus, 'a.eml'), '--ham', `${corpus}/`, '--config', config, '--data-dir', data]);
  assert.equal(inside.code, 2, inside.stderr);
  assert.match(inside.stderr, /^spamgate train: .*a\.eml is under both --spam .*a\.eml and --ham .*corpus\/\n$/);
  assert.equal(same.stdout + inside.stdout, '');
  // a Maildir++ subfolder is not walked from its parent: Junk as spam and the rest as ham do not overlap
  const apart = await cli(['train', '--spam', path.join(corpus, '.Junk'), '--ham', corpus, '--config', config, '--data-dir', data]);
  assert.equal(apart.code, 0, apart.stderr);
  assert.match(apart.stdout, /^learned 2, .*store now 1 spam \/ 1 ham\n$/);
});
