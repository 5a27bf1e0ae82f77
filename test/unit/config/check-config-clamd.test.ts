// check-config and clamd (antivirus.clamd): a unix socket missing, something else than a socket, or not writable by
// the user, and a TCP address where nothing answers PING, are warnings naming file, line and key (serve starts
// without clamd, so the exit stays 0); a socket there, clamd answering on TCP, or antivirus off says nothing.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { checkConfigCommand } from '../../../src/commands/check-config.ts';
import { runCli } from '../../helpers/cli-process.ts';
import { runCommand } from '../../helpers/command-io.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

/** check-config on a config with these antivirus lines (from line 2 on), in a scratch directory. */
async function checkWith(t: TestContext, antivirus: (dir: string) => string): Promise<{ code: number; out: string; err: string; file: string; dir: string }> {
  const dir = tempDir(t, 'spamgate-cc-clamd-');
  const file = path.join(dir, 'spamgate.yaml');
  writeFileSync(file, `local_domains: [example.org]\nantivirus:\n${antivirus(dir)}`);
  mkdirSync(path.join(dir, 'data'));
  const r = await runCommand(checkConfigCommand, { flags: new Map(), positional: [], configFile: file, dataDir: path.join(dir, 'data') });
  return { ...r, file, dir };
}

const warningAt = (file: string, line: number): RegExp => new RegExp(`^spamgate check-config: warning: ${file.replace(/[.]/g, '\\.')}:${line}: antivirus\\.clamd: `, 'm');

test('check-config: a clamd socket that does not exist is a warning naming file, line, key and path; exit 0', async (t) => {
  const r = await checkWith(t, (dir) => `  enabled: true\n  clamd: unix:${dir}/clamd.ctl\n`);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^ok: /);
  assert.match(r.err, warningAt(r.file, 4));
  assert.match(r.err, new RegExp(`clamd's socket ${r.dir.replace(/[.]/g, '\\.')}/clamd\\.ctl does not exist: `));
  assert.match(r.err, /antivirus\.on_error \(tempfail\)/);
  assert.equal(r.err.trim().split('\n').length, 1);
});

test('check-config: a clamd socket path that is a regular file or a directory is a warning: not a socket', async (t) => {
  const file = await checkWith(t, (dir) => {
    writeFileSync(path.join(dir, 'clamd.conf'), 'LocalSocket /run/clamav/clamd.ctl\n');
    return `  enabled: true\n  on_error: accept\n  clamd: unix:${dir}/clamd.conf\n`;
  });
  assert.equal(file.code, 0, file.err);
  assert.match(file.err, warningAt(file.file, 5));
  assert.match(file.err, /clamd\.conf is a regular file, not a socket: .*antivirus\.on_error \(accept\)/);
  const directory = await checkWith(t, (dir) => `  enabled: true\n  clamd: unix:${dir}\n`);
  assert.match(directory.err, /is a directory, not a socket/);
});

