// `spamgate` as a real process on a pseudo-terminal (password prompts), with an output that cannot be written,
// and `spamgate reload` against pid files that name no spamgate process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { verifyPassword } from '../../src/mailhost/password.ts';
import { cli, CLI, tempDir, type Run } from '../helpers/cli-hostile.ts';
import { runPython } from '../helpers/python.ts';

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
    assert.equal(r.code, 3, `pid file ${JSON.stringify(text)}: ${r.stdout}`);
    assert.match(r.stderr, /does not hold a process id|is not spamgate serve/);
  }
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.after(() => sleeper.kill());
  writeFileSync(pidFile, `${sleeper.pid}\n`);
  const stale = await cli(['reload', '--data-dir', dir], { detached: true });
  assert.equal(stale.code, 3);
  assert.match(stale.stderr, /is not spamgate serve \(stale pid file\?\)/);
  assert.equal(sleeper.exitCode, null, 'the unrelated process was left alone');
});

/** Sends raw bytes to the port and returns the status line of the answer (or '' when closed silently). */
