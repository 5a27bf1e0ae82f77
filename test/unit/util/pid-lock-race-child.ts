// Child process for the stale-lock race test: for each line "go AT" on stdin, waits until the time AT (epoch ms,
// busy, so the children start together), tries the lock once and prints "held", "busy" or "error MESSAGE"; it
// never releases (the parent lays a fresh stale lock for the next round) and exits when stdin ends.
import { createInterface } from 'node:readline';
import { takePidLock } from '../../../src/util/pid-lock.ts';

const [lock] = process.argv.slice(2);
if (!lock) throw new Error('usage: pid-lock-race-child.ts LOCK');
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const at = Number(line.replace(/^go /, ''));
  // bounded: the parent gives a time a few tens of milliseconds ahead
  for (let i = 0; Date.now() < at && i < 1e9; i++);
  try {
    const r = await takePidLock(lock);
    process.stdout.write(r.ok ? 'held\n' : 'busy\n');
  } catch (err) {
    process.stdout.write(`error ${(err as Error).message}\n`);
  }
}