/** A stand-in for clamd on 127.0.0.1 (port 0): answers `zPING\0` with `PONG\0`, as clamd does. */
async function pongServer(t: TestContext): Promise<number> {
  const server = net.createServer((s) => {
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('zPING\0')) s.end('PONG\0');
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

/** A port on 127.0.0.1 nothing listens on: one the system gave a listener, which is then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('check-config: a listening clamd socket, clamd answering PING over TCP, or antivirus off: no warning', async (t) => {
  const dir = tempDir(t, 'spamgate-cc-clamd-sock-');
  const sock = path.join(dir, 'clamd.ctl');
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.after(() => server.close());
  const socket = await checkWith(t, () => `  enabled: true\n  clamd: unix:${sock}\n`);
  assert.equal(socket.code, 0, socket.err);
  assert.equal(socket.err, '');
  const port = await pongServer(t);
  const tcp = await checkWith(t, () => `  enabled: true\n  clamd: 127.0.0.1:${port}\n`);
  assert.equal(tcp.code, 0, tcp.err);
  assert.equal(tcp.err, '');
  // antivirus off: nothing is tried, not even a TCP address where nothing listens
  const nobody = await closedPort();
  const offTcp = await checkWith(t, () => `  enabled: false\n  clamd: 127.0.0.1:${nobody}\n`);
  assert.equal(offTcp.err, '');
  const off = await checkWith(t, (d) => `  enabled: false\n  clamd: unix:${d}/none.sock\n`);
  assert.equal(off.err, '');
  assert.match(off.out, /^ok: /);
});

test('check-config: a clamd socket whose path is longer than a unix socket address holds (107 bytes) is a warning: serve cannot connect to it', async (t) => {
  const dir = tempDir(t, 'spamgate-cc-clamd-long-');
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'c.sock'), resolve));
  t.after(() => server.close());
  // a socket that is there, at a path no connect() can name (moved below a deep directory)
  const deep = path.join(dir, 'd'.repeat(60), 'e'.repeat(60));
  mkdirSync(deep, { recursive: true });
  const sock = path.join(deep, 'clamd.ctl');
  renameSync(path.join(dir, 'c.sock'), sock);
  const r = await checkWith(t, () => `  enabled: true\n  clamd: unix:${sock}\n`);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, warningAt(r.file, 4));
  assert.match(r.err, new RegExp(`is ${Buffer.byteLength(sock)} bytes long: a unix socket path is at most 107`));
  // a missing one that long says so too (clamd could not be reached there either)
  const missing = await checkWith(t, (d) => `  enabled: true\n  clamd: unix:${d}/${'f'.repeat(120)}.ctl\n`);
  assert.match(missing.err, /bytes long: a unix socket path is at most 107/);
});

test('check-config: clamd at a TCP address that refuses the connection is a warning naming file, line, key and address; exit 0', async (t) => {
  const port = await closedPort();
  const r = await checkWith(t, () => `  enabled: true\n  on_error: accept\n  clamd: 127.0.0.1:${port}\n`);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^ok: /);
  assert.match(r.err, warningAt(r.file, 5));
  assert.match(r.err, new RegExp(`clamd at 127\\.0\\.0\\.1:${port} does not answer PING \\(ECONNREFUSED while connecting .*antivirus\\.on_error \\(accept\\)`));
  assert.equal(r.err.trim().split('\n').length, 1);
});

test('check-config: a clamd socket the user may not write to (no connect can be made) is a warning; exit 0', async (t) => {
  const dir = tempDir(t, 'spamgate-cc-clamd-ro-');
  const sock = path.join(dir, 'clamd.ctl');
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.after(() => server.close());
  const file = path.join(dir, 'spamgate.yaml');
  writeFileSync(file, `local_domains: [example.org]\nantivirus:\n  enabled: true\n  clamd: unix:${sock}\n`);
  const data = path.join(dir, 'data');
  mkdirSync(data);
  // root may write to any socket: then check-config runs as nobody, the socket root's and closed to others
  const asRoot = process.getuid?.() === 0;
  const nobody = { uid: 65534, gid: 65534 };
  // as root, a temp directory nobody may not write to (as a CI's may be): the run as nobody needs none, leaves nothing
  const tmp = path.join(dir, 'tmp');
  if (asRoot) {
    mkdirSync(tmp, { mode: 0o755 });
    const systemTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    t.after(() => {
      if (systemTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = systemTmp;
    });
    chmodSync(dir, 0o755);
    chownSync(data, nobody.uid, nobody.gid);
    chmodSync(sock, 0o644);
  } else chmodSync(sock, 0o400);
  const r = await runCli(['check-config', '--config', file, '--data-dir', data], asRoot ? { user: nobody } : {});
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok: /);
  assert.match(r.stderr, warningAt(file, 4));
  assert.match(r.stderr, new RegExp(`clamd's socket ${sock.replace(/[.]/g, '\\.')} is not writable by this user \\(EACCES\\)`));
  assert.equal(r.stderr.trim().split('\n').length, 1);
  if (asRoot) assert.deepEqual(readdirSync(tmp), [], 'nothing left in the temp directory');
});
