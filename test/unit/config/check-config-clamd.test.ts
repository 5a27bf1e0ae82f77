// check-config and clamd's unix socket (antivirus.clamd: unix:/path): missing, or something else than a socket, is
// a warning naming file, line and key (serve starts without clamd, so the exit stays 0); a socket there, a TCP
// address or antivirus off says nothing.
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { checkConfigCommand } from '../../../src/commands/check-config.ts';
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

test('check-config: a listening clamd socket, a TCP address, or antivirus off: no warning', async (t) => {
  const dir = tempDir(t, 'spamgate-cc-clamd-sock-');
  const sock = path.join(dir, 'clamd.ctl');
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.after(() => server.close());
  const socket = await checkWith(t, () => `  enabled: true\n  clamd: unix:${sock}\n`);
  assert.equal(socket.code, 0, socket.err);
  assert.equal(socket.err, '');
  // no connection is tried from check-config (a TCP clamd, like Redis, is not probed)
  const tcp = await checkWith(t, () => `  enabled: true\n  clamd: 127.0.0.1:9\n`);
  assert.equal(tcp.err, '');
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
