// `spamgate reload` against a real `spamgate serve`: it prints the outcome the instance records (ok, refused with
// the reason, settings that need a restart) and exits 0, 1, 3 (no instance) or 4 (no outcome in time).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli-process.ts';
import { freePort } from '../helpers/free-port.ts';
import { ServeProcess } from '../helpers/serve-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { CLI } from '../helpers/cli-hostile.ts';

function writeConfig(file: string, dataDir: string, ports: { smtp: number; http: number }, extra = ''): void {
  writeFileSync(
    file,
    `mode: front-of
data_dir: ${dataDir}
local_domains: [relay.example]
smtp: { listen: { port: ${ports.smtp} }, hostname: mx.test.example }
submission: { enabled: false }
http: { listen: { port: ${ports.http} } }
pop3: { enabled: false }
imap: { enabled: false }
bayes: { enabled: false }
dns: { servers: ["127.0.0.1:9"], timeout: 200ms, retries: 0 }
delivery: { upstream: { host: 127.0.0.1, port: 9 } }
${extra}`,
  );
}

test('reload prints the running instance\'s outcome: ok (exit 0), a refused config with its reason (exit 1, still serving), restart-only keys as a warning', async (t) => {
  const dir = tempDir(t, 'spamgate-reload-cli-');
  const file = path.join(dir, 'spamgate.yaml');
  const dataDir = path.join(dir, 'data');
  const ports = { smtp: await freePort(), http: await freePort() };
  writeConfig(file, dataDir, ports);
  const serve = new ServeProcess();
  t.after(() => serve.kill());
  await serve.start(process.execPath, ['--import', 'tsx', CLI, 'serve', '--config', file]);
  const pid = serve.child?.pid;

  const good = await runCli(['reload', '--config', file]);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, new RegExp(`^reloaded \\(pid ${pid}, reload 1 at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\)\\n$`));
  assert.equal(good.stderr, '', 'nothing needs a restart');

  // a config the instance refuses (its TLS files are missing): it says why (file, key, problem); the CLI exits 1 and prints that
  const missing = path.join(dir, 'missing.pem');
  writeFileSync(file, readFileSync(file, 'utf8').replace('hostname: mx.test.example', `hostname: mx.test.example, tls: { cert: ${missing}, key: ${missing} }`));
  const refused = await runCli(['reload', '--config', file]);
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /^spamgate: reload refused \(pid \d+, reload 2 at .*\); the instance keeps its running configuration:\n/);
  assert.ok(refused.stderr.includes(file), refused.stderr);
  assert.match(refused.stderr, /smtp\.tls\.cert/);
  assert.ok(refused.stderr.includes(missing), refused.stderr);
  assert.equal(serve.child?.exitCode, null, 'still running');
  assert.equal((await fetch(`http://127.0.0.1:${ports.http}/healthz`)).status, 200);

  // a file that does not even load here is still sent for (its data_dir read alone): the instance's verdict is printed
  writeConfig(file, dataDir, ports, 'bogus_key: 1\n');
  const invalid = await runCli(['reload', '--config', file]);
  assert.equal(invalid.code, 1, invalid.stdout + invalid.stderr);
  assert.match(invalid.stderr, /reload 3 [^\n]*\n[^\n]*bogus_key/);

  // a restart-only key: reloaded, and a warning line names it
  writeConfig(file, dataDir, ports);
  writeFileSync(file, readFileSync(file, 'utf8').replace('hostname: mx.test.example', 'hostname: mx.test.example, banner: other'));
  const stale = await runCli(['reload', '--data-dir', dataDir, '--timeout', '30']);
  assert.equal(stale.code, 0, stale.stderr);
  assert.match(stale.stdout, /^reloaded \(pid \d+, reload 4 /);
  const pendingWarning = 'warning: settings changed since the instance started that apply only after a restart (it keeps the old ones): smtp.banner\n';
  assert.equal(stale.stderr, pendingWarning);
  // reloaded again unchanged: the banner still waits for the restart, and the command still says so
  const again = await runCli(['reload', '--data-dir', dataDir, '--timeout', '30']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^reloaded \(pid \d+, reload 5 /);
  assert.equal(again.stderr, pendingWarning);

  // --no-wait: the signal alone, as before
  const noWait = await runCli(['reload', '--data-dir', dataDir, '--no-wait']);
  assert.equal(noWait.code, 0, noWait.stderr);
  assert.match(noWait.stdout, /^reload requested \(pid \d+\); not waiting/);
  assert.equal((await runCli(['reload', '--data-dir', dataDir, '--no-wait', '--timeout', '5'])).code, 2);
  assert.equal((await runCli(['reload', '--data-dir', dataDir, '--timeout', '0'])).code, 2);
});

test('reload with no instance exits 3; with one that records no outcome in time, 4, saying so', async (t) => {
  const dir = tempDir(t, 'spamgate-reload-none-');
  const none = await runCli(['reload', '--data-dir', dir]);
  assert.equal(none.code, 3);
  assert.match(none.stderr, /no running instance \(no pid file in /);
  // a data directory that is a file stays bad usage naming it (the fallback for a broken config does not hide it)
  const notDir = path.join(dir, 'plain-file');
  writeFileSync(notDir, '');
  const asFile = await runCli(['reload', '--data-dir', notDir]);
  assert.equal(asFile.code, 2);
  assert.match(asFile.stderr, /--data-dir: .* is not a directory/);
  // a process that looks like spamgate serve, ignores SIGHUP and records nothing
  const mute = spawn(process.execPath, ['-e', 'process.on("SIGHUP", () => {}); setInterval(() => {}, 1000);', 'serve'], { stdio: 'ignore' });
  t.after(async () => {
    if (mute.exitCode === null && mute.signalCode === null) {
      mute.kill('SIGKILL');
      await once(mute, 'exit');
    }
  });
  writeFileSync(path.join(dir, 'spamgate.pid'), `${mute.pid}\n`);
  const silent = await runCli(['reload', '--data-dir', dir, '--timeout', '0.5']);
  assert.equal(silent.code, 4, silent.stderr);
  assert.match(silent.stderr, new RegExp(`reload requested \\(pid ${mute.pid}\\), but no outcome was recorded in .* within 0\\.5 s`));
  assert.equal(mute.exitCode, null, 'the signal did not end it');
});
