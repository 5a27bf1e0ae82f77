// The pid lock under contention: processes taking and releasing it over and over never hold it two at once (a
// lock released between a failed take and the look at its owner, or taken anew meanwhile, is not removed as stale),
// and of several processes taking over one stale lock at the same instant exactly one gets it.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { claimFile, generationOf, takePidLock } from '../../../src/util/pid-lock.ts';
import { processIdentity } from '../../../src/util/process-identity.ts';
import { runProgram } from '../../helpers/run-program.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const CHILD = fileURLToPath(new URL('./pid-lock-contend-child.ts', import.meta.url));

test('pid lock: processes contending for it hold it one at a time, every round counted', async (t) => {
  const dir = tempDir(t, 'spamgate-pid-lock-');
  const lock = path.join(dir, 'x.lock');
  const marker = path.join(dir, 'held');
  const counter = path.join(dir, 'counter');
  writeFileSync(counter, '0');
  const children = 6;
  const rounds = 150;
  const runs = await Promise.all(Array.from({ length: children }, () => runProgram(process.execPath, ['--import', 'tsx', CHILD, lock, marker, counter, String(rounds)], { timeoutMs: 120_000 })));
  for (const r of runs) assert.equal(r.status, 0, r.stderr);
  assert.equal(Number(readFileSync(counter, 'utf8')), children * rounds);
});

const RACE_CHILD = fileURLToPath(new URL('./pid-lock-race-child.ts', import.meta.url));

test('pid lock: of several processes taking over one stale lock at the same instant, exactly one gets it (round after round)', async (t) => {
  const dir = tempDir(t, 'spamgate-pid-lock-race-');
  const lock = path.join(dir, 'x.lock');
  // the pid of a process that has ended: a lock naming it is stale
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  assert.ok(dead !== undefined && dead > 0);
  const children = Array.from({ length: 6 }, () => spawn(process.execPath, ['--import', 'tsx', RACE_CHILD, lock], { stdio: ['pipe', 'pipe', 'inherit'] }));
  t.after(() => {
    for (const c of children) c.kill('SIGKILL');
  });
  const lines = children.map((c) => createInterface({ input: c.stdout })[Symbol.asyncIterator]());
  const next = async (i: number): Promise<string> => {
    const r = await lines[i]?.next();
    return r === undefined || r.done === true ? 'ended' : r.value;
  };
  assert.deepEqual(await Promise.all(children.map((_c, i) => next(i))), children.map(() => 'ready'));
  for (let round = 0; round < 60; round++) {
    writeFileSync(lock, `${dead}\n\n`);
    const at = Date.now() + 40;
    for (const c of children) c.stdin.write(`go ${at}\n`);
    const said = await Promise.all(children.map((_c, i) => next(i)));
    assert.equal(said.filter((s) => s === 'held').length, 1, `round ${round}: ${said.join(', ')}`);
    assert.equal(said.filter((s) => s === 'busy').length, children.length - 1, `round ${round}: ${said.join(', ')}`);
  }
  for (const c of children) c.stdin.end();
  // nothing of the takeovers is left beside the lock
  assert.deepEqual(readdirSync(dir), ['x.lock']);
});

/** The pid of a process that has ended: a lock naming it is stale. */
function deadPid(): number {
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  assert.ok(dead !== undefined && dead > 0);
  return dead;
}

/** Writes the stale lock's text to lock: the generation its takeover's claims are filed under. */
function writeStale(lock: string, stale: string): string {
  writeFileSync(lock, stale);
  return generationOf({ text: stale, ino: statSync(lock).ino });
}

/** This process takes the lock over: it names this pid, and nothing of the takeover is left beside it. */
async function assertTakenOver(dir: string, lock: string): Promise<void> {
  assert.deepEqual(await takePidLock(lock), { ok: true });
  assert.match(readFileSync(lock, 'utf8'), new RegExp(`^${process.pid}\n`));
  assert.deepEqual(readdirSync(dir), ['x.lock']);
}

test('pid lock: claims on a stale lock left by processes that died taking it over do not block; a live claimant\'s takeover is not doubled', async (t) => {
  const dir = tempDir(t, 'spamgate-pid-lock-claims-');
  const lock = path.join(dir, 'x.lock');
  const dead = deadPid();
  const stale = `${dead}\n\n`;
  const generation = writeStale(lock, stale);
  // two takers died holding their claims: the third claim is taken, the lock taken over, the row removed
  for (const k of [1, 2]) writeFileSync(claimFile(lock, generation, k), `${dead}\n\n`);
  await assertTakenOver(dir, lock);

  // a live process (the test runner) holds the first claim on a stale lock: it is the one taking it over, so this
  // taker leaves the lock alone and gives up, never removes it beside it
  const parent = processIdentity(process.ppid);
  if (parent === undefined) return t.skip('no /proc here: a claimant is told by its pid alone');
  const next = writeStale(lock, stale);
  writeFileSync(claimFile(lock, next, 1), `${process.ppid}\n${parent}\n`);
  await assert.rejects(takePidLock(lock), /could not take the lock/);
  assert.equal(readFileSync(lock, 'utf8'), stale, 'the stale lock is left to its claimant');
});

test('pid lock: a claim naming this process\'s pid that it does not hold (a predecessor given the same pid, as a container\'s pid 1, where /proc tells no identity) does not block the takeover', async (t) => {
  const dir = tempDir(t, 'spamgate-pid-lock-own-claim-');
  const lock = path.join(dir, 'x.lock');
  const generation = writeStale(lock, `${deadPid()}\n\n`);
  // written by the process that had this pid before, died taking the lock over; no identity to tell it from us
  writeFileSync(claimFile(lock, generation, 1), `${process.pid}\n\n`);
  await assertTakenOver(dir, lock);
});
