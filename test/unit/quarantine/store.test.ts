// The quarantine store on a real directory and a manual clock: durable files (0600 in a 0700 directory), expiry by
// max_age, the oldest deleted first past max_size, release into a real spool with the header, leftovers of a crash.
import assert from 'node:assert/strict';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { createRegistry, type Registry } from '../../../src/metrics/registry.ts';
import { readQuarantined, type QuarantineEnvelope } from '../../../src/quarantine/format.ts';
import { openQuarantine, sweepInterval } from '../../../src/quarantine/store.ts';
import { openSpool } from '../../../src/queue/spool.ts';
import { ManualClock, systemClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { envelope, message, T0, tempDir } from '../queue/helpers.ts';

const DAY = 86_400_000;

function qEnvelope(over: Partial<QuarantineEnvelope> = {}): QuarantineEnvelope {
  return { ...envelope(), quarantine: { score: 11, decidedBy: 'quarantine >= 10', symbols: [{ symbol: 'CT_X', score: 11, weight: 11, options: [] }], subject: 'hello' }, ...over };
}

async function value(registry: Registry, name: string, labels = ''): Promise<number | undefined> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

test('stored durably with private modes; expired by max_age on the clock, counted', async (t) => {
  const dir = path.join(await tempDir(t), 'quarantine');
  const clock = new ManualClock(T0);
  const registry = createRegistry(false);
  const q = await openQuarantine({ dir, maxAgeMs: 30 * DAY, maxSize: 0, fsync: true, clock, registry, log: silentLogger });
  const id = await q.store(qEnvelope(), message('kept'));
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.equal((await stat(path.join(dir, `${id}.msg`))).mode & 0o777, 0o600);
  const back = await readQuarantined(path.join(dir, `${id}.msg`));
  assert.equal(back.envelope.quarantine.symbols[0]?.symbol, 'CT_X');
  assert.match(back.message.toString(), /^Subject: kept$/m);
  assert.equal(await value(registry, 'spamgate_quarantine_messages'), 1);

  clock.advance(30 * DAY - 1);
  await q.sweep();
  assert.deepEqual(await readdir(dir), [`${id}.msg`], 'not yet');
  clock.advance(1);
  await q.sweep();
  assert.deepEqual(await readdir(dir), []);
  assert.equal(await value(registry, 'spamgate_quarantine_total', '{result="expired"}'), 1);
  assert.equal(await value(registry, 'spamgate_quarantine_messages'), 0);
  assert.equal(await value(registry, 'spamgate_quarantine_bytes'), 0);
});

test('a copy withdrawn (its transaction failed after the store) is gone and counted withdrawn, not left as stored', async (t) => {
  const dir = path.join(await tempDir(t), 'quarantine');
  const registry = createRegistry(false);
  const q = await openQuarantine({ dir, maxAgeMs: 30 * DAY, maxSize: 0, fsync: false, clock: new ManualClock(T0), registry, log: silentLogger });
  const kept = await q.store(qEnvelope(), message('kept'));
  const withdrawn = await q.store(qEnvelope(), message('refused by the next hop'));
  await q.withdraw(withdrawn);
  await q.withdraw(withdrawn); // twice (a retry of the failure path): counted once
  assert.deepEqual(await readdir(dir), [`${kept}.msg`]);
  assert.equal(await value(registry, 'spamgate_quarantine_total', '{result="stored"}'), 2);
  assert.equal(await value(registry, 'spamgate_quarantine_total', '{result="withdrawn"}'), 1);
  assert.equal(await value(registry, 'spamgate_quarantine_messages'), 1);
});

test('past max_size the oldest go first; a restart finds what is there and clears temp files of dead writers', async (t) => {
  const dir = path.join(await tempDir(t), 'quarantine');
  const clock = new ManualClock(T0);
  const registry = createRegistry(false);
  const body = 'x'.repeat(1000) + '\r\n';
  const open = (maxSize: number) => openQuarantine({ dir, maxAgeMs: DAY, maxSize, fsync: false, clock, registry, log: silentLogger });
  const q = await open(0);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    ids.push(await q.store(qEnvelope(), message(`m${i}`, body)));
    clock.advance(1000);
  }
  const size = (await stat(path.join(dir, `${ids[0]}.msg`))).size;
  // a temp file of a writer that is gone (pid 999999999 runs nothing)
  await writeFile(path.join(dir, `.${ids[0]}.msg.999999999.1.tmp`), 'half');
  const again = await open(Math.floor(size * 2.5));
  assert.ok(!(await readdir(dir)).some((n) => n.endsWith('.tmp')), 'leftover temp file removed');
  assert.equal(await value(registry, 'spamgate_quarantine_messages'), 3);
  await again.sweep();
  assert.deepEqual((await readdir(dir)).sort(), [`${ids[1]}.msg`, `${ids[2]}.msg`]);
  assert.equal(await value(registry, 'spamgate_quarantine_total', '{result="expired"}'), 1);
});

