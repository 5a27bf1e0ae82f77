// `spamgate queue list|show|remove|flush|hold|release` as a real process, against a stopped spool and against
// a running scheduler (requests through <spool>/control).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createRegistry } from '../../src/metrics/registry.ts';
import { createScheduler } from '../../src/queue/scheduler.ts';
import { initialState, readStateFile, stateFile } from '../../src/queue/spool-format.ts';
import { openSpool, type Spool } from '../../src/queue/spool.ts';
import { runningPid } from '../../src/queue/spool-lock.ts';
import { createUpstreamRouter } from '../../src/queue/upstream-router.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { envelope, message, queueConfig, tempDir } from '../unit/queue/helpers.ts';
import { runCli, type CliRun } from '../helpers/cli-process.ts';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const cli = (dataDir: string, ...args: string[]) => run(process.execPath, ['--import', 'tsx', CLI, 'queue', ...args, '--data-dir', dataDir], { timeout: 30_000 });

/** A running instance's queue in this process (spool lock held, control requests served): upstream the sink, retries an hour apart. */
async function runningQueue(t: TestContext, dataDir: string, sink: SinkServer) {
  const registry = createRegistry(false);
  const spool = await openSpool({ dir: path.join(dataDir, 'spool'), fsync: true, clock: systemClock, registry, log: silentLogger });
  const router = createUpstreamRouter({ upstream: { host: sink.host, port: sink.port, protocol: 'smtp', max_connections: 1, timeout: 5000, data_timeout: 10000, starttls: false, tls_verify: false, xforward: false }, hostname: 'gw.test', log: silentLogger });
  const scheduler = createScheduler({ spool, router, config: queueConfig({ scan_interval: '100ms', retry_initial: '1h' }), clock: systemClock, registry, log: silentLogger, hostname: 'gw.test' });
  await scheduler.start();
  t.after(async () => {
    await scheduler.stop(1000);
    await router.close();
    await spool.close();
  });
  return { spool, scheduler, registry };
}

test('queue list / show / remove / flush on a stopped instance', async (t) => {
  const dataDir = await tempDir(t);
  const spool = await openSpool({ dir: path.join(dataDir, 'spool'), fsync: true, clock: systemClock, registry: createRegistry(false), log: silentLogger });
  const a = await spool.enqueue(envelope({ receivedAt: Date.now() - 3_600_000 }), message('first'));
  const b = await spool.enqueue(envelope({ mailFrom: '', rcptTo: ['x@dest.test', 'y@dest.test'], receivedAt: Date.now() }), message('second'));
  const st = initialState(envelope());
  st.attempts = 3;
  st.nextAttemptAt = Date.now() + 600_000;
  st.lastError = '451 4.7.1 greylisted';
  st.lastAttemptAt = Date.now() - 60_000;
  await spool.saveState(a.id, st);
  await spool.close();

  const list = (await cli(dataDir, 'list')).stdout;
  const lineA = list.split('\n').find((l) => l.startsWith(a.id)) ?? '';
  assert.match(lineA, /\t60m\t/);
  assert.match(lineA, /\tsender@origin\.test\t/);
  assert.match(lineA, /\t3\t/);
  assert.match(lineA, /451 4\.7\.1 greylisted$/);
  assert.match(list.split('\n').find((l) => l.startsWith(b.id)) ?? '', /\t<>\tx@dest\.test,y@dest\.test \(2\/2 pending\)\t0\tnow\t/);
  assert.match(list, /2 message\(s\)/);

  const show = (await cli(dataDir, 'show', a.id)).stdout;
  assert.match(show, /"attempts": 3/);
  assert.match(show, /^Subject: first$/m);
  // the times readable (RFC 3339, UTC; nextAttempt as list --json gives it); envelope and state keep their epoch milliseconds
  type Shown = { receivedAt: unknown; nextAttempt: unknown; lastAttemptAt: unknown; envelope: { receivedAt: number }; state: { nextAttemptAt: number; lastAttemptAt: number } };
  const shown = JSON.parse(show.slice(0, show.indexOf('\n\n'))) as Shown;
  assert.equal(typeof shown.envelope.receivedAt, 'number');
  assert.equal(typeof shown.state.nextAttemptAt, 'number');
  assert.equal(shown.receivedAt, new Date(shown.envelope.receivedAt).toISOString());
  assert.equal(shown.nextAttempt, new Date(shown.state.nextAttemptAt).toISOString());
  assert.equal(shown.lastAttemptAt, new Date(shown.state.lastAttemptAt).toISOString());
  assert.match(String(shown.receivedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const listedA = (await cli(dataDir, 'list', '--json')).stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; nextAttempt: string; receivedAt: unknown; receivedAtMs: unknown }).find((j) => j.id === a.id);
  assert.equal(shown.nextAttempt, listedA?.nextAttempt);
  // list --json says when it came as show does (RFC 3339), and as stored in the envelope (epoch ms)
  assert.equal(listedA?.receivedAt, shown.receivedAt);
  assert.equal(listedA?.receivedAtMs, shown.envelope.receivedAt);
  // not tried yet: no state, due now
  const fresh = (await cli(dataDir, 'show', b.id)).stdout;
  const shownB = JSON.parse(fresh.slice(0, fresh.indexOf('\n\n'))) as { receivedAt: unknown; nextAttempt: unknown; lastAttemptAt?: unknown; state: unknown };
  assert.equal(shownB.state, null);
  assert.equal(shownB.nextAttempt, 'now');
  assert.equal('lastAttemptAt' in shownB, false);
  assert.match(String(shownB.receivedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  await assert.rejects(cli(dataDir, 'show', 'not-an-id'), (e: { code?: number }) => e.code === 2);

  assert.match((await cli(dataDir, 'flush')).stdout, /2 message\(s\) due at next start/);
  assert.equal((await readStateFile(stateFile({ ...spool.paths }, a.id)))?.nextAttemptAt, 0);

  assert.match((await cli(dataDir, 'remove', b.id)).stdout, new RegExp(`removed ${b.id}`));
  const json = (await cli(dataDir, 'list', '--json')).stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string });
  assert.deepEqual(json.map((j) => j.id), [a.id]);

  // damaged files: one not yet seen by a server start is listed as unreadable; set-aside ones are counted
  await writeFile(path.join(spool.paths.msg, '000000001-00001-aaaaaa.msg'), 'SGQ1 4\nnull\n');
  await writeFile(path.join(spool.paths.corrupt, '000000001-00002-aaaaaa.msg'), 'garbage');
  const damaged = (await cli(dataDir, 'list')).stdout;
  assert.match(damaged, /^000000001-00001-aaaaaa\tunreadable: .*damaged envelope/m);
  assert.match(damaged, /^1 damaged message file\(s\) set aside in .*corrupt/m);
  assert.match(damaged.split('\n').find((l) => l.startsWith(a.id)) ?? '', /greylisted$/, 'the sound message is still listed');
});

