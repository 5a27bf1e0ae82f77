// milter.listen on a unix socket: a socket left by a process that is gone is removed before the bind; a file
// that is not a socket (a mistyped path) is never removed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { removeStaleSocket } from '../../../src/util/socket-listener.ts';

test('a stale socket is removed, a regular file is kept with an error, no file is nothing to do', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-milter-sock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'milter.sock');
  execFileSync('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sock]);
  await removeStaleSocket(sock);
  assert.equal(existsSync(sock), false);
  await removeStaleSocket(sock);
  const file = path.join(dir, 'precious.conf');
  writeFileSync(file, 'keep me');
  await assert.rejects(removeStaleSocket(file), /is not a socket/);
  assert.equal(readFileSync(file, 'utf8'), 'keep me');
});