test('release: into the spool with the header, to the quarantined recipients, as accepted mail; then gone', async (t) => {
  const root = await tempDir(t);
  const registry = createRegistry(false);
  const q = await openQuarantine({ dir: path.join(root, 'quarantine'), maxAgeMs: DAY, maxSize: 0, fsync: true, clock: systemClock, registry, log: silentLogger });
  const spool = await openSpool({ dir: path.join(root, 'spool'), fsync: true, clock: systemClock, registry, log: silentLogger });
  t.after(() => spool.close());
  const id = await q.store(qEnvelope({ rcptTo: ['a@dest.test'], rcptDsn: { 'a@dest.test': { notify: ['NEVER'] } } }), message('held'));
  assert.equal(await q.release('not-an-id', spool, false), false);
  assert.equal(await q.release(id, spool, false), true);
  assert.equal(await q.release(id, spool, false), false, 'only once');
  const [entry] = await spool.load();
  assert.ok(entry);
  const { envelope: env, message: raw } = await spool.read(entry.id);
  assert.deepEqual(env.rcptTo, ['a@dest.test']);
  assert.deepEqual(env.rcptDsn, { 'a@dest.test': { notify: ['NEVER'] } });
  assert.deepEqual(env.verdict, { action: 'released', score: 11, junkRecipients: [] });
  assert.equal('quarantine' in env, false);
  assert.match(raw.toString(), new RegExp(`^X-Spamgate-Released: [^\\r\\n]+; id=${id}\\r\\nFrom: `));
  assert.deepEqual(await readdir(path.join(root, 'quarantine')), []);
  assert.equal(await value(registry, 'spamgate_quarantine_total', '{result="released"}'), 1);
});

test('the sweep runs a quarter of max_age apart, between 1 s and 1 h', () => {
  assert.equal(sweepInterval(1000), 1000);
  assert.equal(sweepInterval(60_000), 15_000);
  assert.equal(sweepInterval(30 * DAY), 3_600_000);
});

test('a sweep expiring many of many messages costs in proportion to them (the byte total is kept, not summed per message)', async (t) => {
  const dir = path.join(await tempDir(t), 'quarantine');
  await mkdir(dir);
  const n = 30_000;
  // ids in the id form, one millisecond apart: every one past max_age below
  for (let i = 0; i < n; i++) await writeFile(path.join(dir, `${(T0 + i).toString(36).padStart(9, '0')}-00001-abcdef.msg`), 'x');
  const clock = new ManualClock(T0 + 2 * DAY);
  const registry = createRegistry(false);
  // CPU time of this process (user and system), not the wall clock: other work on the machine does not count
  const cpu = (since: NodeJS.CpuUsage): number => {
    const u = process.cpuUsage(since);
    return (u.user + u.system) / 1000;
  };
  let started = process.cpuUsage();
  const q = await openQuarantine({ dir, maxAgeMs: DAY, maxSize: 0, fsync: false, clock, registry, log: silentLogger });
  const opening = cpu(started); // a stat of each file: linear
  started = process.cpuUsage();
  await q.sweep();
  const sweeping = cpu(started); // an unlink of each file: linear too, of the same order
  assert.deepEqual(await readdir(dir), []);
  assert.equal(await value(registry, 'spamgate_quarantine_total', '{result="expired"}'), n);
  assert.equal(await value(registry, 'spamgate_quarantine_bytes'), 0);
  // summing every size at each deletion made this several times the opening (and minutes at 300,000 messages)
  t.diagnostic(`sweep ${Math.round(sweeping)} ms of CPU, opening ${Math.round(opening)} ms`);
  assert.ok(sweeping < 3 * opening + 500, `sweep ${Math.round(sweeping)} ms of CPU, opening ${Math.round(opening)} ms`);
});

test('a message larger than max_size on its own: the one just acknowledged is kept (the others go), not deleted with them', async (t) => {
  const dir = path.join(await tempDir(t), 'quarantine');
  const clock = new ManualClock(T0);
  const q = await openQuarantine({ dir, maxAgeMs: DAY, maxSize: 500, fsync: false, clock, registry: createRegistry(false), log: silentLogger });
  const body = 'x'.repeat(1000) + '\r\n';
  const first = await q.store(qEnvelope(), message('first', body));
  await q.sweep();
  assert.deepEqual(await readdir(dir), [`${first}.msg`], 'the newest stays, over max_size by itself');
  clock.advance(1000);
  const second = await q.store(qEnvelope(), message('second', body));
  await q.sweep();
  assert.deepEqual(await readdir(dir), [`${second}.msg`], 'an older one makes room for it');
});