test('queue list --json: receivedAt and receivedAtMs are one time, from the id when the envelope holds 0', async (t) => {
  const dataDir = await tempDir(t);
  const spool = await openSpool({ dir: path.join(dataDir, 'spool'), fsync: true, clock: systemClock, registry: createRegistry(false), log: silentLogger });
  const zero = await spool.enqueue(envelope({ receivedAt: 0 }), message('zero'));
  const stamped = await spool.enqueue(envelope({ receivedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 6) }), message('stamped'));
  await spool.close();
  type Listed = { id: string; receivedAt: string; receivedAtMs: number };
  const listed = (await cli(dataDir, 'list', '--json')).stdout.trim().split('\n').map((l) => JSON.parse(l) as Listed);
  const z = listed.find((j) => j.id === zero.id);
  const s = listed.find((j) => j.id === stamped.id);
  // the envelope holds 0: both come from the time in the id (not 1970, not 0 beside a real date)
  assert.ok(z);
  assert.notEqual(z.receivedAtMs, 0);
  assert.equal(z.receivedAt, new Date(z.receivedAtMs).toISOString());
  assert.ok(Math.abs(z.receivedAtMs - Date.now()) < 24 * 3_600_000, `a time near now: ${z.receivedAt}`);
  const shown = (await cli(dataDir, 'show', zero.id)).stdout;
  assert.equal((JSON.parse(shown.slice(0, shown.indexOf('\n\n'))) as { receivedAt: string }).receivedAt, z.receivedAt);
  // an envelope's own time is kept as stored
  assert.equal(s?.receivedAtMs, Date.UTC(2026, 0, 2, 3, 4, 5, 6));
  assert.equal(s?.receivedAt, '2026-01-02T03:04:05.006Z');
});

test('queue remove / flush hand requests to a running instance', async (t) => {
  const dataDir = await tempDir(t);
  const sink = await startSink();
  t.after(() => sink.close());
  await sink.down();
  const { spool, scheduler } = await runningQueue(t, dataDir, sink);
  const keep = await spool.enqueue(envelope({ receivedAt: Date.now() }), message('keep'));
  const drop = await spool.enqueue(envelope({ receivedAt: Date.now() }), message('drop'));
  await scheduler.runDue();
  assert.equal(scheduler.size(), 2, 'upstream down: both deferred for an hour');

  const removed = await cli(dataDir, 'remove', drop.id);
  assert.match(removed.stdout, /done by running instance/);
  assert.equal(scheduler.size(), 1);

  // a file the running instance never loaded (put back from spool/corrupt after start) is removed too
  const strayId = '000000001-00009-abcdef';
  await writeFile(path.join(spool.paths.msg, `${strayId}.msg`), 'SGQ1 4\nnull\n');
  assert.match((await cli(dataDir, 'remove', strayId)).stdout, /done by running instance/);
  await assert.rejects(stat(path.join(spool.paths.msg, `${strayId}.msg`)), /ENOENT/);

  await sink.up();
  const flushed = await cli(dataDir, 'flush');
  assert.match(flushed.stdout, /done by running instance/);
  await sink.waitForMessages(1);
  await scheduler.runDue();
  assert.equal(scheduler.size(), 0);
  assert.match(sink.messages[0]?.raw.toString() ?? '', /Subject: keep/);
  assert.equal(sink.messages.length, 1, 'the removed message was never sent');
  assert.ok(keep.id);
});

/** The CLI with ids on standard input ("-"). */
function cliStdin(dataDir: string, input: string, ...args: string[]): Promise<CliRun> {
  return runCli(['queue', ...args, '--data-dir', dataDir], { stdin: input, timeoutMs: 30_000 });
}

/** A data directory whose spool (no instance running) holds one message, "parked", received at `receivedAt`; the sink down. */
async function stoppedSpoolWithOne(t: TestContext, receivedAt: number): Promise<{ dataDir: string; sink: SinkServer; offline: Spool; parked: { id: string } }> {
  const dataDir = await tempDir(t);
  const sink = await startSink();
  t.after(() => sink.close());
  await sink.down();
  const offline = await openSpool({ dir: path.join(dataDir, 'spool'), fsync: true, clock: systemClock, registry: createRegistry(false), log: silentLogger });
  const parked = await offline.enqueue(envelope({ receivedAt }), message('parked'));
  await offline.close();
  return { dataDir, sink, offline, parked };
}

test('queue hold / release: a held message is not delivered, flushed or counted as aging until released (running and stopped)', async (t) => {
  // stopped: a message never tried (no state file yet) is put on hold from its envelope
  const { dataDir, sink, offline, parked } = await stoppedSpoolWithOne(t, Date.now() - 7_200_000);
  assert.match((await cli(dataDir, 'hold', parked.id)).stdout, new RegExp(`on hold: ${parked.id} \\(no running instance`));
  const offlineState = await readStateFile(stateFile(offline.paths, parked.id));
  assert.equal(offlineState?.held, true);
  assert.deepEqual(Object.keys(offlineState?.recipients ?? {}), ['rcpt@dest.test']);
  assert.match((await cli(dataDir, 'list')).stdout.split('\n').find((l) => l.startsWith(parked.id)) ?? '', /\theld\t/);
  assert.equal((JSON.parse((await cli(dataDir, 'list', '--json')).stdout.trim()) as { held: boolean }).held, true);
  assert.match((await cli(dataDir, 'flush')).stdout, /due at next start/);
  assert.equal((await readStateFile(stateFile(offline.paths, parked.id)))?.held, true, 'a flush does not release');

  const { spool, scheduler, registry } = await runningQueue(t, dataDir, sink);
  const a = await spool.enqueue(envelope({ receivedAt: Date.now() }), message('first'));
  const b = await spool.enqueue(envelope({ receivedAt: Date.now() }), message('second'));
  await scheduler.runDue();
  assert.equal(scheduler.size(), 3, 'upstream down: two deferred, one on hold since before the start');
  const gauge = async (name: string): Promise<number> => (await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? -1;
  assert.equal(await gauge('spamgate_queue_held'), 1);
  assert.ok((await gauge('spamgate_queue_oldest_age_seconds')) < 600, 'the two-hour-old message on hold does not age the queue');

  // running: ids on standard input
  const held = await cliStdin(dataDir, `${a.id}\n\n${b.id}\n`, 'hold', '-');
  assert.equal(held.code, 0, held.stderr);
  assert.equal(held.stdout.match(/^hold .*: done by running instance/gm)?.length, 2);
  assert.equal((await readStateFile(stateFile(spool.paths, a.id)))?.held, true, 'the hold is saved');
  assert.equal(await gauge('spamgate_queue_held'), 3);

  await sink.up();
  assert.match((await cli(dataDir, 'flush')).stdout, /done by running instance/);
  await scheduler.runDue();
  await new Promise((r) => setTimeout(r, 300));
  await scheduler.runDue();
  assert.equal(sink.messages.length, 0, 'nothing on hold is delivered, flush or not');
  assert.equal(scheduler.size(), 3);

  assert.match((await cli(dataDir, 'release', a.id, parked.id)).stdout, /release .*: done by running instance[\s\S]*release .*: done/);
  await sink.waitForMessages(2);
  await scheduler.runDue();
  assert.deepEqual(sink.messages.map((m) => /Subject: (\w+)/.exec(m.raw.toString())?.[1]).sort(), ['first', 'parked']);
  assert.equal(scheduler.size(), 1, 'the other one stays on hold');
  assert.equal(await gauge('spamgate_queue_held'), 1);

  // unknown ids: named on stderr, exit 1; the known one is still handled
  const mixed = await cli(dataDir, 'remove', b.id, '000000001-00009-abcdef').catch((e: { code: number; stdout: string; stderr: string }) => e);
  assert.equal((mixed as { code?: number }).code, 1);
  assert.match((mixed as { stderr: string }).stderr, /no message 000000001-00009-abcdef/);
  assert.equal(scheduler.size(), 0, 'a message on hold can be removed');
  const bad = await cliStdin(dataDir, 'not an id\n', 'hold', '-');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /not a queue id: "not an id"/);
});

test('queue hold on a stopped spool keeps an instance from starting until the state is written (no hold lost, no stale state over a running queue)', async (t) => {
  const dataDir = await tempDir(t);
  const spoolDir = path.join(dataDir, 'spool');
  const spool = await openSpool({ dir: spoolDir, fsync: true, clock: systemClock, registry: createRegistry(false), log: silentLogger });
  const m = await spool.enqueue(envelope({ receivedAt: Date.now() }), message('parked'));
  const st = initialState(envelope());
  st.attempts = 1;
  await spool.saveState(m.id, st);
  await spool.close();
  // the command is stopped in the middle, reading the state file (a FIFO until the test writes it)
  const file = stateFile(spool.paths, m.id);
  await unlink(file);
  await run('mkfifo', [file]);
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'queue', 'hold', m.id, '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  t.after(() => child.kill());
  // wait until the command has taken the spool (at most 15 s), then an instance starting meanwhile must not load it
  for (let i = 0; i < 150 && (await runningPid(spool.paths)) !== child.pid; i++) await new Promise((r) => setTimeout(r, 100));
  const starting = await openSpool({ dir: spoolDir, fsync: true, clock: systemClock, registry: createRegistry(false), log: silentLogger }).then(
    async (s) => {
      await s.close();
      return 'opened';
    },
    (err: Error) => err.message,
  );
  await writeFile(file, JSON.stringify(st));
  assert.equal(await exited, 0, out);
  assert.match(starting, /in use by process/, 'an instance does not load the spool while the command changes it');
  assert.equal((await readStateFile(file))?.held, true);
  assert.equal(await runningPid(spool.paths), undefined, 'the command lets go of the spool');
});

test('ids from standard input are bounded: a flood is refused early, and a bad id is quoted short', async (t) => {
  const dataDir = await tempDir(t);
  const flood = await cliStdin(dataDir, `${'x'.repeat(8 * 1024 * 1024)}\n`, 'hold', '-');
  assert.equal(flood.code, 2);
  assert.ok(flood.stderr.length < 2000, `stderr of ${flood.stderr.length} bytes`);
  assert.match(flood.stderr, /standard input/);
  const long = await cliStdin(dataDir, `${'y'.repeat(10_000)}\n`, 'release', '-');
  assert.equal(long.code, 2);
  assert.ok(long.stderr.length < 2000, `stderr of ${long.stderr.length} bytes`);
  assert.match(long.stderr, /not a queue id: "yyyy/);
});

test('queue flush ID of a message on hold says it was not flushed, exit 1 (running and stopped); other ids still flush', async (t) => {
  const { dataDir, sink, parked } = await stoppedSpoolWithOne(t, Date.now());
  assert.equal((await cli(dataDir, 'hold', parked.id)).stdout.includes('on hold'), true);
  type Failed = { code?: number; stdout: string; stderr: string };
  // stopped
  const stopped = (await cli(dataDir, 'flush', parked.id).catch((e: Failed) => e)) as Failed;
  assert.equal(stopped.code, 1, stopped.stdout);
  assert.match(stopped.stderr, new RegExp(`flush ${parked.id}: not flushed: the message is on hold`));
  assert.match(stopped.stdout, /flush: 0 message\(s\) due at next start/);
  // running
  const { spool } = await runningQueue(t, dataDir, sink);
  const other = await spool.enqueue(envelope({ receivedAt: Date.now() }), message('other'));
  const running = (await cli(dataDir, 'flush', parked.id, other.id).catch((e: Failed) => e)) as Failed;
  assert.equal(running.code, 1, running.stdout);
  assert.match(running.stderr, new RegExp(`flush ${parked.id}: not done by running instance \\(pid \\d+\\): the message is on hold`));
  assert.doesNotMatch(running.stdout, new RegExp(`flush ${parked.id}: done`));
  assert.match(running.stdout, new RegExp(`flush ${other.id}: done by running instance`));
  assert.equal((await readStateFile(stateFile(spool.paths, parked.id)))?.held, true, 'still on hold');
});
